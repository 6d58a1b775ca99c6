//! [`JobHandle`]: an action that has been submitted, as a future, a blocking wait, a cancel
//! button and a progress report; [`as_completed`] for many of them.
//!
//! Every action submits its job(s) and gets a handle; the blocking actions (`count`,
//! `collect`, ...) are `count_async(..).wait()`. A handle of a one-job action follows that job
//! directly; an action that runs several jobs (`take` scans partitions in rounds) runs on a
//! thread of its own, and its handle follows whichever of its jobs is running.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context as TaskCx, Poll, Waker};

use bytes::Bytes;
use ember_engine::ids::JobId;
use ember_engine::{JobError, JobMetrics, JobProgress, RunningJob};

use crate::error::{Error, Result};

/// A job's outcome as the engine hands it over: the encoded values, or why it failed.
type RawOutcome = std::result::Result<Vec<Bytes>, JobError>;

/// Turns a job's encoded values (or its error) into the action's result: decoding, combining
/// the partitions' partial results, committing an output.
pub(crate) struct Finisher<T> {
    run: Box<dyn FnOnce(RawOutcome) -> Result<T> + Send>,
    /// Whether it may block for long (an output's commit, checkpoint writes): then a future
    /// runs it on a thread of its own rather than inside `poll`.
    blocking: bool,
}

impl<T> Finisher<T> {
    /// A quick finisher (decode and combine).
    pub(crate) fn quick(
        run: impl FnOnce(std::result::Result<Vec<Bytes>, JobError>) -> Result<T> + Send + 'static,
    ) -> Self {
        Finisher { run: Box::new(run), blocking: false }
    }

    /// A finisher that may block (I/O).
    pub(crate) fn blocking(
        run: impl FnOnce(std::result::Result<Vec<Bytes>, JobError>) -> Result<T> + Send + 'static,
    ) -> Self {
        Finisher { run: Box::new(run), blocking: true }
    }

    pub(crate) fn is_blocking(&self) -> bool {
        self.blocking
    }
}

/// A submitted action: its job runs while you hold this.
///
/// * As a [`Future`] it resolves to the action's `ember::Result<T>` under any executor
///   (tokio, `futures::executor::block_on`, ...): the scheduler wakes it when the job ends.
/// * [`JobHandle::wait`] blocks the calling thread instead.
/// * [`JobHandle::cancel`] stops the job: its queued tasks never run, its running tasks stop at
///   their next batch of records, and it resolves to an error of kind
///   [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) once they have stopped.
/// * [`JobHandle::progress`] says how far it is; [`JobHandle::metrics`] what it did, once it
///   has ended.
///
/// Dropping a handle does not cancel its job (call `cancel`); a save whose handle is dropped
/// still commits its output when its job ends.
///
/// # Examples
/// ```
/// use ember::prelude::*;
///
/// let ctx = Context::local(2)?;
/// let numbers = ctx.range(0, 1_000, 1, 4);
/// let count = numbers.count_async(); // submitted: runs while this thread goes on
/// let sum = numbers.map(|x| x * 2).reduce_async(|a, b| a + b);
/// assert_eq!(count.wait()?, 1_000);
/// assert_eq!(futures::executor::block_on(sum)?, 999_000); // a handle is a future too
/// # Ok::<(), ember::Error>(())
/// ```
pub struct JobHandle<T: Send + 'static> {
    state: State<T>,
}

// The handle never pins what it holds (no structural pinning): polling it through
// `Pin<&mut Self>` may move its state freely.
impl<T: Send + 'static> Unpin for JobHandle<T> {}

enum State<T> {
    /// One job, finished by `finish` when it ends.
    Job { job: RunningJob, finish: Option<Finisher<T>> },
    /// An action running on a thread of its own (several jobs, or a blocking finisher).
    Spawned(Arc<Spawned<T>>),
    /// Known without running anything (or already taken).
    Ready(Option<Result<T>>),
}

/// The shared state of an action that runs on its own thread.
struct Spawned<T> {
    outcome: Mutex<SpawnedOutcome<T>>,
    done: Condvar,
    control: Arc<ActionControl>,
}

struct SpawnedOutcome<T> {
    result: Option<Result<T>>,
    finished: bool,
    wakers: Vec<Waker>,
    callbacks: Vec<Box<dyn FnOnce() + Send>>,
}

/// What a spawned action's handle can reach of the jobs it runs.
#[derive(Default)]
pub(crate) struct ActionControl {
    cancelled: AtomicBool,
    jobs: Mutex<Vec<RunningJob>>,
}

impl ActionControl {
    /// A job the action submitted: cancelled at once if the action was.
    pub(crate) fn register(&self, job: &RunningJob) {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner).push(job.clone());
        if self.cancelled.load(Ordering::Acquire) {
            job.cancel("by its handle");
        }
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        for job in self.jobs.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            job.cancel("by its handle");
        }
    }

    fn last_job(&self) -> Option<RunningJob> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner).last().cloned()
    }
}

thread_local! {
    /// The spawned action this thread runs, if any: the jobs it submits join it.
    static CURRENT_ACTION: std::cell::RefCell<Option<Arc<ActionControl>>> = const { std::cell::RefCell::new(None) };
}

/// Tells the spawned action running on this thread (if any) about a job it submitted.
pub(crate) fn join_current_action(job: &RunningJob) {
    CURRENT_ACTION.with(|current| {
        if let Some(control) = current.borrow().as_ref() {
            control.register(job);
        }
    });
}

impl<T: Send + 'static> JobHandle<T> {
    /// The handle of one submitted job, finished by `finish`.
    pub(crate) fn of_job(job: RunningJob, finish: Finisher<T>) -> Self {
        join_current_action(&job);
        JobHandle { state: State::Job { job, finish: Some(finish) } }
    }

    /// A handle that resolves to `result` at once.
    pub(crate) fn ready(result: Result<T>) -> Self {
        JobHandle { state: State::Ready(Some(result)) }
    }

    /// Runs `action` (blocking code that runs jobs) on a thread of its own; the jobs it
    /// submits are reached by the handle's `cancel` and `progress`.
    pub(crate) fn spawn(action: impl FnOnce() -> Result<T> + Send + 'static) -> Self {
        let spawned = Arc::new(Spawned {
            outcome: Mutex::new(SpawnedOutcome {
                result: None,
                finished: false,
                wakers: Vec::new(),
                callbacks: Vec::new(),
            }),
            done: Condvar::new(),
            control: Arc::default(),
        });
        let shared = Arc::clone(&spawned);
        let run = move || {
            CURRENT_ACTION.with(|current| *current.borrow_mut() = Some(Arc::clone(&shared.control)));
            let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(action)) {
                Ok(result) => result,
                Err(payload) => Err(Error::internal(format!(
                    "an action's driver code panicked: {}",
                    ember_engine::error::panic_message(payload.as_ref())
                ))),
            };
            CURRENT_ACTION.with(|current| current.borrow_mut().take());
            shared.complete(result);
        };
        if let Err(err) = std::thread::Builder::new().name("ember-action".to_owned()).spawn(run) {
            spawned.complete(Err(Error::startup(err)));
        }
        JobHandle { state: State::Spawned(spawned) }
    }

    /// A handle on the same job whose result is `f` of this one's (run where the result is
    /// taken, like the rest of the finishing step).
    pub(crate) fn map<U: Send + 'static>(mut self, f: impl FnOnce(T) -> Result<U> + Send + 'static) -> JobHandle<U> {
        match std::mem::replace(&mut self.state, State::Ready(None)) {
            State::Job { job, finish: Some(finish) } => {
                let blocking = finish.blocking;
                let run = finish.run;
                let then = move |raw| run(raw).and_then(f);
                let finish = if blocking { Finisher::blocking(then) } else { Finisher::quick(then) };
                JobHandle { state: State::Job { job, finish: Some(finish) } }
            }
            State::Ready(Some(result)) => JobHandle::ready(result.and_then(f)),
            state => {
                let mut inner = JobHandle { state };
                JobHandle::spawn(move || inner.take_blocking().and_then(f))
            }
        }
    }

    /// Blocks until the action has ended and returns its result.
    ///
    /// # Errors
    /// The action's error: a failed task, a cancellation, a storage error, ...
    pub fn wait(mut self) -> Result<T> {
        self.take_blocking()
    }

    /// Waits for the result and takes it; the handle keeps its job (for metrics and
    /// progress) with nothing left to take.
    fn take_blocking(&mut self) -> Result<T> {
        match &mut self.state {
            State::Job { job, finish } => {
                let Some(finish) = finish.take() else {
                    return Err(Error::internal("a job handle's result taken twice"));
                };
                job.wait();
                let raw = job.take_result().unwrap_or_else(|| Err(JobError::stopped(job.id())));
                (finish.run)(raw)
            }
            State::Spawned(spawned) => spawned.wait(),
            State::Ready(result) => {
                result.take().unwrap_or_else(|| Err(Error::internal("a job handle's result taken twice")))
            }
        }
    }

    /// Asks the job (every job of the action) to stop; returns at once. The handle then
    /// resolves to an error of kind [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) once
    /// the job's running tasks have stopped, unless it had already ended. A cancelled save
    /// leaves no output behind.
    pub fn cancel(&self) {
        match &self.state {
            State::Job { job, .. } => job.cancel("by its handle"),
            State::Spawned(spawned) => spawned.control.cancel(),
            State::Ready(_) => {}
        }
    }

    /// How far the job is, stage by stage: tasks done, running and in total. For an action of
    /// several jobs, its latest job's.
    pub fn progress(&self) -> JobProgress {
        match &self.state {
            State::Job { job, .. } => job.progress(),
            State::Spawned(spawned) => spawned.control.last_job().map(|j| j.progress()).unwrap_or_default(),
            State::Ready(_) => JobProgress { finished: true, ..JobProgress::default() },
        }
    }

    /// What the job did (stages run and skipped, tasks, shuffle bytes, spills, cache hits),
    /// once it has ended; for an action of several jobs, its last job's.
    pub fn metrics(&self) -> Option<JobMetrics> {
        match &self.state {
            State::Job { job, .. } => job.metrics(),
            State::Spawned(spawned) => spawned.finished().then(|| spawned.control.last_job()?.metrics()).flatten(),
            State::Ready(_) => None,
        }
    }

    /// The id of the job (an action of several jobs: its latest).
    pub fn job_id(&self) -> Option<JobId> {
        match &self.state {
            State::Job { job, .. } => Some(job.id()),
            State::Spawned(spawned) => spawned.control.last_job().map(|j| j.id()),
            State::Ready(_) => None,
        }
    }

    /// Whether the action has ended (its result is ready).
    pub fn is_finished(&self) -> bool {
        match &self.state {
            State::Job { job, .. } => job.is_finished(),
            State::Spawned(spawned) => spawned.finished(),
            State::Ready(_) => true,
        }
    }

    /// Runs `callback` once the action has ended, on whatever thread ends it (it must be quick).
    fn on_finish(&self, callback: impl FnOnce() + Send + 'static) {
        match &self.state {
            State::Job { job, .. } => job.on_finish(callback),
            State::Spawned(spawned) => spawned.on_finish(Box::new(callback)),
            State::Ready(_) => callback(),
        }
    }
}

impl<T> Spawned<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, SpawnedOutcome<T>> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn complete(&self, result: Result<T>) {
        let (wakers, callbacks) = {
            let mut outcome = self.lock();
            outcome.result = Some(result);
            outcome.finished = true;
            (std::mem::take(&mut outcome.wakers), std::mem::take(&mut outcome.callbacks))
        };
        self.done.notify_all();
        wakers.into_iter().for_each(Waker::wake);
        callbacks.into_iter().for_each(|callback| callback());
    }

    fn finished(&self) -> bool {
        self.lock().finished
    }

    fn wait(&self) -> Result<T> {
        let mut outcome = self.lock();
        while !outcome.finished {
            outcome = self.done.wait(outcome).unwrap_or_else(PoisonError::into_inner);
        }
        outcome.result.take().unwrap_or_else(|| Err(Error::internal("a job handle's result taken twice")))
    }

    fn on_finish(&self, callback: Box<dyn FnOnce() + Send>) {
        let mut outcome = self.lock();
        if outcome.finished {
            drop(outcome);
            callback();
        } else {
            outcome.callbacks.push(callback);
        }
    }
}

impl<T: Send + 'static> Future for JobHandle<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        if let State::Job { job, finish } = &mut this.state {
            let Some(ready) = finish.take() else {
                return Poll::Ready(Err(Error::internal("a job handle polled after it resolved")));
            };
            if job.poll_finished(cx).is_pending() {
                *finish = Some(ready);
                return Poll::Pending;
            }
            let raw = job.take_result().unwrap_or_else(|| Err(JobError::stopped(job.id())));
            if !ready.is_blocking() {
                return Poll::Ready((ready.run)(raw));
            }
            // A commit or a checkpoint write blocks on I/O: not inside `poll`. The spawned
            // finishing step keeps the job, for the handle's metrics and progress.
            let job = job.clone();
            let spawned = JobHandle::spawn(move || (ready.run)(raw));
            if let State::Spawned(s) = &spawned.state {
                s.control.register(&job);
            }
            this.state = spawned.into_state();
        }
        match &mut this.state {
            State::Spawned(spawned) => {
                let mut outcome = spawned.lock();
                if outcome.finished {
                    let result = outcome.result.take();
                    drop(outcome);
                    return Poll::Ready(
                        result.unwrap_or_else(|| Err(Error::internal("a job handle's result taken twice"))),
                    );
                }
                if !outcome.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    outcome.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
            State::Ready(result) => Poll::Ready(
                result.take().unwrap_or_else(|| Err(Error::internal("a job handle polled after it resolved"))),
            ),
            State::Job { .. } => unreachable!("handled above"),
        }
    }
}

impl<T: Send + 'static> JobHandle<T> {
    fn into_state(mut self) -> State<T> {
        std::mem::replace(&mut self.state, State::Ready(None))
    }
}

impl<T: Send + 'static> Drop for JobHandle<T> {
    fn drop(&mut self) {
        // A dropped handle does not stop its job; a finisher that writes (a save's commit,
        // checkpoints) still runs when the job ends, so the output is not left uncommitted.
        if let State::Job { job, finish } = &mut self.state
            && let Some(finish) = finish.take()
            && finish.is_blocking()
        {
            let job = job.clone();
            let _ = std::thread::Builder::new().name("ember-action".to_owned()).spawn(move || {
                job.wait();
                let raw = job.take_result().unwrap_or_else(|| Err(JobError::stopped(job.id())));
                if let Err(error) = (finish.run)(raw) {
                    tracing::warn!(%error, "an action whose handle was dropped failed");
                }
            });
        }
    }
}

impl<T: Send + 'static> std::fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("JobHandle");
        match &self.state {
            State::Job { job, .. } => d.field("job", &job.id()).field("finished", &job.is_finished()),
            State::Spawned(spawned) => d.field("spawned", &true).field("finished", &spawned.finished()),
            State::Ready(_) => d.field("ready", &true),
        };
        d.finish()
    }
}

/// The results of `handles` in the order the actions finish, as Python's
/// `concurrent.futures.as_completed` yields them: each `next` blocks until another action
/// ends. Each item is that action's `ember::Result`; give the actions results that say which
/// is which (or keep their ids) when the order matters.
///
/// # Examples
/// ```
/// use ember::prelude::*;
///
/// let ctx = Context::local(2)?;
/// let handles: Vec<_> = (1..=3).map(|k| ctx.range(0, 100 * k, 1, 2).count_async()).collect();
/// let mut counts: Vec<u64> = ember::as_completed(handles).collect::<ember::Result<_>>()?;
/// counts.sort();
/// assert_eq!(counts, [100, 200, 300]);
/// # Ok::<(), ember::Error>(())
/// ```
pub fn as_completed<T: Send + 'static>(handles: impl IntoIterator<Item = JobHandle<T>>) -> AsCompleted<T> {
    let (done, finished) = crossbeam_channel::unbounded();
    let handles: Vec<Option<JobHandle<T>>> = handles.into_iter().map(Some).collect();
    for (i, handle) in handles.iter().enumerate() {
        let done = done.clone();
        handle.as_ref().expect("just wrapped").on_finish(move || {
            let _ = done.send(i);
        });
    }
    AsCompleted { handles, finished }
}

/// The iterator [`as_completed`] returns.
pub struct AsCompleted<T: Send + 'static> {
    handles: Vec<Option<JobHandle<T>>>,
    finished: crossbeam_channel::Receiver<usize>,
}

impl<T: Send + 'static> Iterator for AsCompleted<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.handles.iter().all(Option::is_none) {
            return None;
        }
        let i = self.finished.recv().ok()?;
        let handle = self.handles[i].take()?;
        Some(handle.wait())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.handles.iter().filter(|h| h.is_some()).count();
        (left, Some(left))
    }
}
