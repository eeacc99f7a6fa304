//! `[reports]` and `[notify]`: what the headless recorder does on a schedule — the shift report written at each
//! shift end, and notifications of alarms over webhooks and e-mail. Both are optional; without them the recorder
//! only records.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, SecretError, read_secret};
use crate::model::alarm::Priority;

// ---- The file as written -------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReports {
    folder: Spanned<String>,
    formats: Option<Vec<Spanned<String>>>,
    after: Option<Spanned<String>>,
    catch_up: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNotify {
    gateway_loss: Option<bool>,
    keep_days: Option<Spanned<u32>>,
    urgent: Option<RawStage>,
    high: Option<RawStage>,
    medium: Option<RawStage>,
    low: Option<RawStage>,
    webhook: Vec<RawWebhook>,
    email: Vec<RawEmail>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawStage {
    delay: Option<Spanned<String>>,
    escalate_after: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: Option<String>,
    url: Spanned<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    token_env: Option<String>,
    token_file: Option<String>,
    min_priority: Option<Spanned<String>>,
    #[serde(default)]
    escalation: bool,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    name: Option<String>,
    server: Spanned<String>,
    port: Option<u16>,
    tls: Option<Spanned<String>>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<Vec<String>>>,
    min_priority: Option<Spanned<String>>,
    #[serde(default)]
    escalation: bool,
    timeout: Option<Spanned<String>>,
}

// ---- The validated settings ----------------------------------------------------------------------------------

/// `[reports]`: the shift report written into a folder at each shift end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reports {
    pub folder: PathBuf,
    pub formats: Vec<ReportFile>,
    /// How long after a shift's end its report is written, so late data is in (2 min by default).
    pub after_ms: i64,
    /// At start, the most recent shifts whose reports are missing are written, at most this many (3).
    pub catch_up: usize,
}

/// A file of the shift report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFile {
    Html,
    Xlsx,
    Json,
}

impl ReportFile {
    pub const ALL: [Self; 3] = [Self::Html, Self::Xlsx, Self::Json];

    pub fn extension(self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Xlsx => "xlsx",
            Self::Json => "json",
        }
    }
}

/// `[notify]`: alarms sent over webhooks and e-mail, with a delay and an escalation per priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// What each priority waits for, by priority.
    pub stages: BTreeMap<Priority, Stages>,
    /// Whether a gateway's loss (the rules that watch gateways) is sent to every channel whatever its priority
    /// (`true`, the default), or never.
    pub gateway_loss: bool,
    /// Delivered and failed notifications are kept in the outbox this many days (7).
    pub keep_days: u32,
    pub webhooks: Vec<Webhook>,
    pub emails: Vec<Email>,
}

/// When one priority's alarm is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stages {
    /// Waited after the alarm comes before the first notification: acknowledged or cleared within it, nothing is
    /// sent.
    pub delay_ms: i64,
    /// Still unacknowledged (and active) this long after it came: a second notification, to the escalation
    /// channels.
    pub escalate_after_ms: Option<i64>,
}

impl Notify {
    /// The defaults per priority: urgent at once and escalated after 10 min; high after 30 s, escalated after
    /// 30 min; medium after 2 min and low after 5 min, neither escalated.
    pub fn default_stages() -> BTreeMap<Priority, Stages> {
        let s = |delay_ms, escalate_after_ms| Stages { delay_ms, escalate_after_ms };
        BTreeMap::from([
            (Priority::Urgent, s(0, Some(600_000))),
            (Priority::High, s(30_000, Some(1_800_000))),
            (Priority::Medium, s(120_000, None)),
            (Priority::Low, s(300_000, None)),
        ])
    }

    pub fn stages_of(&self, priority: Priority) -> Stages {
        self.stages.get(&priority).copied().unwrap_or(Stages { delay_ms: 0, escalate_after_ms: None })
    }
}

/// What a channel is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience {
    /// Its name in the outbox and the log (given, or made from the URL or the recipients).
    pub name: String,
    /// Alarms of this priority or more urgent (high by default).
    pub min_priority: Priority,
    /// `true`: an escalation recipient, sent only the escalations; `false`: sent the first notifications.
    pub escalation: bool,
    /// How long one delivery may take (10 s).
    pub timeout_ms: i64,
}

/// `[[notify.webhook]]`: a JSON POST per notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub audience: Audience,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    /// A bearer token, from the environment or a file.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl Webhook {
    /// The bearer token, read now; `Ok(None)` when none is configured.
    pub fn token(&self) -> Result<Option<String>, SecretError> {
        read_secret(self.token_env.as_deref(), self.token_file.as_deref(), "webhook token")
    }
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network).
    None,
    /// Plain, upgraded with STARTTLS (required), port 587 by default.
    StartTls,
    /// TLS from the first byte, port 465 by default.
    Tls,
}

/// `[[notify.email]]`: a plain-text mail per notification over SMTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub audience: Audience,
    pub server: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
}

impl Email {
    /// The SMTP password, read now; `Ok(None)` when none is configured.
    pub fn password(&self) -> Result<Option<String>, SecretError> {
        read_secret(self.password_env.as_deref(), self.password_file.as_deref(), "SMTP password")
    }
}

const DEFAULT_TIMEOUT_MS: i64 = 10_000;

impl Checker<'_> {
    pub(super) fn reports(&mut self, raw: &RawReports) -> Option<Reports> {
        let formats = match &raw.formats {
            None => ReportFile::ALL.to_vec(),
            Some(list) if list.is_empty() => {
                self.problem(raw.folder.span(), "reports.formats is empty: name at least one format".to_owned());
                return None;
            }
            Some(list) => {
                let mut formats = Vec::new();
                for f in list {
                    match ReportFile::ALL.into_iter().find(|x| x.extension() == f.get_ref().to_ascii_lowercase()) {
                        Some(x) if !formats.contains(&x) => formats.push(x),
                        Some(_) => {}
                        None => self.problem(
                            f.span(),
                            format!("reports.formats: {:?} is not one of \"html\", \"xlsx\", \"json\"", f.get_ref()),
                        ),
                    }
                }
                formats
            }
        };
        let after_ms = match &raw.after {
            None => 120_000,
            Some(v) => self.at_least_zero(v, "reports.after")?,
        };
        let catch_up = raw.catch_up.as_ref().map_or(3, |c| *c.get_ref());
        if raw.folder.get_ref().trim().is_empty() {
            self.problem(raw.folder.span(), "reports.folder is empty; name the folder the reports go to".to_owned());
            return None;
        }
        Some(Reports { folder: self.path(raw.folder.get_ref()), formats, after_ms, catch_up })
    }

    /// A duration that may be zero ("0s": at once).
    fn at_least_zero(&mut self, value: &Spanned<String>, what: &str) -> Option<i64> {
        match value.get_ref().trim().parse::<jiff::SignedDuration>() {
            Ok(d) if !d.is_negative() => Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Ok(_) => {
                self.problem(value.span(), format!("{what} must not be negative"));
                None
            }
            Err(_) => {
                self.problem(
                    value.span(),
                    format!("{what} {:?} is not a duration; expected e.g. \"0s\", \"30s\", \"15m\"", value.get_ref()),
                );
                None
            }
        }
    }

    fn priority(&mut self, value: Option<&Spanned<String>>, what: &str) -> Priority {
        let Some(v) = value else { return Priority::High };
        Priority::parse(v.get_ref()).unwrap_or_else(|| {
            self.problem(
                v.span(),
                format!("{what} {:?} is not a priority; expected urgent, high, medium or low", v.get_ref()),
            );
            Priority::High
        })
    }

    fn audience(
        &mut self,
        name: String,
        min_priority: Option<&Spanned<String>>,
        escalation: bool,
        timeout: Option<&Spanned<String>>,
        what: &str,
    ) -> Audience {
        let min_priority = self.priority(min_priority, &format!("{what}.min_priority"));
        let timeout_ms = self.millis(timeout, &format!("{what}.timeout")).unwrap_or(DEFAULT_TIMEOUT_MS);
        Audience { name, min_priority, escalation, timeout_ms }
    }

    pub(super) fn notify(&mut self, raw: &RawNotify) -> Notify {
        let mut stages = Notify::default_stages();
        for (priority, stage) in [
            (Priority::Urgent, &raw.urgent),
            (Priority::High, &raw.high),
            (Priority::Medium, &raw.medium),
            (Priority::Low, &raw.low),
        ] {
            let Some(stage) = stage else { continue };
            let what = format!("notify.{}", priority.label().to_ascii_lowercase());
            let entry = stages.entry(priority).or_insert(Stages { delay_ms: 0, escalate_after_ms: None });
            if let Some(d) = &stage.delay
                && let Some(ms) = self.at_least_zero(d, &format!("{what}.delay"))
            {
                entry.delay_ms = ms;
            }
            if let Some(e) = &stage.escalate_after {
                let value = e.get_ref().trim();
                if value == "never" || value == "off" {
                    entry.escalate_after_ms = None;
                } else if let Some(ms) = self.millis(Some(e), &format!("{what}.escalate_after")) {
                    entry.escalate_after_ms = Some(ms);
                }
            }
            let entry = *entry;
            if let Some(after) = entry.escalate_after_ms
                && after <= entry.delay_ms
            {
                let span =
                    stage.escalate_after.as_ref().or(stage.delay.as_ref()).map(Spanned::span).unwrap_or_default();
                self.problem(
                    span,
                    format!(
                        "{what}: escalate_after ({} s) must be longer than the delay ({} s), or \"never\"",
                        after / 1000,
                        entry.delay_ms / 1000
                    ),
                );
            }
        }
        let keep_days = raw.keep_days.as_ref().map_or(7, |d| *d.get_ref());
        let mut names: Vec<String> = Vec::new();
        let mut unique = |checker: &mut Self, name: String, span: std::ops::Range<usize>| {
            if names.contains(&name) {
                checker.problem(span, format!("two notify channels are named {name:?}; give each its own name"));
            }
            names.push(name.clone());
            name
        };
        let mut webhooks = Vec::new();
        for w in &raw.webhook {
            let Some(url) = self.webhook_url(&w.url) else { continue };
            let default_name = format!("webhook {}{}", url.host_str().unwrap_or_default(), url.path());
            let name = unique(self, w.name.clone().unwrap_or(default_name), w.url.span());
            let audience =
                self.audience(name, w.min_priority.as_ref(), w.escalation, w.timeout.as_ref(), "notify.webhook");
            for (header, value) in &w.headers {
                if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err()
                    || reqwest::header::HeaderValue::from_str(value).is_err()
                {
                    self.problem(w.url.span(), format!("notify.webhook header {header:?} is not a valid HTTP header"));
                }
            }
            if w.token_env.is_some() && w.token_file.is_some() {
                self.problem(w.url.span(), "notify.webhook: give token_env or token_file, not both".to_owned());
            }
            webhooks.push(Webhook {
                audience,
                url,
                headers: w.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                token_env: w.token_env.clone(),
                token_file: w.token_file.as_deref().map(|p| self.path(p)),
            });
        }
        let mut emails = Vec::new();
        for e in &raw.email {
            if let Some(email) = self.email(e) {
                let name = unique(self, email.audience.name.clone(), e.server.span());
                emails.push(Email { audience: Audience { name, ..email.audience.clone() }, ..email });
            }
        }
        Notify { stages, gateway_loss: raw.gateway_loss.unwrap_or(true), keep_days, webhooks, emails }
    }

    fn webhook_url(&mut self, raw: &Spanned<String>) -> Option<url::Url> {
        match url::Url::parse(raw.get_ref()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Some(url),
            Ok(_) => {
                self.problem(
                    raw.span(),
                    format!("notify.webhook.url {:?} must be an http:// or https:// URL with a host", raw.get_ref()),
                );
                None
            }
            Err(err) => {
                self.problem(raw.span(), format!("notify.webhook.url {:?} is not a valid URL ({err})", raw.get_ref()));
                None
            }
        }
    }

    fn email(&mut self, e: &RawEmail) -> Option<Email> {
        let tls = match e.tls.as_ref().map(|t| t.get_ref().as_str()) {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("none") => SmtpTls::None,
            Some("tls") => SmtpTls::Tls,
            Some(other) => {
                let span = e.tls.as_ref().map(Spanned::span).unwrap_or_default();
                self.problem(span, format!("notify.email.tls {other:?} is not one of \"none\", \"starttls\", \"tls\""));
                return None;
            }
        };
        let port = e.port.unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        });
        let server = e.server.get_ref().trim().to_owned();
        if server.is_empty() || server.contains('/') || server.contains(' ') {
            self.problem(e.server.span(), format!("notify.email.server {server:?} is not a host name or address"));
            return None;
        }
        let mailbox = |checker: &mut Self, text: &str, span: std::ops::Range<usize>, what: &str| {
            if text.parse::<lettre::message::Mailbox>().is_err() {
                checker.problem(span, format!("notify.email.{what} {text:?} is not an e-mail address"));
            }
        };
        let Some(from) = &e.from else {
            self.problem(e.server.span(), "notify.email needs from = \"watchfloor@plant.example\"".to_owned());
            return None;
        };
        mailbox(self, from.get_ref(), from.span(), "from");
        let to = match &e.to {
            Some(to) if !to.get_ref().is_empty() => {
                for address in to.get_ref() {
                    mailbox(self, address, to.span(), "to");
                }
                to.get_ref().clone()
            }
            Some(to) => {
                self.problem(to.span(), "notify.email.to is empty: name at least one recipient".to_owned());
                return None;
            }
            None => {
                self.problem(e.server.span(), "notify.email needs to = [\"shift-lead@plant.example\"]".to_owned());
                return None;
            }
        };
        if e.password_env.is_some() && e.password_file.is_some() {
            self.problem(e.server.span(), "notify.email: give password_env or password_file, not both".to_owned());
        }
        let name = e.name.clone().unwrap_or_else(|| format!("email {}", to.join(",")));
        let audience = self.audience(name, e.min_priority.as_ref(), e.escalation, e.timeout.as_ref(), "notify.email");
        Some(Email {
            audience,
            server,
            port,
            tls,
            username: e.username.clone(),
            password_env: e.password_env.clone(),
            password_file: e.password_file.as_deref().map(|p| self.path(p)),
            from: from.get_ref().clone(),
            to,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(text, Path::new("/etc/watchfloor/site.toml"))
    }

    fn messages(text: &str) -> Vec<String> {
        parse(text)
            .expect_err("mistakes")
            .problems
            .into_iter()
            .map(|p| format!("{:?}: {}", p.line, p.message))
            .collect()
    }

    #[test]
    fn reports_and_notify_are_read_with_their_defaults() {
        let cfg = parse(
            r#"
[reports]
folder = "reports"
after = "5m"

[notify]
gateway_loss = false
high = { delay = "0s", escalate_after = "15m" }
low = { escalate_after = "never" }

[[notify.webhook]]
url = "https://hooks.plant.example/alarms?x=1"
headers = { "X-Site" = "plant-a" }
token_env = "WF_HOOK_TOKEN"
min_priority = "medium"

[[notify.email]]
server = "smtp.plant.example"
username = "watchfloor"
password_file = "smtp-password"
from = "Watchfloor <watchfloor@plant.example>"
to = ["shift-lead@plant.example", "maintenance@plant.example"]
escalation = true
"#,
        )
        .expect("valid");
        let reports = cfg.reports.expect("[reports]");
        assert_eq!(reports.folder, Path::new("/etc/watchfloor/reports"));
        assert_eq!((reports.formats, reports.after_ms, reports.catch_up), (ReportFile::ALL.to_vec(), 300_000, 3));
        let notify = cfg.notify.expect("[notify]");
        assert!(!notify.gateway_loss);
        assert_eq!(notify.stages_of(Priority::High), Stages { delay_ms: 0, escalate_after_ms: Some(900_000) });
        assert_eq!(notify.stages_of(Priority::Low), Stages { delay_ms: 300_000, escalate_after_ms: None });
        assert_eq!(notify.stages_of(Priority::Urgent), Stages { delay_ms: 0, escalate_after_ms: Some(600_000) });
        let hook = &notify.webhooks[0];
        assert_eq!(hook.audience.name, "webhook hooks.plant.example/alarms");
        assert_eq!((hook.audience.min_priority, hook.audience.escalation), (Priority::Medium, false));
        assert_eq!(hook.headers, [("X-Site".to_owned(), "plant-a".to_owned())]);
        let mail = &notify.emails[0];
        assert_eq!((mail.port, mail.tls), (587, SmtpTls::StartTls), "STARTTLS on 587 by default");
        assert_eq!(mail.password_file.as_deref(), Some(Path::new("/etc/watchfloor/smtp-password")));
        assert_eq!((mail.audience.min_priority, mail.audience.escalation), (Priority::High, true));
        assert!(parse("").expect("empty").notify.is_none() && parse("").expect("empty").reports.is_none());
    }

    #[test]
    fn mistakes_are_located_and_said_plainly() {
        let found = messages(
            r#"
[reports]
folder = "out"
formats = ["html", "pdf"]

[notify]
medium = { delay = "10m", escalate_after = "5m" }

[[notify.webhook]]
url = "ftp://hooks.plant.example/"

[[notify.webhook]]
url = "https://hooks.plant.example/"
min_priority = "severe"

[[notify.email]]
server = "smtp.plant.example"
tls = "ssl"

[[notify.email]]
server = "smtp.plant.example"
to = ["lead@plant.example"]

[[notify.email]]
server = "smtp.plant.example"
from = "not an address"
to = []
"#,
        );
        let expect = [
            "Some(4): reports.formats: \"pdf\" is not one of \"html\", \"xlsx\", \"json\"",
            "Some(7): notify.medium: escalate_after (300 s) must be longer than the delay (600 s), or \"never\"",
            "Some(10): notify.webhook.url \"ftp://hooks.plant.example/\" must be an http:// or https:// URL with a host",
            "Some(14): notify.webhook.min_priority \"severe\" is not a priority; expected urgent, high, medium or low",
            "Some(18): notify.email.tls \"ssl\" is not one of \"none\", \"starttls\", \"tls\"",
            "Some(21): notify.email needs from = \"watchfloor@plant.example\"",
            "Some(26): notify.email.from \"not an address\" is not an e-mail address",
            "Some(27): notify.email.to is empty: name at least one recipient",
        ];
        for e in expect {
            assert!(found.iter().any(|f| f == e), "{e}\nnot in\n{}", found.join("\n"));
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }
}
