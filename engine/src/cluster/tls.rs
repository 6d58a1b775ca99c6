//! TLS for every peer off loopback: certificates from `EMBER_TLS_CERT`, `EMBER_TLS_KEY` and
//! `EMBER_TLS_CA`, rustls over ring (no OpenSSL, no aws-lc).
//!
//! The secret is a bearer token: in clear text it would be readable by anyone on the path, so
//! a process refuses to listen on, or connect to, an address that is not loopback without
//! TLS. Every process trusts the CA; the name checked is the driver's host name (or
//! `EMBER_TLS_DOMAIN` when the certificates name the service otherwise, as a Kubernetes
//! headless Service does).

use std::net::{IpAddr, SocketAddr};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The certificate (PEM) this process presents.
pub const CERT_ENV: &str = "EMBER_TLS_CERT";
/// Its private key (PEM).
pub const KEY_ENV: &str = "EMBER_TLS_KEY";
/// The CA (PEM) every peer's certificate must chain to.
pub const CA_ENV: &str = "EMBER_TLS_CA";
/// The server name to check instead of the host connected to.
pub const DOMAIN_ENV: &str = "EMBER_TLS_DOMAIN";

/// The TLS material of this process, read once at start.
#[derive(Clone)]
pub struct TlsFiles {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Vec<u8>,
    domain: Option<String>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles").field("domain", &self.domain).finish_non_exhaustive()
    }
}

impl TlsFiles {
    /// The files the environment names; `None` when none of the three variables is set.
    ///
    /// # Errors
    /// The variable and why: only some are set, or a file cannot be read.
    pub fn from_env() -> Result<Option<Self>, (String, String)> {
        let vars = [CERT_ENV, KEY_ENV, CA_ENV].map(|v| (v, std::env::var(v).ok()));
        if vars.iter().all(|(_, value)| value.is_none()) {
            return Ok(None);
        }
        let mut read = vars.into_iter().map(|(var, path)| {
            let path = path.ok_or_else(|| {
                (var.to_owned(), "TLS needs all of EMBER_TLS_CERT, EMBER_TLS_KEY and EMBER_TLS_CA".to_owned())
            })?;
            std::fs::read(&path).map_err(|e| (var.to_owned(), format!("cannot read {path}: {e}")))
        });
        let (cert, key, ca) = (read.next().unwrap()?, read.next().unwrap()?, read.next().unwrap()?);
        Ok(Some(TlsFiles { cert, key, ca, domain: std::env::var(DOMAIN_ENV).ok() }))
    }

    /// TLS material given directly (tests make a CA with rcgen).
    pub fn new(cert_pem: Vec<u8>, key_pem: Vec<u8>, ca_pem: Vec<u8>, domain: Option<String>) -> Self {
        TlsFiles { cert: cert_pem, key: key_pem, ca: ca_pem, domain }
    }

    /// The server side: present the certificate.
    pub fn server(&self) -> ServerTlsConfig {
        install_ring();
        ServerTlsConfig::new().identity(Identity::from_pem(&self.cert, &self.key))
    }

    /// The client side for a connection to `host`: trust the CA, check `host` (or the
    /// configured domain).
    pub fn client(&self, host: &str) -> ClientTlsConfig {
        install_ring();
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .domain_name(self.domain.clone().unwrap_or_else(|| host.to_owned()))
    }
}

/// Whether `addr` is on this machine's loopback (127.0.0.0/8 or ::1), where the secret may
/// travel without TLS.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback(),
    }
}

/// Makes ring rustls's process-wide provider, once (rustls panics when it must choose and
/// more than one is compiled in; only ring is here).
fn install_ring() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
