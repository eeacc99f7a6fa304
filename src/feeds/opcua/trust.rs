//! Security and trust: the client's PKI folder, the policy asked for, a server's certificate trusted by hand, and
//! refusals told in plain words with what to do.

use super::*;

/// The client's certificate and trust list: the configured directory, else the data dir's `opcua-pki`.
pub(super) fn pki_dir(config: &OpcUaGateway) -> PathBuf {
    config.pki_dir.clone().unwrap_or_else(|| {
        directories::ProjectDirs::from("", "", "watchfloor")
            .map_or_else(|| std::env::temp_dir().join("watchfloor"), |d| d.data_dir().to_owned())
            .join("opcua-pki")
    })
}

pub(super) fn policy(security: OpcUaSecurity) -> SecurityPolicy {
    match security {
        OpcUaSecurity::None => SecurityPolicy::None,
        OpcUaSecurity::Basic256Sha256 => SecurityPolicy::Basic256Sha256,
        OpcUaSecurity::Aes128Sha256RsaOaep => SecurityPolicy::Aes128Sha256RsaOaep,
        OpcUaSecurity::Aes256Sha256RsaPss => SecurityPolicy::Aes256Sha256RsaPss,
    }
}

/// A status code in plain words, with what to do where there is something to do.
pub fn explain(status: StatusCode, pki: &std::path::Path) -> String {
    let is = |s: StatusCode| is_any(status, &[s]);
    if is_any(status, UNTRUSTED) {
        format!(
            "the server's certificate is not trusted ({status}); to trust it, move its file from {} to {}",
            pki.join("rejected").display(),
            pki.join("trusted").display()
        )
    } else if is(StatusCode::BadIdentityTokenRejected) || is(StatusCode::BadUserAccessDenied) {
        format!("the server refused the user name or password ({status})")
    } else if is(StatusCode::BadIdentityTokenInvalid) {
        format!("the server does not accept this kind of login on this endpoint ({status})")
    } else if is(StatusCode::BadCertificateTimeInvalid) {
        format!("a certificate is expired or not yet valid; check both clocks ({status})")
    } else if is(StatusCode::BadCertificateHostNameInvalid) || is(StatusCode::BadCertificateUriInvalid) {
        format!("the server's certificate does not name this server ({status})")
    } else if is(StatusCode::BadSecurityPolicyRejected) {
        format!("the server offers no endpoint with this security policy and mode ({status})")
    } else if is(StatusCode::BadCommunicationError) || is(StatusCode::BadConnectionClosed) {
        format!("the server cannot be reached or closed the connection ({status})")
    } else {
        status.to_string()
    }
}

/// Whether `status` is one of `codes`, whatever its info bits.
pub(super) fn is_any(status: StatusCode, codes: &[StatusCode]) -> bool {
    let code = status.bits() & 0xFFFF_0000;
    codes.iter().any(|s| s.bits() == code)
}

/// The server's certificate is not in the trust list (or was kept aside as rejected).
pub(super) const UNTRUSTED: &[StatusCode] = &[StatusCode::BadCertificateUntrusted, StatusCode::BadSecurityChecksFailed];

/// Whether the server refused us for a reason retrying does not fix (trust, credentials, endpoint).
pub(super) fn is_refusal(status: StatusCode) -> bool {
    is_any(status, UNTRUSTED)
        || is_any(
            status,
            &[
                StatusCode::BadIdentityTokenRejected,
                StatusCode::BadIdentityTokenInvalid,
                StatusCode::BadUserAccessDenied,
                StatusCode::BadSecurityPolicyRejected,
                StatusCode::BadCertificateTimeInvalid,
                StatusCode::BadCertificateHostNameInvalid,
                StatusCode::BadCertificateUriInvalid,
            ],
        )
}

pub(super) fn refused(status: StatusCode, pki: &std::path::Path) -> End {
    let state = if is_refusal(status) { FeedState::Error } else { FeedState::Offline };
    let shown = FeedStatus::with_message(state, explain(status, pki));
    if is_any(status, UNTRUSTED) { End::Untrusted(shown) } else { End::Retry(shown) }
}

/// The server certificate most recently kept aside in `<pki>/rejected/` (async-opcua names each file
/// `<subject> [<SHA-1 thumbprint>].der`).
pub fn rejected_cert(pki: &std::path::Path) -> Option<crate::feeds::diag::UntrustedCert> {
    let newest = std::fs::read_dir(pki.join("rejected"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "der"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?;
    let file = newest.path();
    let stem = file.file_stem()?.to_string_lossy().into_owned();
    let (subject, thumbprint) = match stem.rsplit_once(" [") {
        Some((subject, rest)) => (subject.to_owned(), rest.trim_end_matches(']').to_owned()),
        None => (stem.clone(), String::new()),
    };
    Some(crate::feeds::diag::UntrustedCert { file, subject, thumbprint })
}

/// Trusts a kept-aside server certificate: its file moves into `<pki>/trusted/` (the feed connects on its next try).
pub fn trust(cert: &crate::feeds::diag::UntrustedCert) -> std::io::Result<()> {
    let pki = cert.file.parent().and_then(std::path::Path::parent).ok_or(std::io::ErrorKind::NotFound)?;
    let trusted = pki.join("trusted");
    std::fs::create_dir_all(&trusted)?;
    let name = cert.file.file_name().ok_or(std::io::ErrorKind::NotFound)?;
    std::fs::rename(&cert.file, trusted.join(name))?;
    tracing::warn!(subject = %cert.subject, thumbprint = %cert.thumbprint, "OPC UA server certificate trusted");
    Ok(())
}

/// Room for a plant's worth of values in one message: async-opcua's defaults (1,000 array elements, 320 KiB
/// messages) cut the session as soon as one publish response carries more than a thousand changes.
pub fn with_large_messages(builder: ClientBuilder) -> ClientBuilder {
    builder.max_array_length(1_000_000).max_message_size(256 * 1024 * 1024).max_chunk_count(8_192)
}
