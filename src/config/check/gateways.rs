//! The `[[gateway]]` tables checked into each feed's settings: the link (URL, TLS files, credentials, limits), the
//! Sparkplug host id, MQTT JSON topics and mappings, OPC UA security and what to subscribe to.

use super::*;

pub(super) fn valid_topic_level(level: &str) -> bool {
    !level.is_empty() && !level.contains(['/', '+', '#'])
}
/// An MQTT subscription filter: wildcards only as whole levels, `#` only last.
pub fn valid_topic_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == levels.len() - 1,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

impl Checker<'_> {
    /// The connection part of a network gateway; `None` (with problems noted) when it cannot be used.
    pub(super) fn link(&mut self, g: &RawGateway, kind: &str) -> Option<Link> {
        let Some(url_text) = &g.url else {
            self.problem(g.kind.span(), format!("gateway {:?} needs a url", g.name.get_ref()));
            return None;
        };
        let schemes: &[&str] = match kind {
            "http" => &["http", "https"],
            "opcua" => &["opc.tcp"],
            _ => &["mqtt", "mqtts"],
        };
        let url = match url::Url::parse(url_text.get_ref().trim()) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some_and(|h| !h.is_empty()) => u,
            Ok(u) if !schemes.contains(&u.scheme()) => {
                self.problem(
                    url_text.span(),
                    format!(
                        "url scheme {:?} does not fit kind {kind:?}; expected {}",
                        u.scheme(),
                        schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ")
                    ),
                );
                return None;
            }
            Ok(_) => {
                self.problem(url_text.span(), "url has no host".to_owned());
                return None;
            }
            Err(err) => {
                self.problem(url_text.span(), format!("url {:?} is not valid: {err}", url_text.get_ref()));
                return None;
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(
                url_text.span(),
                "credentials do not belong in the url (they would end up in logs); use username with \
                 password_env or password_file, or token_env / token_file"
                    .to_owned(),
            );
            return None;
        }
        let mut link = Link::new(url);
        for (value, slot) in [
            (&g.ca_file, &mut link.tls.ca_file),
            (&g.cert_file, &mut link.tls.cert_file),
            (&g.key_file, &mut link.tls.key_file),
        ] {
            if let Some(v) = value {
                let path = self.path(v.get_ref());
                if !path.is_file() {
                    self.problem(v.span(), format!("file {} does not exist", path.display()));
                }
                *slot = Some(path);
            }
        }
        if let (Some(c), None) = (&g.cert_file, &g.key_file) {
            self.problem(c.span(), "cert_file needs key_file (client certificate and its key)".to_owned());
        }
        if (link.tls.ca_file.is_some() || link.tls.cert_file.is_some()) && !link.uses_tls() {
            self.problem(url_text.span(), "TLS files are set but the url is not mqtts:// or https://".to_owned());
        }
        link.credentials = Credentials {
            username: g.username.clone(),
            password_env: g.password_env.clone(),
            password_file: g.password_file.as_deref().map(|p| self.path(p)),
            token_env: g.token_env.clone(),
            token_file: g.token_file.as_deref().map(|p| self.path(p)),
        };
        if let Some(d) = &g.stale_after
            && let Some(d) = self.duration(d, "stale_after")
        {
            link.stale_after_ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        }
        if let Some(d) = &g.max_future
            && let Some(d) = self.duration(d, "max_future")
        {
            link.limits.max_future_ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        }
        if let Some(days) = &g.max_past_days {
            link.limits.max_past_ms = i64::from(*days.get_ref()) * 86_400_000;
        }
        if let Some(kb) = &g.max_payload_kb {
            if !(1..=256 * 1024).contains(kb.get_ref()) {
                self.problem(
                    kb.span(),
                    format!("max_payload_kb = {} is out of range; expected 1 to 262144", kb.get_ref()),
                );
            } else {
                link.limits.max_payload_bytes = kb.get_ref() * 1024;
            }
        }
        Some(link)
    }
    pub(super) fn host_id(&mut self, g: &RawGateway) -> String {
        match &g.host_id {
            Some(id) if valid_topic_level(id.get_ref()) => id.get_ref().clone(),
            Some(id) => {
                self.problem(
                    id.span(),
                    format!("host_id {:?} must be one MQTT topic level: not empty, no '/', '+' or '#'", id.get_ref()),
                );
                String::new()
            }
            None => format!("watchfloor-{}", std::process::id()),
        }
    }
    pub(super) fn mqtt_json(&mut self, g: &RawGateway, link: Link) -> Option<MqttJsonGateway> {
        let format = match g.format.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("kepware") => JsonFormat::Kepware,
            Some("flat") => JsonFormat::Flat,
            Some(other) => {
                let span = g.format.as_ref().map_or(0..0, Spanned::span);
                self.problem(span, format!("unknown format {other:?}; expected \"kepware\" or \"flat\""));
                return None;
            }
        };
        let topics = match &g.topics {
            Some(t) if !t.get_ref().is_empty() => {
                for topic in t.get_ref() {
                    if !valid_topic_filter(topic) {
                        self.problem(
                            t.span(),
                            format!(
                                "{topic:?} is not an MQTT topic filter ('+' and '#' only as whole levels, '#' last)"
                            ),
                        );
                        return None;
                    }
                }
                t.get_ref().clone()
            }
            _ => {
                self.problem(g.kind.span(), format!("mqtt-json gateway {:?} needs topics = [..]", g.name.get_ref()));
                return None;
            }
        };
        let map = g.map.clone().unwrap_or_default().into_iter().collect();
        Some(MqttJsonGateway { link, topics, format, map })
    }
    /// An OPC UA gateway: security (`Basic256Sha256` with encryption unless told otherwise), what to map, how to
    /// sample; every mistake located.
    pub(super) fn opcua(&mut self, g: &RawGateway, link: Link) -> Option<OpcUaGateway> {
        let security = match &g.security {
            None => OpcUaSecurity::Basic256Sha256,
            Some(v) => match OpcUaSecurity::parse(v.get_ref()) {
                Some(s) => s,
                None => {
                    self.problem(
                        v.span(),
                        format!(
                            "security {:?} is not none, basic256sha256, aes128_sha256_rsaoaep or aes256_sha256_rsapss",
                            v.get_ref()
                        ),
                    );
                    return None;
                }
            },
        };
        let encrypt = match g.mode.as_ref().map(|m| m.get_ref().trim().to_ascii_lowercase()) {
            None => true,
            Some(m) if m == "sign" => false,
            Some(m) if m == "sign_and_encrypt" || m == "signandencrypt" => true,
            Some(_) => {
                let span = g.mode.as_ref().map(Spanned::span).unwrap_or_default();
                self.problem(span, "mode must be \"sign\" or \"sign_and_encrypt\"".to_owned());
                return None;
            }
        };
        let folders = g.folders.clone().unwrap_or_default();
        let nodes: Vec<(String, String)> = g.nodes.clone().unwrap_or_default().into_iter().collect();
        if folders.is_empty() && nodes.is_empty() {
            self.problem(
                g.kind.span(),
                format!(
                    "OPC UA gateway {:?} maps nothing; give folders = [\"nsu=…;s=…\"] and/or nodes = {{ \"Signal/Id\" = \"nsu=…;s=…\" }}",
                    g.name.get_ref()
                ),
            );
            return None;
        }
        let sampling_ms = match self.millis(g.sampling.as_ref(), "sampling") {
            Some(ms) if ms > 0 => ms as f64,
            Some(_) => {
                let span = g.sampling.as_ref().map(Spanned::span).unwrap_or_default();
                self.problem(span, "sampling must be longer than zero".to_owned());
                return None;
            }
            None => 500.0,
        };
        let queue_size = g.queue_size.as_ref().map_or(10, |q| (*q.get_ref()).max(1));
        let deadband = match &g.deadband {
            Some(d) if *d.get_ref() < 0.0 || !d.get_ref().is_finite() => {
                self.problem(d.span(), format!("deadband {} must be zero or more", d.get_ref()));
                return None;
            }
            Some(d) => *d.get_ref(),
            None => 0.0,
        };
        let deadband_percent = match &g.deadband_percent {
            Some(d) if !(0.0..=100.0).contains(d.get_ref()) => {
                self.problem(d.span(), format!("deadband_percent {} must be from 0 to 100", d.get_ref()));
                return None;
            }
            Some(d) => *d.get_ref(),
            None => 0.0,
        };
        Some(OpcUaGateway {
            link,
            security,
            encrypt,
            folders,
            nodes,
            sampling_ms,
            queue_size,
            deadband,
            deadband_percent,
            item_stale_after_ms: self.millis(g.item_stale_after.as_ref(), "item_stale_after"),
            pki_dir: None,
        })
    }
}
