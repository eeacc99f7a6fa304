//! Delivering one notification: a webhook's JSON POST (reqwest, rustls with *ring*) or a plain-text mail over SMTP
//! (`lettre`). Each answer is one of delivered, worth another try (a timeout, a refused connection, HTTP 5xx, 408
//! or 429, an SMTP 4xx), or refused for good (other HTTP 4xx, SMTP 5xx, a missing secret).

use std::time::Duration;

use lettre::AsyncTransport as _;
use serde::Serialize;

use super::policy::{Due, Stage};
use crate::config::{Email, SmtpTls, Webhook};

/// How a delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again later, with why.
    Retry(String),
    /// Never going to work, with why.
    Failed(String),
}

/// A webhook's body.
#[derive(Serialize)]
struct WebhookBody<'a> {
    site: &'a str,
    rule: &'a str,
    source: &'a str,
    asset: &'a str,
    priority: &'a str,
    state: &'a str,
    message: &'a str,
    value: Option<f64>,
    limit: Option<&'a str>,
    occurred_at: String,
    stage: &'static str,
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The HTTP client the webhooks share (rustls with *ring*, the system's roots).
pub fn http_client() -> Result<reqwest::Client, String> {
    crate::feeds::tls::install_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("watchfloor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
}

/// POSTs `due` to `hook` as JSON, with its idempotency key.
pub async fn webhook(client: &reqwest::Client, hook: &Webhook, site: &str, key: &str, due: &Due) -> Outcome {
    let body = WebhookBody {
        site,
        rule: &due.rule,
        source: &due.source,
        asset: &due.asset,
        priority: &due.priority,
        state: &due.state,
        message: &due.message,
        value: due.value,
        limit: due.limit.as_deref(),
        occurred_at: crate::model::time::rfc3339(due.occurred_ms),
        stage: due.stage.label(),
    };
    let timeout = Duration::from_millis(u64::try_from(hook.audience.timeout_ms).unwrap_or(10_000));
    let mut request = client.post(hook.url.clone()).timeout(timeout).header("Idempotency-Key", key).json(&body);
    for (name, value) in &hook.headers {
        request = request.header(name, value);
    }
    match hook.token() {
        Ok(Some(token)) => request = request.bearer_auth(token),
        Ok(None) => {}
        Err(err) => return Outcome::Failed(err.to_string()),
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Outcome::Delivered
            } else if status.is_server_error()
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            {
                Outcome::Retry(format!("HTTP {status}"))
            } else {
                Outcome::Failed(format!("HTTP {status}"))
            }
        }
        Err(err) => Outcome::Retry(error_chain(&err)),
    }
}

/// The mail's subject: `[HIGH] Filler hot — PlantA/Line1/Filler`, an escalation saying so.
pub fn subject(due: &Due) -> String {
    let priority = due.priority.to_uppercase();
    let what = if due.asset.is_empty() { &due.source } else { &due.asset };
    match due.stage {
        Stage::First => format!("[{priority}] {} — {what}", due.rule),
        Stage::Escalation => format!("[{priority}] Escalation: {} — {what} is still unacknowledged", due.rule),
    }
}

/// The mail's plain-text body: the alarm's details.
pub fn body(site: &str, due: &Due) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(text, "Site:      {site}");
    let _ = writeln!(text, "Alarm:     {}", due.rule);
    let _ = writeln!(text, "Priority:  {}", due.priority);
    let _ = writeln!(text, "State:     {}", due.state);
    let _ = writeln!(text, "Asset:     {}", due.asset);
    let _ = writeln!(text, "Source:    {}", due.source);
    if !due.message.is_empty() {
        let _ = writeln!(text, "Message:   {}", due.message);
    }
    if let Some(v) = due.value {
        let _ = writeln!(text, "Value:     {v}");
    }
    if let Some(l) = &due.limit {
        let _ = writeln!(text, "Limit:     {l}");
    }
    let _ = writeln!(text, "Since:     {}", crate::model::time::rfc3339(due.occurred_ms));
    if due.stage == Stage::Escalation {
        let _ = writeln!(text, "\nThis alarm has not been acknowledged: it is escalated to you.");
    }
    let _ = writeln!(text, "\n-- \nWatchfloor recorder");
    text
}

/// Sends `due` as a mail to `mail`'s recipients.
pub async fn email(mail: &Email, site: &str, key: &str, due: &Due) -> Outcome {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, Message, Tokio1Executor};

    let parse = |text: &str| text.parse::<lettre::message::Mailbox>().map_err(|e| format!("{text:?}: {e}"));
    let mut builder = match parse(&mail.from) {
        Ok(from) => Message::builder().from(from),
        Err(err) => return Outcome::Failed(err),
    };
    for to in &mail.to {
        match parse(to) {
            Ok(to) => builder = builder.to(to),
            Err(err) => return Outcome::Failed(err),
        }
    }
    // The idempotency key as the Message-ID: a mail system that sees it twice can tell.
    let id = format!("<{:016x}.{}@watchfloor>", fnv1a(key), due.occurred_ms);
    let message = match builder
        .subject(subject(due))
        .message_id(Some(id))
        .header(ContentType::TEXT_PLAIN)
        .body(body(site, due))
    {
        Ok(m) => m,
        Err(err) => return Outcome::Failed(format!("cannot make the mail: {err}")),
    };
    crate::feeds::tls::install_provider();
    let transport = match mail.tls {
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&mail.server)),
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&mail.server),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&mail.server),
    };
    let mut transport = match transport {
        Ok(t) => t
            .port(mail.port)
            .timeout(Some(Duration::from_millis(u64::try_from(mail.audience.timeout_ms).unwrap_or(10_000)))),
        Err(err) => return Outcome::Failed(format!("SMTP TLS: {}", error_chain(&err))),
    };
    match (mail.username.as_ref(), mail.password()) {
        (_, Err(err)) => return Outcome::Failed(err.to_string()),
        (Some(user), Ok(password)) => {
            transport = transport.credentials(Credentials::new(user.clone(), password.unwrap_or_default()));
        }
        (None, Ok(_)) => {}
    }
    match transport.build().send(message).await {
        Ok(_) => Outcome::Delivered,
        Err(err) if err.is_permanent() => Outcome::Failed(error_chain(&err)),
        Err(err) => Outcome::Retry(error_chain(&err)),
    }
}

/// A stable 64-bit hash (FNV-1a) of the key, for the Message-ID.
pub(super) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_names_priority_rule_and_asset() {
        let due = Due {
            rule: "Filler temperature high".into(),
            source: "PlantA/Line1/Filler/Temperature".into(),
            asset: "Line1/Filler".into(),
            priority: "High".into(),
            state: "Unacknowledged".into(),
            message: "85 above HI 80".into(),
            value: Some(85.0),
            limit: Some("HI".into()),
            occurred_ms: 0,
            stage: Stage::First,
            gateway_loss: false,
        };
        assert_eq!(subject(&due), "[HIGH] Filler temperature high — Line1/Filler");
        let text = body("Plant A", &due);
        assert!(
            text.contains("Message:   85 above HI 80") && text.contains("Since:     1970-01-01T00:00:00"),
            "{text}"
        );
        let escalated = Due { stage: Stage::Escalation, ..due };
        assert!(subject(&escalated).starts_with("[HIGH] Escalation: Filler temperature high"));
        assert_ne!(fnv1a("a|b"), fnv1a("a|c"));
    }
}
