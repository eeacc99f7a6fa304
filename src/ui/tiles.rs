//! The fleet map's basemap from an OSM-compatible tile server (a URL template such as
//! `https://tile.openstreetmap.org/{z}/{x}/{y}.png`), through walkers' HTTP tiles with a disk cache the user can
//! size and clear. The cache is walkers' HTTP cache (`cacache`, one entry per tile with the time it was written):
//! [`trim_cache`] drops the oldest tiles until the cache fits its size, [`clear_cache`] empties it.
//!
//! Without a tile server, or offline with nothing cached, the map still draws the site plan over a neutral
//! background (see [`crate::ui::panels::map`]): it is never blank.

use std::path::Path;

use walkers::TileId;
use walkers::sources::{Attribution, TileSource};

pub use crate::config::{DEFAULT_CACHE_MB, TileServer};

/// A [`TileSource`] from a URL template.
pub struct UrlTiles {
    url: String,
    /// Walkers wants a `'static` text; one per map, made once.
    attribution: &'static str,
}

impl UrlTiles {
    pub fn new(server: &TileServer) -> Self {
        Self { url: server.url.clone(), attribution: Box::leak(server.attribution.clone().into_boxed_str()) }
    }
}

impl TileSource for UrlTiles {
    fn tile_url(&self, tile: TileId) -> String {
        let shard = ["a", "b", "c"][usize::try_from((tile.x + tile.y) % 3).unwrap_or(0)];
        self.url
            .replace("{z}", &tile.zoom.to_string())
            .replace("{x}", &tile.x.to_string())
            .replace("{y}", &tile.y.to_string())
            .replace("{s}", shard)
    }

    fn attribution(&self) -> Attribution {
        Attribution { text: self.attribution, url: "", logo_light: None, logo_dark: None }
    }
}

/// Bytes the cache holds (its files, index included); 0 when it does not exist.
pub fn cache_size(dir: &Path) -> u64 {
    fn walk(dir: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path()),
                Ok(_) => e.metadata().map_or(0, |m| m.len()),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir)
}

/// Drops the oldest tiles until the cache takes at most `cap_bytes` on disk; returns how many were dropped.
///
/// The index does not record every entry's size, so each round drops the oldest tiles that the average tile
/// size says are over, then measures again.
pub fn trim_cache(dir: &Path, cap_bytes: u64) -> Result<usize, cacache::Error> {
    let mut dropped = 0;
    for _ in 0..8 {
        let size = cache_size(dir);
        if size <= cap_bytes {
            break;
        }
        let mut entries: Vec<cacache::Metadata> = cacache::list_sync(dir).filter_map(Result::ok).collect();
        if entries.is_empty() {
            break;
        }
        entries.sort_by_key(|e| e.time);
        let average = (size / entries.len() as u64).max(1);
        let over = usize::try_from((size - cap_bytes).div_ceil(average)).unwrap_or(usize::MAX).max(1);
        for e in entries.iter().take(over) {
            cacache::remove_sync(dir, &e.key)?;
            // Content shared with another key (the same bytes) stays until that one goes too.
            if !entries.iter().any(|o| o.key != e.key && o.integrity == e.integrity) {
                let _ = cacache::remove_hash_sync(dir, &e.integrity);
            }
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// The tiles of a map: walkers' HTTP tiles with the disk cache, and the cache's size kept up to date by a
/// thread that trims it every minute (it ends with the map).
pub struct Basemap {
    pub server: TileServer,
    pub tiles: walkers::HttpTiles,
    /// Bytes on disk, as last measured; `u64::MAX` before the first measurement.
    pub cache_bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Basemap {
    pub fn new(server: TileServer, ctx: egui::Context) -> Self {
        // walkers' client uses rustls without a provider of its own.
        crate::feeds::tls::install_provider();
        let cache = server.cache_dir.clone().filter(|_| server.cache_mb > 0);
        let options = walkers::HttpOptions {
            cache: cache.clone(),
            user_agent: Some(walkers::HeaderValue::from_static(concat!("Watchfloor/", env!("CARGO_PKG_VERSION")))),
            ..walkers::HttpOptions::default()
        };
        let tiles = walkers::HttpTiles::with_options(UrlTiles::new(&server), options, ctx);
        let cache_bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
        if let Some(dir) = cache {
            let weak = std::sync::Arc::downgrade(&cache_bytes);
            let cap = server.cache_mb.saturating_mul(1024 * 1024);
            let spawned = std::thread::Builder::new().name("wf-tile-cache".to_owned()).spawn(move || {
                while let Some(bytes) = weak.upgrade() {
                    match trim_cache(&dir, cap) {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(dropped = n, "tile cache: oldest tiles dropped to stay within its size");
                        }
                        Err(err) => tracing::warn!("tile cache {}: {err}", dir.display()),
                    }
                    bytes.store(cache_size(&dir), std::sync::atomic::Ordering::Relaxed);
                    drop(bytes);
                    std::thread::sleep(std::time::Duration::from_secs(60));
                }
            });
            if let Err(err) = spawned {
                tracing::warn!("tile cache: cannot start its housekeeping: {err}");
            }
        }
        Self { server, tiles, cache_bytes }
    }

    /// Empties the disk cache (on a thread; the size shows 0 when done).
    pub fn clear(&self) {
        let Some(dir) = self.server.cache_dir.clone() else { return };
        let bytes = std::sync::Arc::clone(&self.cache_bytes);
        let spawned = std::thread::Builder::new().name("wf-tile-clear".to_owned()).spawn(move || {
            if let Err(err) = clear_cache(&dir) {
                tracing::warn!("tile cache {}: cannot clear: {err}", dir.display());
            }
            bytes.store(cache_size(&dir), std::sync::atomic::Ordering::Relaxed);
        });
        if let Err(err) = spawned {
            tracing::warn!("tile cache: cannot clear: {err}");
        }
    }
}

/// Empties the cache.
pub fn clear_cache(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_template_is_checked_and_filled() {
        assert!(TileServer::check_url("https://tile.example/{z}/{x}/{y}.png").is_ok());
        let err = TileServer::check_url("https://tile.example/{z}/{x}.png").expect_err("no {y}");
        assert!(err.contains("{y}"), "{err}");
        assert!(TileServer::check_url("file:///tiles/{z}/{x}/{y}.png").is_err());
        let server = TileServer {
            url: "http://{s}.t.example/{z}/{x}/{y}.png".into(),
            attribution: "© test".into(),
            cache_mb: 0,
            cache_dir: None,
        };
        let tiles = UrlTiles::new(&server);
        assert_eq!(tiles.tile_url(TileId { x: 3, y: 5, zoom: 4 }), "http://c.t.example/4/3/5.png");
        assert_eq!(tiles.attribution().text, "© test");
    }

    #[test]
    fn the_cache_is_trimmed_oldest_first_and_cleared() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = dir.path().join("tiles");
        for k in 0..10 {
            let tile = vec![u8::try_from(k).expect("small"); 10_000];
            cacache::write_sync(&cache, format!("tile-{k}"), tile).expect("write");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(cache_size(&cache) >= 100_000);
        let dropped = trim_cache(&cache, 45_000).expect("trim");
        assert!(cache_size(&cache) <= 45_000, "{} bytes left", cache_size(&cache));
        let left: Vec<String> = cacache::list_sync(&cache).filter_map(Result::ok).map(|m| m.key).collect();
        assert_eq!(left.len(), 10 - dropped);
        assert!((3..=4).contains(&left.len()), "{left:?}");
        assert!(
            left.contains(&"tile-9".to_owned()) && left.contains(&"tile-8".to_owned()),
            "the newest stay: {left:?}"
        );
        assert!(cacache::read_sync(&cache, "tile-0").is_err(), "the oldest is gone");
        assert_eq!(trim_cache(&cache, 45_000).expect("trim"), 0, "already fits");
        clear_cache(&cache).expect("clear");
        assert_eq!(cache_size(&cache), 0);
        clear_cache(&cache).expect("clearing an empty cache is fine");
    }
}
