//! A private Postgres server on a free loopback port for benchmarks and integration tests: its own data directory
//! in a temp dir, trust authentication for user `postgres`, durability off (fsync, synchronous commit, full page
//! writes) because the data is thrown away. Restartable on the same port and data, stopped on drop.
//!
//! The server runs under a small `sh` wrapper whose stdin is a pipe from this process: a line names the signal to
//! stop it with, and end of file (this process exiting, however it exits) stops it at once and removes the data
//! directory. So not even the never-dropped [`PgServer::shared`] server outlives the test process.
//!
//! Postgres refuses to run as root: as root, `initdb` and the server run as the `postgres` user through
//! `runuser`, in a temp dir under `/tmp` handed over to that user.

use std::fs::File;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

/// How long a start (or restart) may take before it counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop may take before the server is shut down the hard way.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `"$@"` (the server) in the background, reads one line from stdin and sends the server that signal (`INT`:
/// fast shutdown, keeping the data); at end of file it sends `QUIT` (immediate shutdown) and removes `$1`, the temp
/// dir. SIGINT is ignored so a Ctrl-C of the tests leaves the clean-up to the end of file (the server itself
/// installs its own handlers).
const WRAPPER: &str = r#"trap '' INT
dir=$1
shift
"$@" &
pid=$!
read -r sig
kill -s "${sig:-QUIT}" "$pid" 2>/dev/null
wait "$pid"
[ -n "$sig" ] || rm -rf "$dir"
"#;

/// The directory holding `initdb` and `postgres`: the newest `/usr/lib/postgresql/<N>/bin` (Debian's layout),
/// else `pg_config --bindir`.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, bin)| complete(bin))
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin);
    debian.or_else(|| {
        let out = Command::new("pg_config").arg("--bindir").stderr(Stdio::null()).output().ok()?;
        let bin = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        (out.status.success() && complete(&bin)).then_some(bin)
    })
}

/// Whether this process runs as root (effective uid 0).
fn running_as_root() -> bool {
    let from_proc = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.to_owned();
        // Real, effective, saved, filesystem.
        uids.split_whitespace().nth(1).map(|euid| euid == "0")
    });
    from_proc.unwrap_or_else(|| {
        Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
    })
}

/// The last `lines` lines of a log file, for error messages.
fn log_tail(path: &Path, from: u64, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(0).min(text.len());
    let text = String::from_utf8_lossy(&text[start..]);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A command's stderr and stdout, trimmed, for error messages.
fn output_text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout)).trim().to_owned()
}

/// A private Postgres server on `127.0.0.1:port`, user `postgres`, no password. Stopped (immediately) on drop,
/// and its temp dir removed.
pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    /// Run the server tools as the `postgres` user (this process is root).
    as_postgres: bool,
    /// The temp dir: `data/` (the cluster), `postgres.log`, and the Unix socket.
    root: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// The wrapper (`runuser` in front of it as root) running the server.
    child: Option<Child>,
    /// Its stdin: a line stops the server with that signal; closing it stops the server and removes the temp dir.
    stdin: Option<ChildStdin>,
    /// Removes the temp dir on drop, after [`Drop::drop`] has stopped the server.
    _dir: tempfile::TempDir,
}

impl PgServer {
    /// Creates a cluster in a new temp dir and starts a server on it on a free loopback port; returns once it
    /// accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let bin = postgres_bin_dir()
            .ok_or_else(|| anyhow!("PostgreSQL is not installed (apt-get install postgresql-15): no initdb found"))?;
        let as_postgres = running_as_root();
        let mut builder = tempfile::Builder::new();
        builder.prefix("watchfloor-pg-");
        // As root the dir must be reachable by the postgres user: /tmp is, a root-only TMPDIR may not be.
        let dir = if as_postgres { builder.tempdir_in("/tmp") } else { builder.tempdir() }
            .context("temp dir for PostgreSQL")?;
        let root = dir.path().to_owned();
        let data = root.join("data");
        let log = root.join("postgres.log");
        File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        if as_postgres {
            // tempfile makes the dir 0700; hand it (and the log) to the server's user.
            let out =
                Command::new("chown").args(["-R", "postgres:"]).arg(&root).output().context("cannot run chown")?;
            anyhow::ensure!(
                out.status.success(),
                "chown -R postgres {} failed (is there a postgres user?): {}",
                root.display(),
                output_text(&out)
            );
        }
        let mut server = Self { port: 0, bin, as_postgres, root, data, log, child: None, stdin: None, _dir: dir };
        server.initdb()?;
        // The port is free when picked but may be taken before the server binds it: try a few.
        let mut attempt = 0;
        loop {
            server.port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
            match server.run() {
                Ok(()) => return Ok(server),
                Err(err) if attempt < 3 && format!("{err:#}").contains("Address already in use") => {
                    tracing::debug!(port = server.port, "PostgreSQL port taken, trying another");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The one server of this test process, started on first use, for tests that only need a database of their
    /// own (see [`Self::create_database`]). It is never dropped: it stops when the process exits.
    pub fn shared() -> anyhow::Result<&'static Self> {
        static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::start().map_err(|err| format!("{err:#}")))
            .as_ref()
            .map_err(|err| anyhow!("the shared PostgreSQL did not start: {err}"))
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The cluster's directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        self.psql("postgres", &sql).with_context(|| format!("cannot create database {name}"))?;
        Ok(self.url(name))
    }

    /// Runs `sql` with `psql` in database `db`, stopping at the first error; returns the unaligned, tuples-only
    /// output.
    pub fn psql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .context("cannot run psql")?;
        anyhow::ensure!(out.status.success(), "psql failed: {}", output_text(&out));
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server with a fast shutdown (sessions are ended, the data kept); does nothing when stopped.
    pub fn stop(&mut self) {
        self.shut_down("INT");
    }

    /// Stops the server (fast) and starts it again on the same port and data; returns once it accepts connections.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.run()
    }

    /// A `Command` for one of the server's programs, as the `postgres` user when this process is root.
    fn tool(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        // The postgres user may not be able to enter this process's working directory.
        cmd.current_dir(&self.root);
        cmd
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let out = self
            .tool("initdb")
            .arg("-D")
            .arg(&self.data)
            // The C locale: independent of which locales this machine has.
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .context("cannot run initdb")?;
        anyhow::ensure!(out.status.success(), "initdb failed: {}", output_text(&out));
        Ok(())
    }

    /// Starts the server on `self.port` under the wrapper and waits until it accepts connections.
    fn run(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "PostgreSQL is already running");
        let log_from = std::fs::metadata(&self.log).map_or(0, |m| m.len());
        let log = File::options().append(true).open(&self.log).context("PostgreSQL log")?;
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--", "sh"]);
            cmd
        } else {
            Command::new("sh")
        };
        let mut child = cmd
            .args(["-c", WRAPPER, "watchfloor-pg"])
            .arg(&self.root)
            .arg(self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(&self.root)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=100"])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start PostgreSQL")?;
        self.stdin = child.stdin.take();
        self.child = Some(child);
        if let Err(err) = self.wait_ready(log_from) {
            self.shut_down("QUIT");
            return Err(err.context(format!(
                "PostgreSQL did not start on port {}; its log:\n{}",
                self.port,
                log_tail(&self.log, log_from, 30)
            )));
        }
        Ok(())
    }

    /// Waits until the port accepts TCP and then until `pg_isready` says the server takes connections.
    fn wait_ready(&mut self, log_from: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut listening = false;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("the server's wrapper exited ({status})");
            }
            let new_log = log_tail(&self.log, log_from, usize::MAX);
            // The server writes this when it exits, for whatever reason (the port taken, a bad setting).
            if new_log.contains("database system is shut down") || new_log.contains("could not create any TCP/IP") {
                bail!("the server exited");
            }
            if !listening {
                listening = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
            }
            if listening {
                let ready = Command::new(self.bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-t", "2"])
                    .current_dir(&self.root)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .context("cannot run pg_isready")?;
                if ready.success() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!("not ready after {} s", START_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends the wrapper `signal` (an empty one: closes its stdin, so the server stops immediately and the temp
    /// dir goes) and waits for it; past [`STOP_TIMEOUT`], stops the server with `pg_ctl -m immediate`.
    fn shut_down(&mut self, signal: &str) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(mut stdin) = self.stdin.take() {
            // A failed write: the wrapper is gone already; wait() below tells.
            let _ = stdin.write_all(format!("{signal}\n").as_bytes());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                tracing::warn!(port = self.port, "PostgreSQL did not stop in time; stopping it immediately");
                let _ = self
                    .tool("pg_ctl")
                    .args(["stop", "-m", "immediate", "-D"])
                    .arg(&self.data)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // End of file on the wrapper's stdin: immediate shutdown; then `dir` removes what is left.
        self.shut_down("");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_or_skip() -> Option<PgServer> {
        if postgres_bin_dir().is_none() {
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql-15)");
            return None;
        }
        Some(PgServer::start().expect("PostgreSQL starts"))
    }

    #[test]
    fn starts_creates_databases_and_restarts() {
        let Some(mut server) = server_or_skip() else { return };
        let url = server.create_database("wf_test_one").expect("database created");
        assert_eq!(url, format!("postgres://postgres@127.0.0.1:{}/wf_test_one", server.port));
        assert_eq!(server.psql("wf_test_one", "select 1").expect("select 1").trim(), "1");
        server.psql("wf_test_one", "create table t (v int); insert into t values (42)").expect("table written");

        let port = server.port;
        server.restart().expect("restarts");
        assert_eq!(server.port, port);
        assert_eq!(server.psql("wf_test_one", "select v from t").expect("select after restart").trim(), "42");

        server.stop();
        assert!(server.psql("wf_test_one", "select 1").is_err(), "stopped server still answers");
        server.restart().expect("starts again after stop");
        assert_eq!(server.psql("wf_test_one", "select 1").expect("select 1").trim(), "1");
    }

    #[test]
    fn drop_stops_the_server_and_removes_the_data() {
        let Some(server) = server_or_skip() else { return };
        let (port, data) = (server.port, server.data_dir().to_owned());
        assert!(data.join("PG_VERSION").is_file());
        drop(server);
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(), "still listening on {port}");
        assert!(!data.exists(), "{} left behind", data.display());
    }

    #[test]
    fn shared_server_gives_each_test_its_database() {
        if postgres_bin_dir().is_none() {
            return;
        }
        let server = PgServer::shared().expect("shared PostgreSQL");
        assert!(std::ptr::eq(server, PgServer::shared().expect("same server")));
        server.create_database("wf-shared \"quoted\"").expect("odd name created");
        let out = server.psql("wf-shared \"quoted\"", "select current_database()").expect("query");
        assert_eq!(out.trim(), "wf-shared \"quoted\"");
    }
}
