//! Store configuration: per-context options, the retry policy, and building one client per store.
//!
//! Remote stores are configured the way `object_store` users already do:
//! first from the environment (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, `GOOGLE_*`,
//! `AZURE_*`), then from the options given to [`StorageOptions::option`],
//! which win. Option keys are `object_store`'s configuration keys
//! (`aws_endpoint`, `aws_allow_http`, `google_service_account`,
//! `azure_storage_account_name`, client keys such as `timeout` or
//! `allow_http`, ...). Each option is offered to every store kind; a
//! store ignores the keys it does not know, but a key that no store knows
//! is an error when the [`crate::Storage`] is created.

use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use crate::error::{Result, StorageError};
use crate::url::{Location, Scheme};

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
///     .option("aws_region", "eu-west-1")
///     .retry(3, Duration::from_secs(20));
/// let storage = Storage::with_options(options)?;
/// # Ok::<(), ember_storage::StorageError>(())
/// ```
#[derive(Clone)]
pub struct StorageOptions {
    options: Vec<(String, String)>,
    retry: RetryConfig,
}

impl Default for StorageOptions {
    /// No options (the environment alone), and `object_store`'s default
    /// retry policy: up to 10 retries within 180 s, backoff from 100 ms to
    /// 15 s, doubling.
    fn default() -> Self {
        Self { options: Vec::new(), retry: RetryConfig::default() }
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
        self.retry.retry_timeout = timeout;
        self
    }

    /// The backoff between retries: `init` first, multiplied by `base`
    /// each time, never more than `max`.
    pub fn backoff(mut self, init: Duration, max: Duration, base: f64) -> Self {
        self.retry.backoff = BackoffConfig { init_backoff: init, max_backoff: max, base };
        self
    }

    /// The options set so far, keys in lower case, in order.
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    /// The retry policy.
    pub fn retry_config(&self) -> &RetryConfig {
        &self.retry
    }

    /// Checks that every option key is known to at least one store kind.
    ///
    /// # Errors
    /// [`StorageError::InvalidOption`] naming the first unknown key.
    pub(crate) fn validate(&self) -> Result<()> {
        for (key, _) in &self.options {
            let known = key.parse::<AmazonS3ConfigKey>().is_ok()
                || key.parse::<GoogleConfigKey>().is_ok()
                || key.parse::<AzureConfigKey>().is_ok()
                || key.parse::<ClientConfigKey>().is_ok();
            if !known {
                return Err(StorageError::InvalidOption {
                    key: key.clone(),
                    reason: "not an object_store configuration key for S3, GCS, Azure or HTTP \
                             (for example aws_endpoint, aws_region, allow_http, timeout)"
                        .to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Builds the client for the remote store of `location` (`url` is for
    /// errors). Cost: reads the environment; no I/O.
    ///
    /// # Errors
    /// [`StorageError::StoreConfig`] naming `url` when the builder refuses
    /// its configuration (a missing region, a malformed endpoint, ...).
    pub(crate) fn build_store(&self, location: &Location, url: &str) -> Result<Box<dyn ObjectStore>> {
        let store_url = location.store_url();
        let fail = |source| StorageError::StoreConfig { url: url.to_owned(), source };
        let opts = self.options.iter();
        let store: Box<dyn ObjectStore> = match location.key.scheme {
            Scheme::S3 => {
                let builder = opts.fold(AmazonS3Builder::from_env(), |b, (k, v)| match k.parse() {
                    Ok(key) => b.with_config(key, v),
                    Err(_) => b,
                });
                use AmazonS3ConfigKey as K;
                let set = |key| builder.get_config_value(&key).is_some_and(|v| !v.is_empty());
                let unsigned = builder.get_config_value(&K::SkipSignature).is_some_and(|v| v == "true");
                let sources = [
                    K::AccessKeyId,
                    K::WebIdentityTokenFile,
                    K::ContainerCredentialsRelativeUri,
                    K::ContainerCredentialsFullUri,
                    K::MetadataEndpoint,
                ];
                if !unsigned && !sources.into_iter().any(set) {
                    return Err(missing(url, S3_CREDENTIALS));
                }
                Box::new(builder.with_url(store_url).with_retry(self.retry.clone()).build().map_err(fail)?)
            }
            Scheme::Gcs => {
                let builder = opts.fold(GoogleCloudStorageBuilder::from_env(), |b, (k, v)| match k.parse() {
                    Ok(key) => b.with_config(key, v),
                    Err(_) => b,
                });
                use GoogleConfigKey as K;
                let set = |key| builder.get_config_value(&key).is_some_and(|v| !v.is_empty());
                let unsigned = builder.get_config_value(&K::SkipSignature).is_some_and(|v| v == "true");
                let sources = [K::ServiceAccount, K::ServiceAccountKey, K::ApplicationCredentials];
                if !unsigned && !sources.into_iter().any(set) && !gcloud_default_credentials() {
                    return Err(missing(url, GCS_CREDENTIALS));
                }
                Box::new(builder.with_url(store_url).with_retry(self.retry.clone()).build().map_err(fail)?)
            }
            Scheme::Azure => {
                let builder = opts.fold(MicrosoftAzureBuilder::from_env(), |b, (k, v)| match k.parse() {
                    Ok(key) => b.with_config(key, v),
                    Err(_) => b,
                });
                use AzureConfigKey as K;
                let set = |key| builder.get_config_value(&key).is_some_and(|v| !v.is_empty() && v != "false");
                let sources = [
                    K::AccessKey,
                    K::ClientSecret,
                    K::SasKey,
                    K::Token,
                    K::UseEmulator,
                    K::SkipSignature,
                    K::FederatedTokenFile,
                    K::UseAzureCli,
                    K::MsiEndpoint,
                ];
                if !sources.into_iter().any(set) {
                    return Err(missing(url, AZURE_CREDENTIALS));
                }
                Box::new(builder.with_url(store_url).with_retry(self.retry.clone()).build().map_err(fail)?)
            }
            Scheme::Http | Scheme::Https => {
                let builder = opts.fold(HttpBuilder::new(), |b, (k, v)| match k.parse() {
                    Ok(key) => b.with_config(key, v),
                    Err(_) => b,
                });
                Box::new(builder.with_url(store_url).with_retry(self.retry.clone()).build().map_err(fail)?)
            }
            Scheme::File | Scheme::Memory => {
                unreachable!("local and in-memory stores are registered when the Storage is created")
            }
        };
        Ok(store)
    }
}

/// What to set for S3 when nothing says where credentials come from.
const S3_CREDENTIALS: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the storage options \
    aws_access_key_id and aws_secret_access_key), AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; AWS_SKIP_SIGNATURE=true for a public bucket; on EC2, \
    AWS_METADATA_ENDPOINT=http://169.254.169.254 to use the instance's role (AWS_PROFILE and \
    ~/.aws/credentials are not read)";

/// What to set for Google Cloud Storage.
const GCS_CREDENTIALS: &str = "set GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT) to a \
    service account key file, GOOGLE_SERVICE_ACCOUNT_KEY to its JSON, or run `gcloud auth \
    application-default login`; GOOGLE_SKIP_SIGNATURE=true for a public bucket";

/// What to set for Azure.
const AZURE_CREDENTIALS: &str = "set AZURE_STORAGE_ACCOUNT_KEY, a SAS token (AZURE_STORAGE_SAS_KEY), \
    AZURE_CLIENT_ID with AZURE_CLIENT_SECRET and AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE, \
    AZURE_USE_AZURE_CLI=true, or AZURE_STORAGE_USE_EMULATOR=true; AZURE_SKIP_SIGNATURE=true for a \
    public container";

fn missing(url: &str, hint: &'static str) -> StorageError {
    StorageError::MissingCredentials { url: url.to_owned(), hint }
}

/// Whether `gcloud auth application-default login` left credentials where the GCS client
/// looks for them.
fn gcloud_default_credentials() -> bool {
    std::env::var_os("HOME").is_some_and(|home| {
        std::path::Path::new(&home).join(".config/gcloud/application_default_credentials.json").is_file()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
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
        assert_eq!(o.retry_config().max_retries, 2);
        assert_eq!(o.retry_config().retry_timeout, Duration::from_secs(3));
        assert_eq!(o.retry_config().backoff.base, 3.0);
    }
}
