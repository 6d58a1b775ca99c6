//! Bytes across processes: every executor's shuffle service, and [`RemoteReads`], how an
//! executor reads what other processes hold (the driver's map statuses and broadcast values,
//! other executors' buckets).
//!
//! ```text
//!  reduce task ─ column(shuffle, r) ─▶ cached map statuses (from the driver, per epoch)
//!              ─ fetch ─▶ maps held here: the local store, no copy, no network
//!                        maps held elsewhere: one Fetch stream per executor, all at once,
//!                        chunks of at most 1 MiB; HTTP/2 flow control bounds the bytes in
//!                        flight per stream (its 8 MiB window)
//!  missing output (NotFound, peer gone) ─▶ FetchFailed for exactly those maps
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use super::CHUNK_BYTES;
use super::auth::{CheckSecret, Secret, SendSecret};
use super::rpc::shuffle::shuffle_client::ShuffleClient;
use super::rpc::shuffle::shuffle_server::{Shuffle, ShuffleServer};
use super::rpc::{DriverChannel, ShuffleChannel};
use super::tls::TlsFiles;
use super::wire::{BlockChunk, FetchRequest, MapStatusesRequest};
use crate::ids::{ExecutorId, PartitionId, ShuffleId};
use crate::shuffle::{Bucket, MapStatus, RemoteShuffle, ShuffleStore};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shuffle service an executor serves: the buckets of the map outputs in its store.
pub(super) struct ShuffleService {
    pub(super) store: Arc<dyn ShuffleStore>,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<BlockChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Shuffle for ShuffleService {
    type FetchStream = ChunkStream;

    async fn fetch(&self, request: Request<FetchRequest>) -> Result<Response<ChunkStream>, Status> {
        let FetchRequest { shuffle, reduce, maps } = request.into_inner();
        let found = self.store.fetch_column(shuffle, reduce, &maps);
        let mut buckets = Vec::with_capacity(maps.len());
        for (map, bucket) in maps.into_iter().zip(found) {
            match bucket {
                Some(bucket) => buckets.push((map, bucket)),
                None => {
                    return Err(Status::not_found(format!("no output of map {map} of {shuffle} here")));
                }
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        // Reading a file bucket blocks: a blocking thread reads and sends chunk by chunk, and
        // the bounded channel stops it when the reducer's window is full.
        tokio::task::spawn_blocking(move || {
            for (map, bucket) in buckets {
                if let Err(status) = send_bucket(map, bucket, &tx) {
                    let _ = tx.blocking_send(Err(status));
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

/// `bytes` of map output `map` (or of a broadcast) as chunks of at most [`CHUNK_BYTES`],
/// slices of it without a copy: at least one, the last marked.
pub(super) fn chunks(map: PartitionId, bytes: Bytes) -> Vec<BlockChunk> {
    if bytes.is_empty() {
        return vec![BlockChunk { map, bytes, last: true }];
    }
    let mut out = Vec::with_capacity(bytes.len().div_ceil(CHUNK_BYTES));
    let mut offset = 0;
    while offset < bytes.len() {
        let end = (offset + CHUNK_BYTES).min(bytes.len());
        out.push(BlockChunk { map, bytes: bytes.slice(offset..end), last: end == bytes.len() });
        offset = end;
    }
    out
}

fn send_bucket(
    map: PartitionId,
    bucket: Bucket,
    tx: &tokio::sync::mpsc::Sender<Result<BlockChunk, Status>>,
) -> Result<(), Status> {
    let send = |bytes: Bytes, last: bool| {
        tx.blocking_send(Ok(BlockChunk { map, bytes, last })).map_err(|_| Status::cancelled("the reducer went away"))
    };
    match bucket {
        Bucket::Memory(bytes) => {
            for chunk in chunks(map, bytes) {
                send(chunk.bytes, chunk.last)?;
            }
            Ok(())
        }
        Bucket::File { file, ranges } => {
            let io = |e: std::io::Error| Status::internal(format!("reading map output {map}: {e}"));
            let mut reader = crate::shuffle::RangesReader::new(file.open().map_err(io)?, ranges.clone());
            let total: u64 = ranges.iter().map(|(_, len)| len).sum();
            let mut sent = 0u64;
            if total == 0 {
                return send(Bytes::new(), true);
            }
            while sent < total {
                let want = (total - sent).min(CHUNK_BYTES as u64) as usize;
                let mut buf = vec![0u8; want];
                reader.read_exact(&mut buf).map_err(io)?;
                sent += want as u64;
                send(Bytes::from(buf), sent == total)?;
            }
            Ok(())
        }
    }
}

/// The shuffle service, behind the secret check and with its size limits.
pub(super) fn shuffle_server(
    store: Arc<dyn ShuffleStore>,
    secret: &Secret,
) -> InterceptedService<ShuffleServer<ShuffleService>, CheckSecret> {
    let server = ShuffleServer::new(ShuffleService { store })
        .max_decoding_message_size(super::SHUFFLE_REQUEST_LIMIT)
        .max_encoding_message_size(super::rpc::chunk_limit());
    InterceptedService::new(server, CheckSecret::new(secret.clone(), "shuffle"))
}

/// The map statuses of one shuffle as this executor last got them from the driver.
struct Known {
    statuses: Vec<Option<MapStatus>>,
}

/// What an executor reads from other processes: map statuses fetched from the driver and
/// cached until the driver's epoch moves, buckets fetched from the executors holding them,
/// broadcast values fetched from the driver.
pub struct RemoteReads {
    me: OnceLock<ExecutorId>,
    local: Arc<dyn ShuffleStore>,
    driver: DriverChannel,
    secret: Secret,
    tls: Option<TlsFiles>,
    keepalive: Duration,
    runtime: tokio::runtime::Handle,
    known: Mutex<(u64, HashMap<ShuffleId, Arc<Known>>)>,
    peers: Mutex<HashMap<ExecutorId, String>>,
    clients: Mutex<HashMap<String, ShuffleChannel>>,
}

impl RemoteReads {
    pub(super) fn new(
        local: Arc<dyn ShuffleStore>,
        driver: DriverChannel,
        secret: Secret,
        tls: Option<TlsFiles>,
        keepalive: Duration,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        RemoteReads {
            me: OnceLock::new(),
            local,
            driver,
            secret,
            tls,
            keepalive,
            runtime,
            known: Mutex::new((0, HashMap::new())),
            peers: Mutex::default(),
            clients: Mutex::default(),
        }
    }

    /// This executor's id, once registered.
    pub(super) fn set_me(&self, me: ExecutorId) {
        let _ = self.me.set(me);
    }

    /// The driver's epoch moved to `epoch`: map statuses cached from before are forgotten.
    pub(super) fn observe_epoch(&self, epoch: u64) {
        let mut known = lock(&self.known);
        if epoch > known.0 {
            *known = (epoch, HashMap::new());
        }
    }

    fn statuses(&self, shuffle: ShuffleId) -> Result<Arc<Known>, String> {
        if let Some(known) = lock(&self.known).1.get(&shuffle) {
            return Ok(Arc::clone(known));
        }
        let mut driver = self.driver.clone();
        let reply = self
            .runtime
            .block_on(async move { driver.map_statuses(MapStatusesRequest { shuffle }).await })
            .map_err(|status| format!("asking the driver for the map outputs of {shuffle}: {}", status.message()))?
            .into_inner();
        {
            let mut peers = lock(&self.peers);
            for (id, addr) in reply.peers {
                peers.insert(id, addr);
            }
        }
        let known = Arc::new(Known { statuses: reply.statuses });
        let mut cache = lock(&self.known);
        // Keep only an answer at least as new as what the executor has seen launched.
        if reply.epoch >= cache.0 {
            cache.0 = reply.epoch;
            cache.1.insert(shuffle, Arc::clone(&known));
        }
        Ok(known)
    }

    /// The driver's serialized value of broadcast `id`, fetched in chunks (the caller keeps
    /// it: once per executor).
    ///
    /// # Errors
    /// Why it could not be fetched: the driver freed it, or the call failed.
    pub fn fetch_broadcast(&self, id: crate::ids::BroadcastId) -> Result<Bytes, String> {
        let mut driver = self.driver.clone();
        self.runtime
            .block_on(async move {
                let mut stream = driver.fetch_broadcast(super::wire::BroadcastRequest { id }).await?.into_inner();
                let mut bytes = BytesMut::new();
                while let Some(chunk) = stream.message().await? {
                    bytes.extend_from_slice(&chunk.bytes);
                }
                Ok::<_, Status>(bytes.freeze())
            })
            .map_err(|status| format!("fetching broadcast {} from the driver: {}", id.0, status.message()))
    }

    fn client(&self, addr: &str) -> Result<ShuffleChannel, String> {
        if let Some(client) = lock(&self.clients).get(addr) {
            return Ok(client.clone());
        }
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let url = if self.tls.is_some() { format!("https://{addr}") } else { format!("http://{addr}") };
        let endpoint = super::rpc::endpoint(&url, self.keepalive, self.tls.as_ref().map(|t| t.client(host)))
            .map_err(|e| format!("the shuffle service at {addr}: {e}"))?;
        let channel = {
            let _guard = self.runtime.enter();
            super::rpc::lazy(&endpoint)
        };
        let client = ShuffleClient::with_interceptor(channel, SendSecret::new(&self.secret))
            .max_decoding_message_size(super::rpc::chunk_limit())
            .max_encoding_message_size(super::rpc::control_limit());
        lock(&self.clients).insert(addr.to_owned(), client.clone());
        Ok(client)
    }
}

impl RemoteShuffle for RemoteReads {
    fn column(
        &self,
        shuffle: ShuffleId,
        reduce: PartitionId,
    ) -> Result<Vec<(PartitionId, u64, ExecutorId)>, Vec<PartitionId>> {
        let known = self.statuses(shuffle).map_err(|why| {
            tracing::warn!(target: "ember::cluster", %why, "no map statuses");
            vec![PartitionId(0)]
        })?;
        if known.statuses.is_empty() {
            return Err(vec![PartitionId(0)]);
        }
        crate::shuffle::column_of(known.statuses.iter().map(Option::as_ref), reduce)
    }

    fn fetch(
        &self,
        shuffle: ShuffleId,
        reduce: PartitionId,
        maps: &[(PartitionId, ExecutorId)],
    ) -> Vec<Option<Bucket>> {
        let me = self.me.get().copied();
        let mut out: Vec<Option<Bucket>> = vec![None; maps.len()];
        let mut remote: HashMap<ExecutorId, Vec<(usize, PartitionId)>> = HashMap::new();
        let mut local = Vec::new();
        for (i, &(map, at)) in maps.iter().enumerate() {
            if Some(at) == me {
                local.push((i, map));
            } else {
                remote.entry(at).or_default().push((i, map));
            }
        }
        if !local.is_empty() {
            let ids: Vec<PartitionId> = local.iter().map(|&(_, m)| m).collect();
            for ((i, _), bucket) in local.into_iter().zip(self.local.fetch_column(shuffle, reduce, &ids)) {
                out[i] = bucket;
            }
        }
        if remote.is_empty() {
            return out;
        }
        let mut calls = Vec::new();
        for (at, wanted) in remote {
            let addr = lock(&self.peers).get(&at).cloned();
            let client = addr.as_deref().map(|a| (a.to_owned(), self.client(a)));
            calls.push(async move {
                let Some((addr, Ok(mut client))) = client else {
                    return (wanted, Err(format!("no address for executor {}", at.0)));
                };
                let request = FetchRequest { shuffle, reduce, maps: wanted.iter().map(|&(_, m)| m).collect() };
                let got = async {
                    let mut stream = client.fetch(request).await?.into_inner();
                    let mut buckets: Vec<Bytes> = Vec::with_capacity(wanted.len());
                    let mut current = BytesMut::new();
                    while let Some(chunk) = stream.message().await? {
                        if current.is_empty() && chunk.last {
                            buckets.push(chunk.bytes);
                        } else {
                            current.extend_from_slice(&chunk.bytes);
                            if chunk.last {
                                buckets.push(current.split().freeze());
                            }
                        }
                    }
                    Ok::<_, Status>(buckets)
                }
                .await
                .map_err(|status| format!("fetching from executor {} at {addr}: {}", at.0, status.message()));
                (wanted, got)
            });
        }
        let results = self.runtime.block_on(futures::future::join_all(calls));
        for (wanted, got) in results {
            match got {
                Ok(buckets) if buckets.len() == wanted.len() => {
                    for ((i, _), bytes) in wanted.into_iter().zip(buckets) {
                        out[i] = Some(Bucket::Memory(bytes));
                    }
                }
                Ok(buckets) => {
                    tracing::warn!(target: "ember::cluster", got = buckets.len(), wanted = wanted.len(), "a fetch ended early")
                }
                Err(why) => tracing::warn!(target: "ember::cluster", %why, "shuffle fetch failed"),
            }
        }
        out
    }
}
