//! [`SerializingBackend`]: the local pool behind a seam that only bytes cross.
//!
//! Every task descriptor on its way to a worker and every report on its way back is encoded
//! with the codec and decoded again, as a process boundary would do, so a result, an
//! accumulator update, a failure or a commit message that cannot travel as bytes fails here
//! first. The tests and the conformance suite run on it (`serializing` mode).

use std::sync::Arc;

use ember_storage::codec;

use super::{Backend, ExecutorEnv, LocalBackend, ReportSink, TaskReport};
use crate::error::TaskFailure;
use crate::ids::ExecutorId;
use crate::task::TaskDescriptor;

/// A [`LocalBackend`] whose descriptors and reports cross an encode/decode round trip.
pub struct SerializingBackend {
    inner: LocalBackend,
}

impl SerializingBackend {
    /// Starts `threads` worker threads, as [`LocalBackend::new`].
    ///
    /// # Errors
    /// The OS error when a thread cannot be spawned.
    pub fn new(threads: usize, env: ExecutorEnv, sink: ReportSink) -> std::io::Result<Self> {
        let wire: ReportSink = Arc::new(move |report: TaskReport| sink(round_trip_report(report)));
        Ok(SerializingBackend { inner: LocalBackend::new(threads, env, wire)? })
    }
}

/// The descriptor as a worker in another process would decode it.
fn round_trip_task(task: TaskDescriptor) -> TaskDescriptor {
    let bytes = codec::encode(&task).expect("a task descriptor is plain ids and always encodes");
    codec::decode(&bytes).expect("a task descriptor decodes from its own encoding")
}

/// The report as the driver would decode it; a report that cannot travel becomes the
/// attempt's failure, naming why.
fn round_trip_report(report: TaskReport) -> TaskReport {
    let (task, executor) = (report.task, report.executor);
    let decoded = codec::encode(&report)
        .map_err(|e| e.to_string())
        .and_then(|bytes| codec::decode::<TaskReport>(&bytes).map_err(|e| e.to_string()));
    decoded.unwrap_or_else(|why| TaskReport {
        result: Err(TaskFailure::error(format!("the task's report could not cross the executor seam: {why}"))),
        ..TaskReport::cancelled(task, executor)
    })
}

impl Backend for SerializingBackend {
    fn executors(&self) -> Vec<(ExecutorId, usize)> {
        self.inner.executors()
    }

    fn launch(&self, task: TaskDescriptor, executor: ExecutorId) {
        self.inner.launch(round_trip_task(task), executor);
    }

    fn kill(&self, task: TaskDescriptor) {
        self.inner.kill(round_trip_task(task));
    }
}
