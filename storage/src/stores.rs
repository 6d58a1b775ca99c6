//! One `object_store` client per remote store (scheme and bucket or host), each store kind
//! behind its cargo feature (`s3`, `gcs`, `azure`, `http`), so that a build without them
//! pulls no HTTP or TLS stack. A URL of a kind this build lacks is refused naming the feature.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::multipart::MultipartStore;

use crate::error::{Result, StorageError};
use crate::options::StorageOptions;
use crate::url::{Location, Scheme};

/// The remote store kinds this build has, for messages (`s3, http`, or `none`).
pub(crate) fn enabled() -> String {
    let kinds: Vec<&str> = [
        (cfg!(feature = "s3"), "s3"),
        (cfg!(feature = "gcs"), "gcs"),
        (cfg!(feature = "azure"), "azure"),
        (cfg!(feature = "http"), "http"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if kinds.is_empty() { "none: enable the s3, gcs, azure or http feature".to_owned() } else { kinds.join(", ") }
}

/// Whether `key` configures a store kind of this build (or every HTTP client), or names a
/// store kind this build lacks by its prefix (`aws_`, `google_`, `azure_`).
pub(crate) fn knows_key(key: &str) -> bool {
    let known = false;
    #[cfg(feature = "s3")]
    let known = known || key.parse::<object_store::aws::AmazonS3ConfigKey>().is_ok();
    #[cfg(feature = "gcs")]
    let known = known || key.parse::<object_store::gcp::GoogleConfigKey>().is_ok();
    #[cfg(feature = "azure")]
    let known = known || key.parse::<object_store::azure::AzureConfigKey>().is_ok();
    #[cfg(feature = "cloud")]
    let known = known || key.parse::<object_store::ClientConfigKey>().is_ok();
    // A key of a store kind this build lacks cannot be checked, and is harmless: a URL of
    // that kind is refused anyway, naming the feature. Keep it, so that one program's
    // settings work in builds with and without the feature.
    #[cfg(not(feature = "s3"))]
    let known = known || key.starts_with("aws_");
    #[cfg(not(feature = "gcs"))]
    let known = known || key.starts_with("google_");
    #[cfg(not(feature = "azure"))]
    let known = known || key.starts_with("azure_");
    let _ = key;
    known
}

/// Installs the TLS crypto provider the HTTP clients use (ring: no C build). Failing means
/// another provider is already installed, which serves as well.
pub(crate) fn install_tls_provider() {
    #[cfg(feature = "cloud")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(feature = "cloud")]
fn retry_config(options: &StorageOptions) -> object_store::RetryConfig {
    let r = options.retry_policy();
    object_store::RetryConfig {
        max_retries: r.max_retries,
        retry_timeout: r.timeout,
        backoff: object_store::BackoffConfig { init_backoff: r.init_backoff, max_backoff: r.max_backoff, base: r.base },
    }
}

/// Ember's defaults for the client options that neither the environment nor the storage
/// options set (see [`crate::options`]): `object_store` has no read timeout, so a silent
/// endpoint held each try for its whole 30 s request timeout.
#[cfg(feature = "cloud")]
fn client_defaults() -> [(object_store::ClientConfigKey, String); 2] {
    use object_store::ClientConfigKey as C;
    let secs = |d: std::time::Duration| format!("{}ms", d.as_millis());
    [
        (C::ConnectTimeout, secs(crate::options::DEFAULT_CONNECT_TIMEOUT)),
        (C::ReadTimeout, secs(crate::options::DEFAULT_READ_TIMEOUT)),
    ]
}

/// The options for `builder` with Ember's client defaults for what the user left unset:
/// `is_set` says whether the builder (from the environment) or `options` already set a key.
#[cfg(feature = "cloud")]
fn with_defaults<'a>(
    options: &'a StorageOptions,
    is_set: impl Fn(object_store::ClientConfigKey) -> bool,
) -> impl Iterator<Item = (String, String)> + 'a {
    let given = |key: &object_store::ClientConfigKey| {
        options.options().iter().any(|(k, _)| k.parse::<object_store::ClientConfigKey>().ok().as_ref() == Some(key))
    };
    let defaults: Vec<(String, String)> = client_defaults()
        .into_iter()
        .filter(|(key, _)| !given(key) && !is_set(*key))
        .map(|(key, value)| (key.as_ref().to_owned(), value))
        .collect();
    defaults.into_iter().chain(options.options().iter().cloned())
}

/// A remote store's client, as the object store it is and, for stores with multipart
/// uploads that can be addressed by id (S3, GCS, Azure), as a [`MultipartStore`] too: the
/// output commit records each upload's id so that a later save can abort the uploads of a
/// writer that was killed.
pub(crate) struct Built {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) multipart: Option<Arc<dyn MultipartStore>>,
}

impl Built {
    /// A store whose multipart uploads are addressed by id.
    #[cfg_attr(not(any(feature = "s3", feature = "gcs", feature = "azure")), allow(dead_code))]
    pub(crate) fn multipart<S: ObjectStore + MultipartStore>(store: S) -> Self {
        let store = Arc::new(store);
        Built { store: Arc::clone(&store) as Arc<dyn ObjectStore>, multipart: Some(store) }
    }

    /// A store without addressable multipart uploads.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn plain<S: ObjectStore>(store: S) -> Self {
        Built { store: Arc::new(store), multipart: None }
    }
}

/// The refusal of a URL whose store kind this build lacks.
#[cfg_attr(all(feature = "s3", feature = "gcs", feature = "azure", feature = "http"), allow(dead_code))]
fn disabled(url: &str, feature: &'static str) -> StorageError {
    StorageError::FeatureDisabled { url: crate::error::shown(url), feature }
}

/// Builds the client for the remote store of `location` (`url` is for
/// errors). Cost: reads the environment; no I/O.
///
/// # Errors
/// [`StorageError::StoreConfig`] naming `url` when the builder refuses
/// its configuration (a missing region, a malformed endpoint, ...);
/// [`StorageError::MissingCredentials`] when nothing says where its credentials come from;
/// [`StorageError::FeatureDisabled`] for a store kind this build lacks.
pub(crate) fn build_store(options: &StorageOptions, location: &Location, url: &str) -> Result<Built> {
    let store_url = location.store_url();
    match location.key.scheme {
        Scheme::S3 => s3(options, store_url, url),
        Scheme::Gcs => gcs(options, store_url, url),
        Scheme::Azure => azure(options, store_url, url),
        Scheme::Http | Scheme::Https => http(options, store_url, url),
        Scheme::File | Scheme::Memory => {
            unreachable!("local and in-memory stores are registered when the Storage is created")
        }
    }
}

#[cfg(feature = "s3")]
fn s3(options: &StorageOptions, store_url: String, url: &str) -> Result<Built> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    let fail = |source| StorageError::store_config(url, source);
    let env = AmazonS3Builder::from_env();
    let set = |key| env.get_config_value(&AmazonS3ConfigKey::Client(key)).is_some();
    let opts: Vec<(String, String)> = with_defaults(options, set).collect();
    let builder = opts.into_iter().fold(env, |b, (k, v)| match k.parse() {
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
    Ok(Built::multipart(builder.with_url(store_url).with_retry(retry_config(options)).build().map_err(fail)?))
}

#[cfg(not(feature = "s3"))]
fn s3(_: &StorageOptions, _: String, url: &str) -> Result<Built> {
    Err(disabled(url, "s3"))
}

#[cfg(feature = "gcs")]
fn gcs(options: &StorageOptions, store_url: String, url: &str) -> Result<Built> {
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    let fail = |source| StorageError::store_config(url, source);
    let env = GoogleCloudStorageBuilder::from_env();
    let set = |key| env.get_config_value(&GoogleConfigKey::Client(key)).is_some();
    let opts: Vec<(String, String)> = with_defaults(options, set).collect();
    let builder = opts.into_iter().fold(env, |b, (k, v)| match k.parse() {
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
    Ok(Built::multipart(builder.with_url(store_url).with_retry(retry_config(options)).build().map_err(fail)?))
}

#[cfg(not(feature = "gcs"))]
fn gcs(_: &StorageOptions, _: String, url: &str) -> Result<Built> {
    Err(disabled(url, "gcs"))
}

#[cfg(feature = "azure")]
fn azure(options: &StorageOptions, store_url: String, url: &str) -> Result<Built> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    let fail = |source| StorageError::store_config(url, source);
    let env = MicrosoftAzureBuilder::from_env();
    let set = |key| env.get_config_value(&AzureConfigKey::Client(key)).is_some();
    let opts: Vec<(String, String)> = with_defaults(options, set).collect();
    let builder = opts.into_iter().fold(env, |b, (k, v)| match k.parse() {
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
    Ok(Built::multipart(builder.with_url(store_url).with_retry(retry_config(options)).build().map_err(fail)?))
}

#[cfg(not(feature = "azure"))]
fn azure(_: &StorageOptions, _: String, url: &str) -> Result<Built> {
    Err(disabled(url, "azure"))
}

#[cfg(feature = "http")]
fn http(options: &StorageOptions, store_url: String, url: &str) -> Result<Built> {
    use object_store::http::HttpBuilder;
    let fail = |source| StorageError::store_config(url, source);
    // HTTP stores read no environment: the defaults go first, any option wins.
    let opts = with_defaults(options, |_| false);
    let builder = opts.fold(HttpBuilder::new(), |b, (k, v)| match k.parse() {
        Ok(key) => b.with_config(key, v),
        Err(_) => b,
    });
    Ok(Built::plain(builder.with_url(store_url).with_retry(retry_config(options)).build().map_err(fail)?))
}

#[cfg(not(feature = "http"))]
fn http(_: &StorageOptions, _: String, url: &str) -> Result<Built> {
    Err(disabled(url, "http"))
}

/// What to set for S3 when nothing says where credentials come from.
#[cfg(feature = "s3")]
const S3_CREDENTIALS: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the storage options \
    aws_access_key_id and aws_secret_access_key), AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; AWS_SKIP_SIGNATURE=true for a public bucket; on EC2, \
    AWS_METADATA_ENDPOINT=http://169.254.169.254 to use the instance's role (AWS_PROFILE and \
    ~/.aws/credentials are not read)";

/// What to set for Google Cloud Storage.
#[cfg(feature = "gcs")]
const GCS_CREDENTIALS: &str = "set GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT) to a \
    service account key file, GOOGLE_SERVICE_ACCOUNT_KEY to its JSON, or run `gcloud auth \
    application-default login`; GOOGLE_SKIP_SIGNATURE=true for a public bucket";

/// What to set for Azure.
#[cfg(feature = "azure")]
const AZURE_CREDENTIALS: &str = "set AZURE_STORAGE_ACCOUNT_KEY, a SAS token (AZURE_STORAGE_SAS_KEY), \
    AZURE_CLIENT_ID with AZURE_CLIENT_SECRET and AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE, \
    AZURE_USE_AZURE_CLI=true, or AZURE_STORAGE_USE_EMULATOR=true; AZURE_SKIP_SIGNATURE=true for a \
    public container";

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn missing(url: &str, hint: &'static str) -> StorageError {
    StorageError::MissingCredentials { url: crate::error::shown(url), hint }
}

/// Whether `gcloud auth application-default login` left credentials where the GCS client
/// looks for them.
#[cfg(feature = "gcs")]
fn gcloud_default_credentials() -> bool {
    std::env::var_os("HOME").is_some_and(|home| {
        std::path::Path::new(&home).join(".config/gcloud/application_default_credentials.json").is_file()
    })
}

#[cfg(all(test, feature = "cloud"))]
mod tests {
    use super::*;

    #[test]
    fn client_defaults_fill_only_what_is_unset() {
        let keys = |options: &StorageOptions, set: &dyn Fn(object_store::ClientConfigKey) -> bool| {
            with_defaults(options, set).collect::<Vec<_>>()
        };
        let none = StorageOptions::default();
        let all = keys(&none, &|_| false);
        assert_eq!(
            all,
            [("connect_timeout".to_owned(), "5000ms".to_owned()), ("read_timeout".into(), "5000ms".into())]
        );
        let given = StorageOptions::default().option("read_timeout", "30s");
        assert_eq!(keys(&given, &|_| false)[1..], [("read_timeout".to_owned(), "30s".to_owned())]);
        let from_env = keys(&none, &|k| k == object_store::ClientConfigKey::ReadTimeout);
        assert_eq!(from_env.len(), 1, "{from_env:?}");
    }
}
