//! A remote store with no credentials configured is refused at once, naming what to set,
//! instead of the SDK asking a metadata service for seconds; a mistyped URL gets a hint.

use crate::storage;

/// Set in the child process this test re-runs itself in, with an environment of its own.
#[cfg(all(feature = "s3", feature = "gcs", feature = "azure"))]
const CHILD: &str = "EMBER_CREDENTIALS_CHILD";

#[test]
#[cfg(all(feature = "s3", feature = "gcs", feature = "azure"))]
fn no_credentials_for_s3_gcs_or_azure_is_refused_at_once_with_what_to_set() {
    if std::env::var_os(CHILD).is_none() {
        // The suite may run with a test server's AWS_* variables set: check in a child whose
        // environment holds nothing of the kind.
        let status = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "credentials::no_credentials_for_s3_gcs_or_azure_is_refused_at_once_with_what_to_set"])
            .env_clear()
            .env(CHILD, "1")
            .env("HOME", std::env::temp_dir())
            .status()
            .expect("the child test runs");
        assert!(status.success(), "the check failed in the child process (its output is above)");
        return;
    }
    use std::time::{Duration, Instant};

    use ember_storage::StorageError;

    let storage = storage();
    for (url, needle) in [
        ("s3://some-bucket/in/x.txt", "AWS_ACCESS_KEY_ID"),
        ("gs://some-bucket/in/x.txt", "GOOGLE_APPLICATION_CREDENTIALS"),
        ("az://some-container/in/x.txt", "AZURE_STORAGE_ACCOUNT_KEY"),
    ] {
        let started = Instant::now();
        let err = storage.get(url).expect_err("no credentials");
        assert!(started.elapsed() < Duration::from_secs(1), "answered at once, not after a metadata lookup");
        assert!(matches!(err, StorageError::MissingCredentials { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(url) && text.contains(needle) && text.contains("SKIP_SIGNATURE"), "{text}");
    }
}

#[test]
fn a_mistyped_url_is_refused_with_what_was_meant() {
    let err = storage().list_inputs("s3//bucket/in").expect_err("a typo");
    assert!(err.to_string().contains("did you mean s3://bucket/in?"), "{err}");
}

#[test]
#[cfg(not(feature = "s3"))]
fn a_store_kind_left_out_of_the_build_names_its_feature() {
    let err = storage().get("s3://bucket/x").expect_err("no s3 feature");
    assert!(err.to_string().contains("needs the `s3` feature"), "{err}");
}
