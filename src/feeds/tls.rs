//! TLS for gateway links (MQTT over TLS, HTTPS): rustls with the *ring* provider, the system's root certificates
//! or a configured CA file, and an optional client certificate for mutual TLS.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::feeds::link::TlsFiles;

/// Makes *ring* the process's TLS provider (once; later calls do nothing).
pub fn install_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client TLS config for `files`: trust the CA file if given, else the system roots.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &files.ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .and_then(Iterator::collect)
            .map_err(|err| format!("cannot read the CA file {}: {err}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("the CA file {} holds no certificate", ca.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|err| format!("the CA file {} is not usable: {err}", ca.display()))?;
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A broken certificate in the system store is skipped, like every other TLS client does.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err("no system root certificates found; set ca_file for this gateway".to_owned());
        }
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(cert)
                    .and_then(Iterator::collect)
                    .map_err(|err| format!("cannot read the certificate file {}: {err}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|err| format!("cannot read the key file {}: {err}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| format!("the client certificate and key do not work together: {err}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
