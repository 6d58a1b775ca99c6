//! Broadcast plumbing: each broadcast value is serialized once, at creation, and kept as bytes
//! under its id until destroyed. In local mode tasks share the driver's value itself (the
//! typed handle holds it); the bytes are what a cluster executor would fetch once.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::ids::BroadcastId;

/// The serialized broadcast values of one context.
#[derive(Default)]
pub struct BroadcastRegistry {
    values: Mutex<HashMap<BroadcastId, Bytes>>,
}

impl BroadcastRegistry {
    /// Keeps the serialized value of broadcast `id`.
    pub fn put(&self, id: BroadcastId, bytes: Bytes) {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).insert(id, bytes);
    }

    /// The serialized value, unless destroyed.
    pub fn bytes(&self, id: BroadcastId) -> Option<Bytes> {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }

    /// Frees the value; later fetches find nothing.
    pub fn remove(&self, id: BroadcastId) {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
}
