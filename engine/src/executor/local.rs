//! `local[N]`: one executor of N worker threads in this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::{Backend, ExecutorEnv, ReportSink, TaskReport, run_attempt};
use crate::ids::ExecutorId;
use crate::lineage::WORKER_STACK_BYTES;
use crate::task::{CancelToken, TaskDescriptor};

/// The one executor of local mode.
const LOCAL: ExecutorId = ExecutorId(0);

/// An attempt handed to the workers, with the token that stops it.
type Queued = (TaskDescriptor, Arc<CancelToken>);

/// The tokens of launched attempts that have not reported yet.
type Launched = Arc<Mutex<HashMap<TaskDescriptor, Arc<CancelToken>>>>;

/// N worker threads (`ember-worker-K`) taking attempts from one queue. The scheduler
/// launches no more attempts than there are threads, so an attempt starts as soon as it is
/// launched. The threads exit when the backend is dropped.
///
/// A task pulls its partition through one nested iterator per narrow operation, so a long
/// narrow chain is a deep call stack: workers get 64 MiB of stack (reserved
/// address space; only the pages used are committed).
pub struct LocalBackend {
    queue: Option<Sender<Queued>>,
    threads: Vec<JoinHandle<()>>,
    launched: Launched,
}

impl LocalBackend {
    /// Starts `threads` worker threads (at least one) running attempts against `env`, each
    /// reported through `sink`.
    ///
    /// # Errors
    /// The OS error when a thread cannot be spawned.
    pub fn new(threads: usize, env: ExecutorEnv, sink: ReportSink) -> std::io::Result<Self> {
        let (queue, jobs) = crossbeam_channel::unbounded::<Queued>();
        let launched: Launched = Arc::default();
        let threads = (0..threads.max(1))
            .map(|k| {
                let jobs: Receiver<Queued> = jobs.clone();
                let (env, sink, launched) = (env.clone(), Arc::clone(&sink), Arc::clone(&launched));
                std::thread::Builder::new().name(format!("ember-worker-{k}")).stack_size(WORKER_STACK_BYTES).spawn(
                    move || {
                        crate::context::mark_engine_thread();
                        for (task, token) in jobs {
                            let report = run_one(task, token, &env);
                            lock(&launched).remove(&task);
                            sink(report);
                        }
                    },
                )
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(LocalBackend { queue: Some(queue), threads, launched })
    }
}

/// Runs one attempt unless it was killed before it started.
fn run_one(task: TaskDescriptor, token: Arc<CancelToken>, env: &ExecutorEnv) -> TaskReport {
    if token.is_cancelled() {
        return TaskReport::cancelled(task, LOCAL);
    }
    let resolved = if env.work_wait.is_zero() {
        env.works.resolve(task.work)
    } else {
        env.works.resolve_within(task.work, env.work_wait)
    };
    let outcome = match resolved {
        Ok(work) => run_attempt(task, &work, env, token),
        Err(failure) => super::TaskOutcome {
            result: Err(failure),
            metrics: Default::default(),
            accumulators: Vec::new(),
            blocks: Vec::new(),
        },
    };
    TaskReport::new(task, LOCAL, outcome)
}

impl Backend for LocalBackend {
    fn executors(&self) -> Vec<(ExecutorId, usize)> {
        vec![(LOCAL, self.threads.len())]
    }

    fn launch(&self, task: TaskDescriptor, _executor: ExecutorId) {
        let token = Arc::new(CancelToken::default());
        lock(&self.launched).insert(task, Arc::clone(&token));
        let queue = self.queue.as_ref().expect("the queue lives until drop");
        // Sending only fails once every worker has exited, which happens only after drop.
        let _ = queue.send((task, token));
    }

    fn kill(&self, task: TaskDescriptor) {
        let token = lock(&self.launched).get(&task).cloned();
        if let Some(token) = token {
            token.cancel();
        }
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        for token in lock(&self.launched).values() {
            token.cancel();
        }
        self.queue.take();
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            // A backend dropped from inside a task must not wait for its own thread.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a panic between two map operations, which leave it consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
