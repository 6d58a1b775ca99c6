//! Store configuration: per-context options and the retry policy (the clients themselves
//! are built in `stores.rs`, each store kind behind its cargo feature).
//!
//! Remote stores are configured the way `object_store` users already do:
//! first from the environment (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, `GOOGLE_*`,
//! `AZURE_*`), then from the options given to [`StorageOptions::option`],
//! which win. Option keys are `object_store`'s configuration keys
//! (`aws_endpoint`, `aws_allow_http`, `google_service_account`,
//! `azure_storage_account_name`, client keys such as `timeout` or
//! `allow_http`, ...). Each option is offered to every store kind; a
//! store ignores the keys it does not know, but a key that no store of this
//! build knows is an error when the [`crate::Storage`] is created.
//!
//! # Timeouts
//!
//! A remote request fails fast when its endpoint goes silent: connecting may take
//! [`DEFAULT_CONNECT_TIMEOUT`], each read of the response (headers or body) may wait
//! [`DEFAULT_READ_TIMEOUT`] for bytes, and retries stop [`DEFAULT_RETRY_TIMEOUT`] after the
//! first try. An endpoint that accepts connections and never answers therefore fails a call
//! in about 10 s (at most the retry timeout plus one read timeout, 15 s), where
//! `object_store`'s own defaults took 181 s. A large transfer is not cut short: the read
//! timeout restarts with every read, and only `object_store`'s whole-request `timeout`
//! (30 s) bounds one request. Set `connect_timeout`, `read_timeout` or `timeout` (values
//! such as `"30s"` or `"500ms"`) as options or in the environment with the store's prefix
//! (`AWS_READ_TIMEOUT=30s`), and the retry window with [`StorageOptions::retry`].

use std::time::Duration;

use crate::error::{Result, StorageError};

/// How the storage layer reaches remote stores: configuration options and
/// the retry policy for transient errors.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ember_storage::{Storage, StorageOptions};
///
/// let options = StorageOptions::default()
///     .option("aws_region", "eu-west-1") // used by s3:// stores (the `s3` feature)
///     .retry(3, Duration::from_secs(20));
/// let storage = Storage::with_options(options)?;
/// # Ok::<(), ember_storage::StorageError>(())
/// ```
#[derive(Clone)]
pub struct StorageOptions {
    options: Vec<(String, String)>,
    retry: Retry,
}

/// How long connecting to a remote store may take, as `object_store` sets it.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a remote request may wait for the next bytes of its response, unless the
/// `read_timeout` option says otherwise: a healthy store answers within milliseconds.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after a request's first try its retries stop, unless [`StorageOptions::retry`]
/// says otherwise.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(10);

/// The retry policy for transient errors of remote stores, handed to `object_store`'s
/// clients when they are built.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Retry {
    pub(crate) max_retries: usize,
    pub(crate) timeout: Duration,
    pub(crate) init_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) base: f64,
}

impl Default for StorageOptions {
    /// No options (the environment alone), and a retry policy of up to 10
    /// retries within [`DEFAULT_RETRY_TIMEOUT`] (10 s; `object_store`'s own
    /// is 180 s), backoff from 100 ms to 15 s, doubling.
    fn default() -> Self {
        let retry = Retry {
            max_retries: 10,
            timeout: DEFAULT_RETRY_TIMEOUT,
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        };
        Self { options: Vec::new(), retry }
    }
}

impl std::fmt::Debug for StorageOptions {
    /// Lists the option keys only: values may be secrets (`aws_secret_access_key`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StorageOptions").field("keys", &keys).field("retry", &self.retry).finish()
    }
}

impl StorageOptions {
    /// Sets the `object_store` configuration key `key` (case-insensitive)
    /// to `value` for every store this storage creates; later calls win.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// Retries a failed request on a transient error (5xx, throttling,
    /// connection errors on idempotent requests) up to `max_retries` times
    /// within `timeout` from the first try, with exponential backoff.
    /// `max_retries = 0` disables retries.
    pub fn retry(mut self, max_retries: usize, timeout: Duration) -> Self {
        self.retry.max_retries = max_retries;
        self.retry.timeout = timeout;
        self
    }

    /// The backoff between retries: `init` first, multiplied by `base`
    /// each time, never more than `max`.
    pub fn backoff(mut self, init: Duration, max: Duration, base: f64) -> Self {
        (self.retry.init_backoff, self.retry.max_backoff, self.retry.base) = (init, max, base);
        self
    }

    /// The options set so far, keys in lower case, in order.
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    /// How many times a transient error is retried.
    pub fn max_retries(&self) -> usize {
        self.retry.max_retries
    }

    /// How long after the first try retries stop.
    pub fn retry_timeout(&self) -> Duration {
        self.retry.timeout
    }

    /// The whole policy, as the remote stores' clients take it.
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))]
    pub(crate) fn retry_policy(&self) -> &Retry {
        &self.retry
    }

    /// Checks that every option key is known to at least one store kind of this build.
    ///
    /// # Errors
    /// [`StorageError::InvalidOption`] naming the first unknown key.
    pub(crate) fn validate(&self) -> Result<()> {
        for (key, _) in &self.options {
            if !crate::stores::knows_key(key) {
                return Err(StorageError::InvalidOption {
                    key: key.clone(),
                    reason: format!(
                        "not an object_store configuration key for the remote stores of this build ({}); \
                         for example aws_endpoint, aws_region, allow_http, timeout",
                        crate::stores::enabled()
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(feature = "s3", feature = "gcs", feature = "azure"))]
    fn unknown_keys_are_refused_known_keys_of_any_store_pass() {
        let ok = StorageOptions::default()
            .option("AWS_ENDPOINT", "http://127.0.0.1:1")
            .option("google_service_account", "/x.json")
            .option("azure_storage_account_name", "acct")
            .option("timeout", "5s");
        ok.validate().unwrap();
        assert_eq!(ok.options()[0].0, "aws_endpoint");
        let err = StorageOptions::default().option("aws_endpont", "x").validate().unwrap_err();
        assert!(err.to_string().contains("aws_endpont"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_option_values() {
        let o = StorageOptions::default().option("aws_secret_access_key", "hunter2");
        let shown = format!("{o:?}");
        assert!(shown.contains("aws_secret_access_key") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn retry_policy_is_kept() {
        let o = StorageOptions::default().retry(2, Duration::from_secs(3)).backoff(
            Duration::from_millis(1),
            Duration::from_millis(5),
            3.0,
        );
        assert_eq!(o.max_retries(), 2);
        assert_eq!(o.retry_timeout(), Duration::from_secs(3));
        assert_eq!(o.retry_policy().base, 3.0);
    }
}
