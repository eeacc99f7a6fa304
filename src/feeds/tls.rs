//! TLS for gateway links (MQTT over TLS, HTTPS): rustls with the *ring* provider, the system's root certificates
//! or a configured CA file, and an optional client certificate for mutual TLS.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use std::path::PathBuf;

use crate::feeds::link::TlsFiles;

/// Why the TLS settings of a link cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {}: {reason}", path.display())]
    CaUnreadable { path: PathBuf, reason: String },
    #[error("the CA file {} holds no certificate", path.display())]
    CaEmpty { path: PathBuf },
    #[error("the CA file {} is not usable: {reason}", path.display())]
    CaUnusable { path: PathBuf, reason: String },
    #[error("no system root certificates found; set ca_file for this gateway")]
    NoSystemRoots,
    #[error("cannot read the certificate file {}: {reason}", path.display())]
    CertUnreadable { path: PathBuf, reason: String },
    #[error("cannot read the key file {}: {reason}", path.display())]
    KeyUnreadable { path: PathBuf, reason: String },
    #[error("the client certificate and key do not work together: {0}")]
    ClientAuth(String),
}

/// Makes *ring* the process's TLS provider (once; later calls do nothing).
pub fn install_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client TLS config for `files`: trust the CA file if given, else the system roots.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &files.ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .and_then(Iterator::collect)
            .map_err(|err| TlsError::CaUnreadable { path: ca.clone(), reason: err.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::CaEmpty { path: ca.clone() });
        }
        for cert in certs {
            roots.add(cert).map_err(|err| TlsError::CaUnusable { path: ca.clone(), reason: err.to_string() })?;
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A broken certificate in the system store is skipped, like every other TLS client does.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(TlsError::NoSystemRoots);
        }
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(cert)
                    .and_then(Iterator::collect)
                    .map_err(|err| TlsError::CertUnreadable { path: cert.clone(), reason: err.to_string() })?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|err| TlsError::KeyUnreadable { path: key.clone(), reason: err.to_string() })?;
            builder.with_client_auth_cert(chain, key).map_err(|err| TlsError::ClientAuth(err.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
