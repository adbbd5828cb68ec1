//! TLS to the server: [`Tls`], and the rustls configuration each choice makes.

use std::format;
use std::path::PathBuf;
use std::string::ToString;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PostgresError;

/// How a [`PostgresStore`](super::PostgresStore) reaches its server: with TLS (rustls; no OpenSSL)
/// and whom it trusts, or without.
///
/// With TLS, the server's certificate is verified against the trusted roots and the host
/// name (or IP address) in the parameters, whatever `sslmode` says (a `require` that
/// accepted any certificate would be no protection against a server in the middle), except
/// that a [`Tls::Config`] verifies as its own verifier says.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Tls {
    /// Plain TCP (`sslmode=disable`): a server on loopback or a private network only.
    Off,
    /// TLS trusting the operating system's root certificates: managed PostgreSQL services
    /// whose certificates chain to a public CA.
    SystemRoots,
    /// TLS trusting the certificates in this PEM file: a private CA, or a cloud provider's
    /// CA bundle that is not in the system store.
    CaFile(PathBuf),
    /// TLS with the host's own rustls configuration (client certificates, pinned roots).
    Config(Arc<rustls::ClientConfig>),
}

impl Tls {
    /// The connector for tokio-postgres, and whether TLS is on.
    pub(super) fn connector(&self) -> Result<(MakeRustlsConnect, bool), PostgresError> {
        let roots = |certs: std::vec::Vec<CertificateDer<'static>>| {
            let mut store = rustls::RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PostgresError::Config(
                    "no usable root certificate to trust; give a CA file".into(),
                ));
            }
            client_config(store)
        };
        let (config, on) = match self {
            // Never used to connect: the configuration says `sslmode=disable`.
            Self::Off => (client_config(rustls::RootCertStore::empty())?, false),
            Self::SystemRoots => (roots(rustls_native_certs::load_native_certs().certs)?, true),
            Self::CaFile(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<_, _>>)
                    .map_err(|e| {
                        PostgresError::Config(format!("CA file {}: {e}", path.display()))
                    })?;
                (roots(certs)?, true)
            }
            Self::Config(config) => (Arc::clone(config), true),
        };
        Ok((MakeRustlsConnect::new(Arc::unwrap_or_clone(config)), on))
    }
}

/// A rustls configuration (the `ring` provider, safe default protocol versions) trusting
/// `roots`; with none, for a connector that never makes TLS connections.
pub(super) fn client_config(
    roots: rustls::RootCertStore,
) -> Result<Arc<rustls::ClientConfig>, PostgresError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PostgresError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
