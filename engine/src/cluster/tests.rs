//! The cluster services against real sockets on loopback: what a peer without the secret, with
//! garbage or with an oversized message gets, the build check, TLS, and that the service keeps
//! serving through all of it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;

use super::auth::{Secret, SendSecret};
use super::rpc::driver::driver_client::DriverClient;
use super::rpc::shuffle::shuffle_client::ShuffleClient;
use super::rpc::{DriverChannel, ShuffleChannel};
use super::wire::{ExecutorMsg, FetchRequest, MapStatusesRequest, Register};
use super::{ClusterBackend, DriverSetup, Liveness, TlsFiles};
use crate::broadcast::BroadcastRegistry;
use crate::executor::WorkRegistry;
use crate::ids::{PartitionId, ShuffleId};
use crate::shuffle::{LocalShuffleStore, MapOutputTracker, ShuffleStore};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// A driver service with no scheduler behind it (its events go nowhere).
fn driver(
    secret: &Secret,
    tls: Option<TlsFiles>,
) -> (ClusterBackend, crossbeam_channel::Receiver<crate::scheduler::driver::Inbox>) {
    let (inbox, events) = crossbeam_channel::unbounded();
    let setup = DriverSetup {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        secret: secret.clone(),
        tls,
        liveness: Liveness::default(),
        spawn: None,
        expected_executors: 0,
        parallelism: 1,
        message_limit: 1 << 20,
    };
    let backend = ClusterBackend::start(
        setup,
        "app-test".to_owned(),
        inbox,
        Arc::new(|_| {}),
        Arc::new(MapOutputTracker::default()),
        Arc::new(WorkRegistry::default()),
        Arc::new(BroadcastRegistry::default()),
    )
    .expect("the driver starts");
    (backend, events)
}

fn channel(rt: &tokio::runtime::Runtime, url: String, tls: Option<tonic::transport::ClientTlsConfig>) -> Channel {
    let endpoint = super::rpc::endpoint(&url, Duration::from_secs(1), tls).expect("an endpoint");
    let _guard = rt.enter();
    endpoint.connect_lazy()
}

fn authed(rt: &tokio::runtime::Runtime, addr: SocketAddr, secret: &Secret) -> DriverChannel {
    DriverClient::with_interceptor(channel(rt, format!("http://{addr}"), None), SendSecret::new(secret))
}

fn statuses(rt: &tokio::runtime::Runtime, client: &mut DriverChannel) -> Result<(), tonic::Status> {
    rt.block_on(client.map_statuses(MapStatusesRequest { shuffle: ShuffleId(0) })).map(|_| ())
}

/// Sends `bytes` on a raw connection and reads until the peer closes it (or 2 s pass).
fn garbage(addr: SocketAddr, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(2))).expect("a timeout");
    let _ = stream.write_all(bytes);
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
}

#[test]
fn the_driver_refuses_peers_without_the_secret_and_keeps_serving() {
    let rt = runtime();
    let secret = Secret::generate();
    let (backend, _events) = driver(&secret, None);
    let addr = backend.addr();
    let mut good = authed(&rt, addr, &secret);
    statuses(&rt, &mut good).expect("the right secret is served");

    let mut anonymous = DriverClient::new(channel(&rt, format!("http://{addr}"), None));
    let refused = rt.block_on(anonymous.map_statuses(MapStatusesRequest { shuffle: ShuffleId(0) })).unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    assert!(refused.message().contains("no secret"), "{refused}");

    let mut wrong = authed(&rt, addr, &Secret::generate());
    let refused = statuses(&rt, &mut wrong).unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");

    // Garbage instead of HTTP/2, and an HTTP/2 preface followed by garbage.
    garbage(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02 not grpc at all");
    let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    preface.extend(std::iter::repeat_n(0xAB, 64 << 10));
    garbage(addr, &preface);

    // A header list over the 16 KiB bound: refused before any message is read.
    let mut huge = DriverClient::with_interceptor(
        channel(&rt, format!("http://{addr}"), None),
        move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("x-padding", "a".repeat(64 << 10).parse().expect("ascii"));
            Ok(r)
        },
    );
    assert!(rt.block_on(huge.map_statuses(MapStatusesRequest { shuffle: ShuffleId(0) })).is_err());

    // A message over the driver's limit (1 MiB here): refused, the stream never registers.
    let register = Register {
        rank: 1,
        pid: 1,
        host: "h".repeat(2 << 20),
        shuffle_addr: "127.0.0.1:1".to_owned(),
        slots: 1,
        build_id: super::build_id(),
        log_path: None,
    };
    let mut big = authed(&rt, addr, &secret).max_encoding_message_size(8 << 20);
    let refused = rt.block_on(big.control(tokio_stream::iter(vec![ExecutorMsg::Register(register)]))).unwrap_err();
    assert!(matches!(refused.code(), Code::OutOfRange | Code::ResourceExhausted | Code::Internal), "{refused}");

    statuses(&rt, &mut good).expect("still serving after all of that");
}

#[test]
fn the_driver_refuses_an_executor_of_another_build() {
    let rt = runtime();
    let secret = Secret::generate();
    let (backend, events) = driver(&secret, None);
    let mut client = authed(&rt, backend.addr(), &secret);
    let register = Register {
        rank: 1,
        pid: 1,
        host: "elsewhere".to_owned(),
        shuffle_addr: "127.0.0.1:1".to_owned(),
        slots: 1,
        build_id: super::build_id() ^ 1,
        log_path: None,
    };
    let messages = tokio_stream::iter(vec![ExecutorMsg::Register(register)]);
    let refused = rt.block_on(client.control(messages)).unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused}");
    assert!(refused.message().contains("different build"), "{refused}");
    assert!(events.try_recv().is_err(), "a refused executor changes nothing");
}

#[test]
fn an_executors_shuffle_service_refuses_strangers_and_oversized_requests() {
    let rt = runtime();
    let secret = Secret::generate();
    let store = Arc::new(LocalShuffleStore::default());
    store.put_map_output(
        ShuffleId(1),
        PartitionId(0),
        crate::shuffle::MapOutput::in_memory(vec![bytes::Bytes::from_static(b"abc")]),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("binds");
    let addr = listener.local_addr().expect("an address");
    let router = super::rpc::server(Duration::from_secs(1)).add_service(super::fetch::shuffle_server(store, &secret));
    rt.spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    let fetch = |client: &mut ShuffleChannel, maps: Vec<PartitionId>| {
        rt.block_on(async {
            let mut stream =
                client.fetch(FetchRequest { shuffle: ShuffleId(1), reduce: PartitionId(0), maps }).await?.into_inner();
            let mut got = Vec::new();
            while let Some(chunk) = stream.message().await? {
                got.extend_from_slice(&chunk.bytes);
            }
            Ok::<_, tonic::Status>(got)
        })
    };
    let client = |s: &Secret| {
        ShuffleClient::with_interceptor(channel(&rt, format!("http://{addr}"), None), SendSecret::new(s))
            .max_encoding_message_size(64 << 20)
    };
    let mut good = client(&secret);
    assert_eq!(fetch(&mut good, vec![PartitionId(0)]).expect("served"), b"abc");
    assert_eq!(
        fetch(&mut client(&Secret::generate()), vec![PartitionId(0)]).unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(fetch(&mut good, vec![PartitionId(7)]).unwrap_err().code(), Code::NotFound, "a missing output");
    let oversized = fetch(&mut good, vec![PartitionId(0); super::SHUFFLE_REQUEST_LIMIT + 1]).unwrap_err();
    assert!(matches!(oversized.code(), Code::OutOfRange | Code::ResourceExhausted | Code::Internal), "{oversized}");
    garbage(addr, b"\x16\x03\x01 not a TLS hello, not HTTP/2 either");
    assert_eq!(fetch(&mut good, vec![PartitionId(0)]).expect("still serving"), b"abc");
}

/// A self-signed certificate for `localhost` and 127.0.0.1, which is also its own CA.
fn self_signed() -> TlsFiles {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("a certificate");
    let cert = certified.cert.pem().into_bytes();
    TlsFiles::new(cert.clone(), certified.signing_key.serialize_pem().into_bytes(), cert, Some("localhost".to_owned()))
}

#[test]
fn tls_serves_clients_that_trust_its_ca_and_no_others() {
    let rt = runtime();
    let secret = Secret::generate();
    let tls = self_signed();
    let (backend, _events) = driver(&secret, Some(tls.clone()));
    let addr = backend.addr();
    let over = |files: &TlsFiles| {
        DriverClient::with_interceptor(
            channel(&rt, format!("https://{addr}"), Some(files.client("127.0.0.1"))),
            SendSecret::new(&secret),
        )
    };
    statuses(&rt, &mut over(&tls)).expect("served over TLS");
    assert!(statuses(&rt, &mut over(&self_signed())).is_err(), "a client trusting another CA is refused");
    assert!(statuses(&rt, &mut authed(&rt, addr, &secret)).is_err(), "plaintext against TLS fails");
}

#[test]
fn no_secret_travels_off_loopback_in_clear() {
    let (inbox, _events) = crossbeam_channel::unbounded();
    let setup = DriverSetup {
        listen: SocketAddr::from(([0, 0, 0, 0], 0)),
        secret: Secret::generate(),
        tls: None,
        liveness: Liveness::default(),
        spawn: None,
        expected_executors: 0,
        parallelism: 1,
        message_limit: 1 << 20,
    };
    let refused = ClusterBackend::start(
        setup,
        "app".to_owned(),
        inbox,
        Arc::new(|_| {}),
        Arc::default(),
        Arc::default(),
        Arc::default(),
    )
    .err()
    .expect("refused");
    assert!(refused.to_string().contains("without TLS"), "{refused}");
    let executor = super::ExecutorSetup {
        driver: "192.0.2.1:7078".to_owned(),
        rank: 1,
        secret: Secret::generate(),
        tls: None,
        slots: 1,
        log_path: None,
    };
    let refused = super::executor::join(&executor, Arc::new(LocalShuffleStore::default())).err().expect("refused");
    assert!(refused.to_string().contains("without TLS"), "{refused}");
}
