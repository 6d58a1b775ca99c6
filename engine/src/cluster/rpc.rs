//! The generated gRPC stubs and the one place their transport settings live: message size
//! limits, HTTP/2 frame and window sizes, keepalive, `TCP_NODELAY`.
//!
//! The stubs come from `engine/build.rs` (tonic-build's manual builder: Rust definitions, no
//! `.proto`). Trap avoided here: tonic's default 4 MiB decode limit applies to every streamed
//! message and its encode side is unlimited, so both limits are set explicitly on every
//! client and server; hyper's 16 KiB HTTP/2 frames halve TLS streaming throughput, so the
//! client's frames are raised to 1 MiB.

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Server};

use super::auth::SendSecret;

use super::{CHUNK_MESSAGE_LIMIT, CONTROL_MESSAGE_LIMIT};

/// The driver's service: `ember.cluster.v1.Driver`.
#[allow(missing_docs, clippy::all)]
pub mod driver {
    include!(concat!(env!("OUT_DIR"), "/ember.cluster.v1.Driver.rs"));
}

/// Every executor's shuffle service: `ember.cluster.v1.Shuffle`.
#[allow(missing_docs, clippy::all)]
pub mod shuffle {
    include!(concat!(env!("OUT_DIR"), "/ember.cluster.v1.Shuffle.rs"));
}

/// A client of the driver's service that sends the secret on every call.
pub type DriverChannel = driver::driver_client::DriverClient<InterceptedService<Channel, SendSecret>>;

/// A client of an executor's shuffle service that sends the secret on every call.
pub type ShuffleChannel = shuffle::shuffle_client::ShuffleClient<InterceptedService<Channel, SendSecret>>;

/// How long a connection attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest message each side accepts on a control call (registration, launches,
/// reports, job outcomes).
pub const fn control_limit() -> usize {
    CONTROL_MESSAGE_LIMIT
}

/// The largest message a shuffle fetch carries (one chunk and its header).
pub const fn chunk_limit() -> usize {
    CHUNK_MESSAGE_LIMIT
}

/// A server with Ember's HTTP/2 settings: keepalive pings every `keepalive` (a dead peer is
/// noticed within twice that), bounded headers (what is read before the secret is checked),
/// `TCP_NODELAY`.
pub fn server(keepalive: Duration) -> Server {
    Server::builder()
        .http2_keepalive_interval(Some(keepalive))
        .http2_keepalive_timeout(Some(keepalive))
        .http2_max_header_list_size(16 << 10)
        .initial_stream_window_size(8 << 20)
        .initial_connection_window_size(16 << 20)
        .tcp_nodelay(true)
}

/// A lazily connecting channel to `url` (`http://HOST:PORT` or `https://…` with `tls`) with
/// Ember's HTTP/2 settings.
///
/// # Errors
/// The transport's error for a malformed URL or TLS configuration.
pub fn endpoint(
    url: &str,
    keepalive: Duration,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Result<Endpoint, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(keepalive)
        .keep_alive_timeout(keepalive)
        .keep_alive_while_idle(true)
        .initial_stream_window_size(8 << 20)
        .initial_connection_window_size(16 << 20)
        .max_frame_size(1 << 20)
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(endpoint)
}

/// A channel to `endpoint` that connects on first use.
pub fn lazy(endpoint: &Endpoint) -> Channel {
    endpoint.connect_lazy()
}
