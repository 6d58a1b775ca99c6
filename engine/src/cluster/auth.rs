//! The application's secret: made or read once, sent on every call, checked in constant time
//! before a request's body is read.
//!
//! Spark's `spark.authenticate` model: one secret per application, handed to every process
//! by its launcher (`EMBER_SECRET`, or a file named by `EMBER_SECRET_FILE`; `local-cluster`
//! makes a fresh one and passes it to the executors it spawns). A tonic interceptor runs on
//! the request's headers alone and refuses the call before its message is decoded, so an
//! unauthenticated peer never gets a byte parsed. The secret never crosses a network in clear
//! text: a peer off loopback is reached over TLS only ([`super::tls`]).

use std::fmt;
use std::hash::{BuildHasher, Hasher};

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The variable holding the secret itself.
pub const SECRET_ENV: &str = "EMBER_SECRET";
/// The variable naming a file that holds the secret (its surrounding whitespace ignored).
pub const SECRET_FILE_ENV: &str = "EMBER_SECRET_FILE";

/// Shortest secret accepted: a guessable one would make the check worthless.
const MIN_SECRET_LEN: usize = 16;

/// The application's shared secret. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A fresh random secret: 32 hex digits from the process's random hasher keys, the time
    /// and the pid (what `local-cluster` hands to the executors it starts).
    pub fn generate() -> Self {
        let mut out = String::with_capacity(32);
        for salt in 0..2u64 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(salt);
            h.write_u32(std::process::id());
            h.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            );
            out.push_str(&format!("{:016x}", h.finish()));
        }
        Secret(out)
    }

    /// The secret as given: refused when shorter than 16 characters or when it cannot travel
    /// in an HTTP header (visible ASCII only).
    ///
    /// # Errors
    /// Why it is refused.
    pub fn new(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into().trim().to_owned();
        if value.len() < MIN_SECRET_LEN {
            return Err(format!("a cluster secret needs at least {MIN_SECRET_LEN} characters"));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a cluster secret may hold only visible ASCII characters".to_owned());
        }
        Ok(Secret(value))
    }

    /// The secret the environment gives: `EMBER_SECRET`, else the content of the file
    /// `EMBER_SECRET_FILE` names; `None` when neither is set.
    ///
    /// # Errors
    /// The variable and why its value is refused (unreadable file, too short).
    pub fn from_env() -> Result<Option<Self>, (String, String)> {
        if let Ok(value) = std::env::var(SECRET_ENV) {
            return Secret::new(value).map(Some).map_err(|e| (SECRET_ENV.to_owned(), e));
        }
        if let Ok(path) = std::env::var(SECRET_FILE_ENV) {
            let value = std::fs::read_to_string(&path)
                .map_err(|e| (SECRET_FILE_ENV.to_owned(), format!("cannot read {path}: {e}")))?;
            return Secret::new(value).map(Some).map_err(|e| (SECRET_FILE_ENV.to_owned(), format!("{path}: {e}")));
        }
        Ok(None)
    }

    /// The secret's text, to hand to a child process's environment.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `offered` equals the secret, comparing every byte whatever the first
    /// difference (no early exit a timing attack could measure).
    pub fn matches(&self, offered: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        let mut diff = u8::from(mine.len() != offered.len());
        for (i, &b) in mine.iter().enumerate() {
            diff |= b ^ offered.get(i).copied().unwrap_or(0);
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The header every call carries.
const AUTHORIZATION: &str = "authorization";
const BEARER: &str = "Bearer ";

/// The server side: refuses a call without the right secret, logging why and from where.
#[derive(Clone)]
pub struct CheckSecret {
    secret: Secret,
    /// Which service refuses, for the log line.
    service: &'static str,
}

impl CheckSecret {
    /// A check of `secret` for `service` (`driver` or `shuffle`).
    pub fn new(secret: Secret, service: &'static str) -> Self {
        CheckSecret { secret, service }
    }
}

impl Interceptor for CheckSecret {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let offered = request.metadata().get(AUTHORIZATION).map(|v| v.as_bytes());
        let ok =
            offered.and_then(|v| v.strip_prefix(BEARER.as_bytes())).is_some_and(|token| self.secret.matches(token));
        if ok {
            return Ok(request);
        }
        let peer = request.remote_addr().map_or_else(|| "an unknown peer".to_owned(), |a| a.to_string());
        let why = if offered.is_none() { "no secret" } else { "a wrong secret" };
        tracing::warn!(target: "ember::cluster", service = self.service, %peer, "refused a call with {why}");
        Err(Status::unauthenticated(format!("refused by the {} service: {why} (EMBER_SECRET)", self.service)))
    }
}

/// The client side: adds the secret to every call.
#[derive(Clone)]
pub struct SendSecret {
    header: MetadataValue<tonic::metadata::Ascii>,
}

impl SendSecret {
    /// Sends `secret` on every call.
    pub fn new(secret: &Secret) -> Self {
        let mut header: MetadataValue<tonic::metadata::Ascii> =
            format!("{BEARER}{}", secret.expose()).parse().expect("a secret is visible ASCII (checked when made)");
        header.set_sensitive(true);
        SendSecret { header }
    }
}

impl Interceptor for SendSecret {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert(AUTHORIZATION, self.header.clone());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole_and_hide() {
        let s = Secret::new("0123456789abcdef").unwrap();
        assert!(s.matches(b"0123456789abcdef"));
        assert!(!s.matches(b"0123456789abcdeF"));
        assert!(!s.matches(b"0123456789abcde"));
        assert!(!s.matches(b"0123456789abcdef0"));
        assert!(!s.matches(b""));
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(Secret::new("short").is_err());
        assert!(Secret::new("0123456789abcdef é").is_err());
        let g = Secret::generate();
        assert_eq!(g.expose().len(), 32);
        assert_ne!(g, Secret::generate());
    }

    #[test]
    fn the_interceptors_agree_and_refuse_others() {
        let secret = Secret::generate();
        let mut send = SendSecret::new(&secret);
        let mut check = CheckSecret::new(secret, "driver");
        let request = send.call(Request::new(())).unwrap();
        assert!(check.call(request).is_ok());
        let refused = check.call(Request::new(())).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(refused.message().contains("no secret"), "{}", refused.message());
        let wrong = SendSecret::new(&Secret::generate()).call(Request::new(())).unwrap();
        assert!(check.call(wrong).unwrap_err().message().contains("wrong secret"));
    }
}
