//! The scheduler's thread: the thin loop that feeds events to the [`DagScheduler`] and carries
//! out its commands, and [`RunningJob`], the engine's handle on one submitted job.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context as TaskCx, Poll, Waker};
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};

use super::event::{CancelTarget, Command, JobSubmission, SchedulerEvent};
use super::{DagScheduler, JobMetrics, JobProgress};
use crate::accumulator::AccumulatorRegistry;
use crate::error::JobError;
use crate::events::{Event, ListenerBus, now_micros};
use crate::executor::{Backend, ResultFn, TaskReport, WorkRegistry};
use crate::ids::{JobId, ShuffleId};
use crate::lineage::ShuffleCleanup;
use crate::shuffle::ShuffleRegistry;

/// What reaches the scheduler's thread.
pub(crate) enum Inbox {
    /// A scheduler event.
    Event(SchedulerEvent),
    /// A new job and the handle to complete when it ends.
    Submit(JobSubmission, Arc<JobState>),
    /// A question about a running job's progress.
    Progress(JobId, Sender<Option<JobProgress>>),
    /// Answer once no job is active.
    WhenIdle(Sender<()>),
    /// The context is going away.
    Shutdown,
    /// On a cluster executor: the driver says how a job ended.
    JobEnded(crate::cluster::wire::JobOutcome),
    /// On the driver: a held job's outcome may go to the executors now.
    Release(JobId),
}

/// The parts of the context the loop carries commands out on.
pub(crate) struct LoopParts {
    pub(crate) dag: DagScheduler,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) shuffles: Arc<ShuffleRegistry>,
    pub(crate) works: Arc<WorkRegistry>,
    pub(crate) accumulators: Arc<AccumulatorRegistry>,
    pub(crate) bus: Arc<ListenerBus>,
    pub(crate) history: Arc<super::JobHistory>,
}

thread_local! {
    /// Set on the scheduler's thread: code there must never wait for the scheduler.
    static ON_SCHEDULER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is a scheduler loop's.
pub(crate) fn on_scheduler_thread() -> bool {
    ON_SCHEDULER.with(std::cell::Cell::get)
}

/// Starts the scheduler's thread (`ember-scheduler`).
pub(crate) fn spawn(parts: LoopParts, inbox: Receiver<Inbox>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("ember-scheduler".to_owned()).spawn(move || {
        ON_SCHEDULER.with(|f| f.set(true));
        crate::context::mark_engine_thread();
        Loop { parts, waiters: HashMap::new(), idle: Vec::new(), held: HashSet::new() }.run(&inbox);
    })
}

struct Loop {
    parts: LoopParts,
    waiters: HashMap<JobId, Arc<JobState>>,
    /// Who waits for no job to be active.
    idle: Vec<Sender<()>>,
    /// Active jobs whose outcome waits for the driver's release before going to executors.
    held: HashSet<JobId>,
}

impl Loop {
    fn run(mut self, inbox: &Receiver<Inbox>) {
        for (executor, slots) in self.parts.backend.executors() {
            self.feed(SchedulerEvent::ExecutorAdded { executor, slots });
        }
        let mut stopping = false;
        while let Ok(message) = inbox.recv() {
            match message {
                Inbox::Event(event) => self.feed(event),
                Inbox::Submit(submission, waiter) => {
                    if submission.held {
                        self.held.insert(submission.job);
                    }
                    self.waiters.insert(submission.job, waiter);
                    self.feed(SchedulerEvent::Submit(submission));
                }
                Inbox::Progress(job, reply) => {
                    let _ = reply.send(self.parts.dag.progress(job));
                }
                Inbox::WhenIdle(reply) => self.idle.push(reply),
                Inbox::Shutdown => {
                    stopping = true;
                    self.feed(SchedulerEvent::Stop);
                }
                Inbox::JobEnded(_) => {}
                Inbox::Release(job) => self.parts.backend.release_outcome(job),
            }
            let idle = self.parts.dag.active_jobs().is_empty();
            if idle {
                for reply in self.idle.drain(..) {
                    let _ = reply.send(());
                }
            }
            // Stopping ends once every job has finished: their killed attempts have reported.
            if stopping && idle {
                break;
            }
        }
        self.parts.bus.post(Event::ApplicationEnd { time: now_micros() });
        // Joins the workers, then the listeners (the event log flushes as its thread ends).
        drop(self.parts.backend);
        self.parts.bus.close();
    }

    /// Handles `event` and everything its commands feed back, in order.
    fn feed(&mut self, event: SchedulerEvent) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            for command in self.parts.dag.handle(event, now_micros()) {
                self.execute(command, &mut queue);
            }
        }
    }

    fn execute(&mut self, command: Command, feedback: &mut VecDeque<SchedulerEvent>) {
        let parts = &self.parts;
        match command {
            Command::Launch { task, executor } => parts.backend.launch(task, executor),
            Command::Kill(task) => parts.backend.kill(task),
            Command::Unregister { shuffle, maps: Some(maps) } => {
                for map in maps {
                    parts.shuffles.store.remove_map_output(shuffle, map);
                }
            }
            Command::Unregister { shuffle, maps: None } => {
                parts.shuffles.store.remove_shuffle(shuffle);
                parts.works.forget_shuffle(shuffle);
            }
            Command::ApplyAccumulators { job, updates } => {
                // User code (an accumulator's merge) runs here, guarded: its panic fails
                // the job it counted for, nothing else.
                let error = parts.accumulators.apply(updates);
                feedback.push_back(SchedulerEvent::AccumulatorsApplied { job, error });
            }
            Command::Emit(event) => {
                trace(&event);
                parts.bus.post(event);
            }
            Command::Finish { job, result, metrics, progress } => {
                parts.works.forget_result(job);
                parts.backend.job_ended(job, &result, self.held.remove(&job));
                parts.history.push(metrics.clone());
                if let Some(waiter) = self.waiters.remove(&job) {
                    waiter.complete(result, metrics, progress);
                }
            }
        }
    }
}

/// The tracing listener: jobs and stages at `info`, tasks at `debug` (target `ember::events`).
fn trace(event: &Event) {
    match event {
        Event::JobStart { job, action, stages, .. } => {
            tracing::info!(target: "ember::events", job = job.0, %action, stages = stages.len(), "job started");
        }
        Event::StageSubmitted { stage, name, tasks, .. } => {
            tracing::info!(target: "ember::events", stage = stage.0, %name, tasks, "stage submitted");
        }
        Event::TaskEnd { job, stage, partition, attempt, reason, metrics, .. } => {
            tracing::debug!(
                target: "ember::events",
                job = job.0,
                stage = stage.0,
                partition = partition.0,
                attempt = attempt.0,
                ?reason,
                records_read = metrics.records_read,
                millis = metrics.duration.as_millis() as u64,
                "task ended"
            );
        }
        Event::StageCompleted { stage, outcome, .. } => {
            tracing::info!(target: "ember::events", stage = stage.0, ?outcome, "stage completed");
        }
        Event::JobEnd { job, result, metrics, error, .. } => {
            tracing::info!(
                target: "ember::events",
                job = job.0,
                ?result,
                stages_run = metrics.stages_run(),
                stages_skipped = metrics.stages_skipped(),
                tasks = metrics.tasks_launched(),
                millis = metrics.duration.as_millis() as u64,
                error = error.as_deref().unwrap_or(""),
                "job ended"
            );
        }
        _ => {}
    }
}

/// The scheduler's side of the shuffle cleanup: a dropped shuffle becomes an event.
pub(crate) struct CleanupSender(pub(crate) Sender<Inbox>);

impl ShuffleCleanup for CleanupSender {
    fn shuffle_dropped(&self, shuffle: ShuffleId) {
        // After the context stopped nobody listens, and nothing needs freeing.
        let _ = self.0.send(Inbox::Event(SchedulerEvent::ShuffleDropped(shuffle)));
    }
}

/// Turns backend reports into scheduler events.
pub(crate) fn report_sink(inbox: Sender<Inbox>) -> crate::executor::ReportSink {
    Arc::new(move |report: TaskReport| {
        let _ = inbox.send(Inbox::Event(SchedulerEvent::TaskEnded(report)));
    })
}

/// How a job ended, as its handle keeps it.
struct Outcome {
    result: Option<Result<Vec<Bytes>, JobError>>,
    metrics: JobMetrics,
    progress: JobProgress,
}

#[derive(Default)]
struct Waiting {
    outcome: Option<Outcome>,
    wakers: Vec<Waker>,
    callbacks: Vec<Box<dyn FnOnce() + Send>>,
}

/// The completion slot of one job, filled by the scheduler loop.
#[derive(Default)]
pub(crate) struct JobState {
    waiting: Mutex<Waiting>,
    done: Condvar,
}

impl JobState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn complete(&self, result: Result<Vec<Bytes>, JobError>, metrics: JobMetrics, progress: JobProgress) {
        let (wakers, callbacks) = {
            let mut waiting = self.lock();
            waiting.outcome = Some(Outcome { result: Some(result), metrics, progress });
            (std::mem::take(&mut waiting.wakers), std::mem::take(&mut waiting.callbacks))
        };
        self.done.notify_all();
        wakers.into_iter().for_each(Waker::wake);
        callbacks.into_iter().for_each(|callback| callback());
    }
}

/// The engine's handle on one submitted job: wait for it (blocking or as a future), cancel
/// it, ask how far it is. Its values come back as the encoded bytes the result tasks
/// produced; the typed layer decodes them. Clones refer to the same job.
#[derive(Clone)]
pub struct RunningJob {
    job: JobId,
    state: Arc<JobState>,
    inbox: Sender<Inbox>,
}

impl RunningJob {
    pub(crate) fn submit(
        inbox: &Sender<Inbox>,
        submission: JobSubmission,
        func: Arc<ResultFn>,
        works: &WorkRegistry,
    ) -> Self {
        let job = submission.job;
        works.register_result(job, func, Arc::clone(&submission.final_node));
        let state = Arc::new(JobState::default());
        let handle = RunningJob { job, state: Arc::clone(&state), inbox: inbox.clone() };
        if inbox.send(Inbox::Submit(submission, state)).is_err() {
            works.forget_result(job);
            handle.state.complete(Err(JobError::stopped(job)), stopped_metrics(job), JobProgress::default());
        }
        handle
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.job
    }

    /// Asks the scheduler to cancel the job (`reason` completes "job N cancelled ...").
    /// Returns at once; the job ends with a cancellation error once its running attempts
    /// have stopped. Does nothing to a job that has ended.
    pub fn cancel(&self, reason: &str) {
        let event = SchedulerEvent::Cancel { target: CancelTarget::Job(self.job), reason: reason.to_owned() };
        let _ = self.inbox.send(Inbox::Event(event));
    }

    /// Whether the job has ended.
    pub fn is_finished(&self) -> bool {
        self.state.lock().outcome.is_some()
    }

    /// Blocks until the job has ended.
    ///
    /// # Panics
    /// On the scheduler's own thread, which would wait for itself.
    pub fn wait(&self) {
        assert!(!on_scheduler_thread(), "a job waited for on the scheduler's thread would never end");
        let mut waiting = self.state.lock();
        while waiting.outcome.is_none() {
            waiting = self.state.done.wait(waiting).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// `Ready` once the job has ended; otherwise wakes `cx` when it does.
    pub fn poll_finished(&self, cx: &mut TaskCx<'_>) -> Poll<()> {
        let mut waiting = self.state.lock();
        if waiting.outcome.is_some() {
            return Poll::Ready(());
        }
        if !waiting.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            waiting.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Runs `callback` (on the scheduler's thread, so it must be quick and must not wait for
    /// a job) when the job ends, or at once if it has.
    pub fn on_finish(&self, callback: impl FnOnce() + Send + 'static) {
        let mut waiting = self.state.lock();
        if waiting.outcome.is_some() {
            drop(waiting);
            callback();
        } else {
            waiting.callbacks.push(Box::new(callback));
        }
    }

    /// Takes the job's values (in the order of the requested partitions) or its error, once
    /// it has ended; `None` before, or when taken already.
    pub fn take_result(&self) -> Option<Result<Vec<Bytes>, JobError>> {
        self.state.lock().outcome.as_mut().and_then(|o| o.result.take())
    }

    /// The job's metrics, once it has ended.
    pub fn metrics(&self) -> Option<JobMetrics> {
        self.state.lock().outcome.as_ref().map(|o| o.metrics.clone())
    }

    /// How far the job is: asked of the scheduler while it runs, the final state after.
    pub fn progress(&self) -> JobProgress {
        if let Some(outcome) = self.state.lock().outcome.as_ref() {
            return outcome.progress.clone();
        }
        let (reply, answer) = crossbeam_channel::bounded(1);
        if on_scheduler_thread() || self.inbox.send(Inbox::Progress(self.job, reply)).is_err() {
            return JobProgress { job: self.job, ..JobProgress::default() };
        }
        match answer.recv() {
            Ok(Some(progress)) => progress,
            // It ended meanwhile.
            _ => self.state.lock().outcome.as_ref().map(|o| o.progress.clone()).unwrap_or_default(),
        }
    }
}

impl std::fmt::Debug for RunningJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningJob").field("job", &self.job).field("finished", &self.is_finished()).finish()
    }
}

/// The metrics of a job that never reached the scheduler.
pub(crate) fn stopped_metrics(job: JobId) -> JobMetrics {
    JobMetrics { job, action: String::new(), succeeded: false, duration: std::time::Duration::ZERO, stages: Vec::new() }
}

/// Runs `f`, turning a panic into its message.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| crate::error::panic_message(payload.as_ref()))
}
