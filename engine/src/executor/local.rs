//! `local[N]`: a fixed pool of worker threads fed from one queue.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::{Backend, StageWork, run_attempt};
use crate::block::BlockManager;
use crate::executor::TaskOutcome;
use crate::fault::FaultPlan;
use crate::shuffle::ShuffleRegistry;
use crate::task::TaskDescriptor;

type Job = Box<dyn FnOnce() + Send>;

/// Stack size of a worker thread: room for narrow chains thousands of operations long.
pub(crate) const WORKER_STACK_BYTES: usize = 64 << 20;

/// N worker threads (`ember-worker-K`) taking attempts first come, first served. The threads
/// exit when the backend is dropped and their queue drains.
///
/// A task pulls its partition through one nested iterator per narrow operation, so a long
/// narrow chain is a deep call stack: workers get 64 MiB of stack (reserved
/// address space; only the pages used are committed).
pub struct LocalBackend {
    queue: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    shuffles: Arc<ShuffleRegistry>,
    blocks: Arc<BlockManager>,
    faults: Arc<FaultPlan>,
}

impl LocalBackend {
    /// Starts `threads` worker threads (at least one).
    ///
    /// # Errors
    /// The OS error when a thread cannot be spawned.
    pub fn new(
        threads: usize,
        shuffles: Arc<ShuffleRegistry>,
        blocks: Arc<BlockManager>,
        faults: Arc<FaultPlan>,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        let threads = (0..threads.max(1))
            .map(|k| {
                let jobs: Receiver<Job> = jobs.clone();
                std::thread::Builder::new().name(format!("ember-worker-{k}")).stack_size(WORKER_STACK_BYTES).spawn(
                    move || {
                        for job in jobs {
                            job();
                        }
                    },
                )
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(LocalBackend { queue: Some(queue), threads, shuffles, blocks, faults })
    }
}

impl Backend for LocalBackend {
    fn launch(&self, task: TaskDescriptor, work: Arc<StageWork>, report: Box<dyn FnOnce(TaskOutcome) + Send>) {
        let shuffles = Arc::clone(&self.shuffles);
        let blocks = Arc::clone(&self.blocks);
        let faults = Arc::clone(&self.faults);
        let job: Job = Box::new(move || report(run_attempt(task, &work, shuffles, blocks, &faults)));
        let queue = self.queue.as_ref().expect("the queue lives until drop");
        // Sending only fails once every worker has exited, which happens only after drop.
        let _ = queue.send(job);
    }

    fn parallelism(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        self.queue.take();
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            // A context dropped from inside a task must not wait for its own thread.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}
