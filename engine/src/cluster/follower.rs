//! The executor's stand-in for the scheduler thread: its own `main` submits jobs as the
//! driver's does, but the driver runs them; this loop completes each job handle with the
//! outcome the driver sends, whichever comes first (a replacement replaying `main` finds the
//! outcomes of earlier jobs waiting).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::executor::Joined;
use super::wire::JobOutcome;
use crate::executor::{LocalBackend, WorkRegistry};
use crate::ids::JobId;
use crate::scheduler::JobProgress;
use crate::scheduler::driver::{Inbox, JobState, stopped_metrics};

/// Starts the follower thread (`ember-follower`) over `joined`, with `backend` as the task
/// slots. It ends, saying goodbye to the driver, when the context is dropped.
///
/// # Errors
/// The OS error when the thread cannot be spawned.
pub(crate) fn spawn_follower(
    joined: Joined,
    backend: Arc<LocalBackend>,
    works: Arc<WorkRegistry>,
    inbox: crossbeam_channel::Sender<Inbox>,
    messages: Receiver<Inbox>,
) -> std::io::Result<JoinHandle<()>> {
    let running = joined.run(backend, Arc::clone(&works), inbox);
    std::thread::Builder::new().name("ember-follower".to_owned()).spawn(move || {
        crate::context::mark_engine_thread();
        follow(&messages, &works);
        drop(running);
    })
}

fn follow(messages: &Receiver<Inbox>, works: &WorkRegistry) {
    let mut waiting: HashMap<JobId, Arc<JobState>> = HashMap::new();
    let mut ended: HashMap<JobId, JobOutcome> = HashMap::new();
    let finish = |state: &JobState, outcome: JobOutcome| {
        works.forget_result(outcome.job);
        let mut metrics = stopped_metrics(outcome.job);
        metrics.succeeded = outcome.result.is_ok();
        state.complete(outcome.result, metrics, JobProgress { job: outcome.job, ..JobProgress::default() });
    };
    while let Ok(message) = messages.recv() {
        match message {
            Inbox::Submit(submission, state) => match ended.remove(&submission.job) {
                Some(outcome) => finish(&state, outcome),
                None => {
                    waiting.insert(submission.job, state);
                }
            },
            Inbox::JobEnded(outcome) => match waiting.remove(&outcome.job) {
                Some(state) => finish(&state, outcome),
                None => {
                    ended.insert(outcome.job, outcome);
                }
            },
            Inbox::Progress(job, reply) => {
                let _ = reply.send(Some(JobProgress { job, ..JobProgress::default() }));
            }
            Inbox::WhenIdle(reply) => {
                let _ = reply.send(());
            }
            // Cancelling is the driver's: an executor's handle cannot stop the driver's job.
            Inbox::Event(_) | Inbox::Release(_) => {}
            Inbox::Shutdown => break,
        }
    }
    for (job, state) in waiting {
        finish(&state, JobOutcome { job, result: Err(crate::error::JobError::stopped(job)) });
    }
}
