//! Generates the cluster mode's gRPC stubs from Rust definitions (no `.proto`, no `protoc`):
//! every message is one of Ember's serde types, carried by `crate::cluster::codec::WireCodec`.

use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str, input: &str, output: &str) -> tonic_build::manual::MethodBuilder {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::cluster::wire::{input}"))
        .output_type(format!("crate::cluster::wire::{output}"))
        .codec_path("crate::cluster::codec::WireCodec")
}

fn main() {
    let driver = Service::builder()
        .name("Driver")
        .package("ember.cluster.v1")
        .method(method("control", "Control", "ExecutorMsg", "DriverMsg").client_streaming().server_streaming().build())
        .method(method("map_statuses", "MapStatuses", "MapStatusesRequest", "MapStatusesReply").build())
        .method(
            method("fetch_broadcast", "FetchBroadcast", "BroadcastRequest", "BlockChunk").server_streaming().build(),
        )
        .build();
    let shuffle = Service::builder()
        .name("Shuffle")
        .package("ember.cluster.v1")
        .method(method("fetch", "Fetch", "FetchRequest", "BlockChunk").server_streaming().build())
        .build();
    Builder::new().compile(&[driver, shuffle]);
}
