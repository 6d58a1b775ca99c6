//! [`WireCodec`]: tonic's codec for Ember's serde messages, in bincode.
//!
//! gRPC frames each message with its length; tonic refuses a frame over the size limit set on
//! the server or the channel (`max_decoding_message_size`) before this codec sees it, and the
//! bincode decode runs under the same limit, so no message can make a process allocate more.

use std::marker::PhantomData;

use bincode::config::{Configuration, Limit};
use bytes::{Buf, BufMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::CONTROL_MESSAGE_LIMIT;

/// The bincode configuration of every message: standard, under the control message limit.
type Config = Configuration<bincode::config::LittleEndian, bincode::config::Varint, Limit<CONTROL_MESSAGE_LIMIT>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<CONTROL_MESSAGE_LIMIT>()
}

/// Encodes `E` and decodes `D` with bincode. The generated stubs make one per call.
pub struct WireCodec<E, D>(PhantomData<(E, D)>);

impl<E, D> Default for WireCodec<E, D> {
    fn default() -> Self {
        WireCodec(PhantomData)
    }
}

impl<E: Serialize + Send + 'static, D: DeserializeOwned + Send + 'static> Codec for WireCodec<E, D> {
    type Encode = E;
    type Decode = D;
    type Encoder = WireEncoder<E>;
    type Decoder = WireDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        WireEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder(PhantomData)
    }
}

/// The encoding half of [`WireCodec`].
pub struct WireEncoder<E>(PhantomData<E>);

impl<E: Serialize> Encoder for WireEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        bincode::serde::encode_into_std_write(&item, &mut dst.writer(), config())
            .map(|_| ())
            .map_err(|e| Status::internal(format!("a cluster message did not encode: {e}")))
    }
}

/// The decoding half of [`WireCodec`].
pub struct WireDecoder<D>(PhantomData<D>);

impl<D: DeserializeOwned> Decoder for WireDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        let (value, used) = bincode::serde::decode_from_slice(&bytes, config())
            .map_err(|e| Status::invalid_argument(format!("a cluster message did not decode: {e}")))?;
        if used != bytes.len() {
            return Err(Status::invalid_argument(format!(
                "a cluster message has {} bytes after its end",
                bytes.len() - used
            )));
        }
        Ok(Some(value))
    }
}
