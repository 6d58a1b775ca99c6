//! The storage layer's one error type: what failed, on which URL, and why.
//!
//! Every variant that concerns a location carries the URL (in the display
//! form the user gave or that listing produced), so a message printed far
//! from the failing call still says where. Causes from `object_store` and
//! the codec are kept as [`std::error::Error::source`] values and are also
//! quoted in the message, so printing only `{}` loses nothing.
//!
//! Credentials inside a URL (`s3://key:secret@bucket/…`, `https://user:pass@host/…`) never
//! reach a message: the constructors keep URLs and causes with them redacted
//! ([`crate::redact`]), and the messages redact again whatever an error was built from.

use std::fmt;

use crate::url::redact;

/// `Result` with [`StorageError`] as the default error type.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Everything that can go wrong while touching bytes at rest.
///
/// The set of variants is closed for the engine to match on; new variants
/// may be added (the enum is `#[non_exhaustive]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Nothing exists at `url` (no object, no directory, no object under
    /// the prefix).
    #[error("nothing found at {shown}: check the path or URL (and the current directory for relative paths)", shown = redact(.url))]
    NotFound {
        /// The URL that was looked up.
        url: String,
    },

    /// An output location already holds data and overwriting was not asked for.
    #[error("output {shown} already exists: delete it, choose another location, or ask for overwrite", shown = redact(.url))]
    AlreadyExists {
        /// The output URL.
        url: String,
    },

    /// Another save holds the output's claim: two saves to one output cannot run at once.
    #[error(
        "output {url} is being written by another save ({holder}): wait for it to finish; if its \
         process is gone, Storage::clean_output (Context::clean_output) removes what it left"
    )]
    OutputBusy {
        /// The output URL.
        url: String,
        /// Who holds it: the save's id, process, host and age.
        holder: String,
    },

    /// The directory is an output an Ember save began and did not commit: reading it would
    /// give some parts and not others.
    #[error(
        "incomplete output {url}: the job writing it did not finish ({detail}); rerun the save \
         (SaveMode::Overwrite replaces it), or remove what it left with Context::clean_output"
    )]
    IncompleteOutput {
        /// The output URL.
        url: String,
        /// What was found: the writer's claim, or temporary files without a manifest.
        detail: String,
    },

    /// An overwrite would replace data the same job reads (refused before anything runs, as
    /// Spark refuses it).
    #[error(
        "cannot overwrite {url}: the job reads {input} from it; write to another location, then \
         replace the old one"
    )]
    OverwritesInput {
        /// The output URL.
        url: String,
        /// The input file under it.
        input: String,
    },

    /// The URL names a scheme this build cannot reach.
    #[error(
        "unsupported URL scheme {scheme:?} in {shown}: supported are bare paths, file://, memory://, s3:// (s3a://), gs://, az://, http:// and https://", shown = redact(.url))]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// The scheme part of the URL (before `://`).
        scheme: String,
    },

    /// The store for `url` could not be set up from the environment and
    /// the context's storage options.
    #[error(
        "cannot set up the store for {shown}: {cause}; check the AWS_*/GOOGLE_*/AZURE_* environment \
         variables and the context's storage options", shown = redact(.url), cause = redact(&.source.to_string()))]
    StoreConfig {
        /// The URL whose store was being created.
        url: String,
        /// The builder's complaint.
        source: object_store::Error,
    },

    /// `url` names a store kind this build of Ember was compiled without.
    #[error("{shown} needs the `{feature}` feature of ember (ember-storage), which this build was compiled without", shown = redact(.url))]
    FeatureDisabled {
        /// The URL as given.
        url: String,
        /// The cargo feature that adds the store kind.
        feature: &'static str,
    },

    /// No credentials are configured for the remote store of `url`: answered before any
    /// request, instead of the cloud SDK's metadata-service lookup failing after seconds.
    #[error("no credentials for {shown}: {hint}", shown = redact(.url))]
    MissingCredentials {
        /// The URL whose store was being created.
        url: String,
        /// What to set.
        hint: &'static str,
    },

    /// A storage option key is unknown.
    #[error("invalid storage option {key:?}: {reason}")]
    InvalidOption {
        /// The option key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The store refused access to `url` (bad or missing credentials, or no permission).
    #[error("permission denied on {shown}: {cause}; check the credentials and the permissions of the bucket", shown = redact(.url), cause = redact(&.source.to_string()))]
    PermissionDenied {
        /// The URL being accessed.
        url: String,
        /// The store's error.
        source: object_store::Error,
    },

    /// A file's contents are not in the expected format: not written by
    /// this format or version, truncated, or corrupt.
    #[error("{shown} is not a valid {format} file: {why}", shown = redact(.url), why = redact(.reason))]
    Format {
        /// The file.
        url: String,
        /// The expected format (for example "Ember object").
        format: &'static str,
        /// What was wrong.
        reason: String,
    },

    /// The URL or path cannot be turned into a storage location.
    #[error("invalid URL or path {shown}: {why}", shown = redact(.url), why = redact(.reason))]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The object store failed on `url`.
    #[error("I/O error on {shown}: {cause}", shown = redact(.url), cause = redact(&.source.to_string()))]
    Io {
        /// The URL being read, written, listed or deleted.
        url: String,
        /// The store's error.
        source: object_store::Error,
    },

    /// Encoding or decoding a value failed.
    #[error("codec error: {source}")]
    Codec {
        /// What the codec reported.
        #[from]
        source: CodecError,
    },

    /// An output job was committed while a partition had no successful attempt.
    #[error(
        "cannot commit {shown}: partition {partition} has no successfully written attempt; \
         every partition's accepted attempt must be passed to commit", shown = redact(.url))]
    MissingPart {
        /// The output URL.
        url: String,
        /// The partition without a recorded attempt.
        partition: usize,
    },

    /// A blocking storage method was called from inside an async runtime,
    /// where blocking would stall (or deadlock) that runtime's worker.
    #[error(
        "blocking storage call on {shown} made from inside an async runtime: \
         call it from a plain thread or inside tokio::task::spawn_blocking", shown = redact(.url))]
    CalledFromAsync {
        /// The URL of the refused call.
        url: String,
    },

    /// The storage layer's own I/O runtime could not be started.
    #[error("cannot start the storage I/O runtime: {source}")]
    Runtime {
        /// The operating system's error (usually thread creation).
        source: std::io::Error,
    },
}

impl StorageError {
    /// The URL this error concerns, if it concerns one. Cost: O(1).
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::NotFound { url }
            | Self::AlreadyExists { url }
            | Self::OutputBusy { url, .. }
            | Self::IncompleteOutput { url, .. }
            | Self::OverwritesInput { url, .. }
            | Self::UnsupportedScheme { url, .. }
            | Self::InvalidUrl { url, .. }
            | Self::Io { url, .. }
            | Self::MissingPart { url, .. }
            | Self::StoreConfig { url, .. }
            | Self::MissingCredentials { url, .. }
            | Self::FeatureDisabled { url, .. }
            | Self::PermissionDenied { url, .. }
            | Self::Format { url, .. }
            | Self::CalledFromAsync { url } => Some(url),
            Self::Codec { .. } | Self::Runtime { .. } | Self::InvalidOption { .. } => None,
        }
    }

    /// Whether the error means "nothing there": [`StorageError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Maps an `object_store` error on `url`: its `NotFound` becomes
    /// [`StorageError::NotFound`], its `AlreadyExists` becomes
    /// [`StorageError::AlreadyExists`], anything else [`StorageError::Io`].
    pub(crate) fn from_store(url: &str, source: object_store::Error) -> Self {
        match source {
            object_store::Error::NotFound { .. } => Self::NotFound { url: shown(url) },
            object_store::Error::AlreadyExists { .. } => Self::AlreadyExists { url: shown(url) },
            source => Self::io(url, source),
        }
    }

    /// Maps an error reading the local file at `url`: a missing file is
    /// [`StorageError::NotFound`], anything else [`StorageError::Io`].
    pub fn local(url: &str, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound { url: shown(url) },
            _ => Self::io(url, object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(source) }),
        }
    }

    /// Wraps an `object_store` error on `url` as [`StorageError::Io`]
    /// (or [`StorageError::PermissionDenied`] for an access error), for
    /// steps where "not found" is not the user's doing.
    pub(crate) fn io(url: &str, source: object_store::Error) -> Self {
        match source {
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                Self::PermissionDenied { url: shown(url), source: redacted(source) }
            }
            source => Self::Io { url: shown(url), source: redacted(source) },
        }
    }

    /// Builds [`StorageError::StoreConfig`].
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))]
    pub(crate) fn store_config(url: &str, source: object_store::Error) -> Self {
        Self::StoreConfig { url: shown(url), source: redacted(source) }
    }

    /// Builds [`StorageError::Format`].
    pub fn format(url: &str, format: &'static str, reason: impl fmt::Display) -> Self {
        Self::Format { url: shown(url), format, reason: redact(&reason.to_string()).into_owned() }
    }

    /// Builds [`StorageError::OutputBusy`].
    pub(crate) fn busy(url: &str, holder: impl Into<String>) -> Self {
        Self::OutputBusy { url: shown(url), holder: holder.into() }
    }

    /// Builds [`StorageError::IncompleteOutput`].
    pub(crate) fn incomplete(url: &str, detail: impl Into<String>) -> Self {
        Self::IncompleteOutput { url: shown(url), detail: detail.into() }
    }

    /// Builds [`StorageError::OverwritesInput`]: the output `url` holds the job's input file
    /// `input`.
    pub fn overwrites_input(url: &str, input: &str) -> Self {
        Self::OverwritesInput { url: shown(url), input: shown(input) }
    }

    /// Builds [`StorageError::InvalidUrl`].
    pub(crate) fn invalid(url: &str, reason: impl fmt::Display) -> Self {
        Self::InvalidUrl { url: shown(url), reason: redact(&reason.to_string()).into_owned() }
    }
}

/// `url` as errors keep it: with its credentials redacted ([`redact`]).
pub(crate) fn shown(url: &str) -> String {
    redact(url).into_owned()
}

/// `source` itself, or, when its message shows a URL's credentials (an HTTP client's error
/// quoting the request URL), a generic error carrying that message redacted: the cause chain
/// of an error never holds a secret either.
fn redacted(source: object_store::Error) -> object_store::Error {
    let text = source.to_string();
    match redact(&text) {
        std::borrow::Cow::Borrowed(_) => source,
        std::borrow::Cow::Owned(clean) => object_store::Error::Generic { store: "object store", source: clean.into() },
    }
}

/// The likely cause of a record type that bincode cannot round-trip, quoted in every codec
/// error that concerns the type: the serde attributes that need a self-describing format.
pub const NOT_ROUND_TRIP_HINT: &str = "the likely cause is a serde attribute that only a self-describing \
     format such as JSON can round-trip: #[serde(skip_serializing_if = ...)] (a field sometimes not written), \
     #[serde(flatten)], #[serde(untagged)] or an internally tagged enum (#[serde(tag = ...)]), or a custom \
     Deserialize that calls deserialize_any; Ember's binary codec (bincode) writes every field by position, \
     so remove the attribute, or map the records to a plain type before they are shuffled, cached at a \
     serialized level, checkpointed or saved as object files";

/// Why the codec (see [`crate::codec`]) refused a value or a buffer. Every variant about a
/// value names its type ([`std::any::type_name`]); those a non-round-tripping type causes
/// also quote [`NOT_ROUND_TRIP_HINT`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A value could not be encoded (its `Serialize` returned an error, or gave a map or
    /// sequence of unknown length, as `#[serde(flatten)]` does).
    #[error("cannot encode a value of {type_name}: {source}; {NOT_ROUND_TRIP_HINT}")]
    Encode {
        /// The type being encoded.
        type_name: &'static str,
        /// bincode's error.
        #[source]
        source: bincode::error::EncodeError,
    },

    /// The bytes are not a valid encoding of the expected type: truncated, corrupt, written
    /// as another type, over the decoding size limit, or the type's `Deserialize` asks for a
    /// self-describing format (`deserialize_any`, as `#[serde(untagged)]` enums do).
    #[error("cannot decode a value of {type_name}: {}; {NOT_ROUND_TRIP_HINT}", describe_decode(source))]
    Decode {
        /// The type being decoded.
        type_name: &'static str,
        /// bincode's error.
        #[source]
        source: bincode::error::DecodeError,
    },

    /// A framed record decoded from fewer bytes than its frame holds: the bytes were not
    /// written as one value of this type.
    #[error(
        "a record of {type_name} decoded from {consumed} of the {len} bytes it was written as, \
         so its encoding does not round-trip; {NOT_ROUND_TRIP_HINT}"
    )]
    Frame {
        /// The type being decoded.
        type_name: &'static str,
        /// Bytes the decoder used.
        consumed: usize,
        /// Bytes of the frame.
        len: usize,
    },

    /// The round-trip check of a record failed: decoding its bytes and encoding the result
    /// gave other bytes.
    #[error(
        "a value of {type_name} does not survive encoding: its {encoded} bytes decode to a value \
         that encodes as {reencoded} other bytes; {NOT_ROUND_TRIP_HINT}"
    )]
    RoundTrip {
        /// The type being encoded.
        type_name: &'static str,
        /// Length of the first encoding.
        encoded: usize,
        /// Length of the encoding of what it decoded to.
        reencoded: usize,
    },

    /// Framed records end inside a frame, or a frame length is corrupt: the data was cut
    /// short or damaged at rest.
    #[error("encoded records of {type_name} are truncated or corrupt: {reason}")]
    Truncated {
        /// The type being decoded.
        type_name: &'static str,
        /// What was found.
        reason: String,
    },

    /// Reading a stream of encoded values (a spilled run, a shuffle file) failed.
    #[error("cannot read encoded values: {0}")]
    Read(#[source] std::io::Error),

    /// Writing encoded values to a stream failed.
    #[error("cannot write encoded values: {0}")]
    Write(#[source] std::io::Error),

    /// A buffer held a complete value followed by bytes that belong to none.
    #[error(
        "{trailing} trailing bytes after a complete value of {type_name} ({consumed} bytes): \
         the buffer holds more than one value or another type; {NOT_ROUND_TRIP_HINT}"
    )]
    TrailingBytes {
        /// The type being decoded.
        type_name: &'static str,
        /// Bytes the value used.
        consumed: usize,
        /// Bytes left over.
        trailing: usize,
    },
}

impl CodecError {
    /// The type of the value the error concerns, when it concerns one. Cost: O(1).
    pub fn type_name(&self) -> Option<&'static str> {
        match self {
            Self::Encode { type_name, .. }
            | Self::Decode { type_name, .. }
            | Self::Frame { type_name, .. }
            | Self::RoundTrip { type_name, .. }
            | Self::Truncated { type_name, .. }
            | Self::TrailingBytes { type_name, .. } => Some(type_name),
            Self::Read(_) | Self::Write(_) => None,
        }
    }
}

/// bincode's decode error, with what `deserialize_any` means for a user's type.
fn describe_decode(source: &bincode::error::DecodeError) -> String {
    use bincode::serde::DecodeError as Serde;
    match source {
        bincode::error::DecodeError::Serde(Serde::AnyNotSupported | Serde::IgnoredAnyNotSupported) => {
            "its Deserialize needs a self-describing format (it calls deserialize_any, as an \
             #[serde(untagged)] or internally tagged enum does), which bincode does not support"
                .to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_message_names_the_url_and_says_what_to_do() {
        let err = StorageError::from_store(
            "file:///data/in.txt",
            object_store::Error::NotFound { path: "data/in.txt".into(), source: "gone".into() },
        );
        assert!(err.is_not_found());
        assert_eq!(err.url(), Some("file:///data/in.txt"));
        let msg = err.to_string();
        assert!(msg.contains("file:///data/in.txt"), "{msg}");
        assert!(msg.contains("check the path"), "{msg}");
    }

    #[test]
    fn io_error_keeps_its_source() {
        let err = StorageError::from_store(
            "memory://a/b",
            object_store::Error::Generic { store: "test", source: "disk on fire".into() },
        );
        let source = std::error::Error::source(&err).expect("Io carries its source");
        assert!(source.to_string().contains("disk on fire"));
        assert!(err.to_string().contains("memory://a/b"));
    }

    #[test]
    fn errors_are_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<StorageError>();
        check::<CodecError>();
    }
}
