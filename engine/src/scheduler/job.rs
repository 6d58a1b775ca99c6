//! One job's scheduling state machine: events in, commands out, no I/O.

use std::any::Any;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::metrics::{JobMetrics, StageMetrics};
use crate::accumulator::{AccumulatorRegistry, AccumulatorUpdates};
use crate::config::EngineConfig;
use crate::error::{JobError, TaskFailure};
use crate::executor::ResultFn;
use crate::executor::{StageWork, TaskOutcome, TaskSuccess};
use crate::ids::{JobId, ShuffleId, StageId};
use crate::plan::{StageGraph, StageKind};
use crate::shuffle::ShuffleRegistry;
use crate::task::TaskDescriptor;

/// What the state machine asks its driver to do.
pub enum Command {
    /// Run this attempt with this work.
    Launch(TaskDescriptor, Arc<StageWork>),
    /// The job is over: its results in the order of the requested partitions, or why it failed.
    Finish(Result<Vec<Box<dyn Any + Send>>, JobError>),
}

/// The scheduling state of one job. See the [module docs](super) for the rules it follows.
pub struct JobRun {
    job: JobId,
    graph: StageGraph,
    config: EngineConfig,
    shuffles: Arc<ShuffleRegistry>,
    accumulators: Arc<AccumulatorRegistry>,
    /// (stage, partition) whose first successful attempt's accumulator updates were applied.
    accumulated: HashSet<(StageId, usize)>,
    /// Ticks at every launch and map-output registration: tells stale fetch failures apart.
    clock: u64,
    /// (stage, partition) → the clock when its latest attempt was launched.
    launched_at: HashMap<(StageId, usize), u64>,
    /// (shuffle, map) → the clock when that map task was last launched or registered.
    map_touched: HashMap<(ShuffleId, usize), u64>,
    work: Vec<Arc<StageWork>>,
    /// Result-stage partition → index in the job's result vector.
    result_slots: HashMap<usize, usize>,
    results: Vec<Option<Box<dyn Any + Send>>>,
    results_missing: usize,
    waiting: BTreeSet<StageId>,
    running: BTreeSet<StageId>,
    pending: HashMap<StageId, BTreeSet<usize>>,
    in_flight: HashSet<(StageId, usize)>,
    next_attempt: HashMap<(StageId, usize), u32>,
    failures: HashMap<(StageId, usize), u32>,
    fetch_failures: HashMap<StageId, u32>,
    stage_metrics: Vec<StageMetrics>,
    /// One `stage` span per running stage, closed (with its totals) when the stage finishes.
    stage_spans: HashMap<StageId, tracing::Span>,
    finished: bool,
}

impl JobRun {
    /// A job computing `partitions` of the graph's result stage with `func`.
    pub fn new(
        job: JobId,
        graph: StageGraph,
        partitions: Vec<usize>,
        func: Arc<ResultFn>,
        config: EngineConfig,
        shuffles: Arc<ShuffleRegistry>,
        accumulators: Arc<AccumulatorRegistry>,
    ) -> Self {
        let work = graph
            .stages()
            .iter()
            .map(|s| match &s.kind {
                StageKind::ShuffleMap(dep) => Arc::new(StageWork::ShuffleMap(Arc::clone(dep))),
                StageKind::Result => Arc::new(StageWork::Result(Arc::clone(&func))),
            })
            .collect();
        let stage_metrics = graph
            .stages()
            .iter()
            .map(|s| StageMetrics {
                stage: s.id,
                name: s.name(),
                is_shuffle_map: matches!(s.kind, StageKind::ShuffleMap(_)),
                num_tasks: s.num_tasks,
                skipped: true,
                ..StageMetrics::default()
            })
            .collect();
        let result_slots: HashMap<usize, usize> = partitions.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        JobRun {
            job,
            config,
            shuffles,
            accumulators,
            accumulated: HashSet::new(),
            clock: 0,
            launched_at: HashMap::new(),
            map_touched: HashMap::new(),
            work,
            results: (0..partitions.len()).map(|_| None).collect(),
            results_missing: result_slots.len(),
            result_slots,
            graph,
            waiting: BTreeSet::new(),
            running: BTreeSet::new(),
            pending: HashMap::new(),
            in_flight: HashSet::new(),
            next_attempt: HashMap::new(),
            failures: HashMap::new(),
            fetch_failures: HashMap::new(),
            stage_metrics,
            stage_spans: HashMap::new(),
            finished: false,
        }
    }

    /// The first commands: launch whatever can run now.
    pub fn start(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        if self.results_missing == 0 {
            return self.finish(Ok(Vec::new()), out);
        }
        let result = self.graph.result_stage().id;
        self.submit_stage(result, &mut out);
        out
    }

    /// Feeds one attempt's outcome; returns what to do next.
    pub fn on_outcome(&mut self, outcome: TaskOutcome) -> Vec<Command> {
        let mut out = Vec::new();
        let TaskOutcome { task, result, metrics, accumulators } = outcome;
        let (stage, partition) = (task.stage, task.partition);
        self.in_flight.remove(&(stage, partition));
        if self.finished {
            return out;
        }
        let stage_metrics = &mut self.stage_metrics[stage.0 as usize];
        match result {
            Ok(success) => {
                stage_metrics.totals.add(&metrics);
                self.apply_accumulators(task, accumulators);
                self.on_success(task, success, &mut out);
            }
            Err(failure) => {
                stage_metrics.tasks_failed += 1;
                tracing::warn!(stage = stage.0, partition, attempt = task.attempt, %failure, "task failed");
                self.on_failure(task, failure, &mut out);
            }
        }
        out
    }

    /// True when nothing is running and nothing is left to launch, yet the job is not over:
    /// a scheduler bug, which the driver turns into an error instead of waiting forever.
    pub fn is_stalled(&self) -> bool {
        !self.finished && self.in_flight.is_empty()
    }

    /// The metrics gathered so far, closing the job.
    pub fn into_metrics(self, duration: Duration, succeeded: bool) -> JobMetrics {
        JobMetrics { job: self.job, succeeded, duration, stages: self.stage_metrics }
    }

    /// Applies an attempt's accumulator updates once per (stage, partition): the first
    /// successful attempt's, never a retry's or a duplicate's.
    fn apply_accumulators(&mut self, task: TaskDescriptor, updates: AccumulatorUpdates) {
        if self.accumulated.insert((task.stage, task.partition)) {
            self.accumulators.apply(updates);
        }
    }

    fn on_success(&mut self, task: TaskDescriptor, success: TaskSuccess, out: &mut Vec<Command>) {
        let (stage, partition) = (task.stage, task.partition);
        if let Some(pending) = self.pending.get_mut(&stage) {
            pending.remove(&partition);
        }
        match success {
            TaskSuccess::MapOutput(status) => {
                let StageKind::ShuffleMap(dep) = &self.graph.stage(stage).kind else {
                    unreachable!("only shuffle-map stages produce map outputs")
                };
                self.shuffles.tracker.register_map_output(dep.shuffle_id, partition, status);
                self.clock += 1;
                self.map_touched.insert((dep.shuffle_id, partition), self.clock);
                let done = self.pending.get(&stage).is_none_or(BTreeSet::is_empty);
                if done && self.running.contains(&stage) {
                    self.stage_finished(stage, out);
                }
            }
            TaskSuccess::Value(value) => {
                let slot = self.result_slots[&partition];
                if self.results[slot].is_none() {
                    self.results[slot] = Some(value);
                    self.results_missing -= 1;
                }
                if self.results_missing == 0 {
                    let results = self.results.drain(..).map(|r| r.expect("every slot is filled")).collect();
                    let out_now = std::mem::take(out);
                    *out = self.finish(Ok(results), out_now);
                }
            }
        }
    }

    fn on_failure(&mut self, task: TaskDescriptor, failure: TaskFailure, out: &mut Vec<Command>) {
        let (stage, partition) = (task.stage, task.partition);
        if let TaskFailure::FetchFailed { shuffle, map } = failure {
            // A report about a map task relaunched (or re-registered) after the failing attempt
            // was launched is stale: the map task is already rerunning, and its new output
            // may already be in the store, so it forgets nothing. Otherwise forget the
            // reported output and every other registered output of the shuffle the store no
            // longer has, so one resubmission reruns all the lost map tasks at once.
            let launched = self.launched_at.get(&(stage, partition)).copied().unwrap_or(0);
            let stale = self.map_touched.get(&(shuffle, map)).is_some_and(|&at| at > launched);
            if !stale {
                self.shuffles.tracker.unregister_map_output(shuffle, map);
                self.shuffles.store.remove_map_output(shuffle, map);
                for m in self.shuffles.tracker.registered_maps(shuffle) {
                    if !self.shuffles.store.has_map_output(shuffle, m) {
                        self.shuffles.tracker.unregister_map_output(shuffle, m);
                    }
                }
            }
            if self.running.remove(&stage) {
                let count = self.fetch_failures.entry(stage).or_insert(0);
                *count += 1;
                if *count > self.config.max_stage_attempts {
                    let count = *count;
                    let err = JobError::TooManyFetchFailures {
                        job: self.job,
                        stage,
                        stage_name: self.graph.stage(stage).name(),
                        count,
                    };
                    let out_now = std::mem::take(out);
                    *out = self.finish(Err(err), out_now);
                    return;
                }
            }
            // Resubmitting finds the lost parent output missing, waits and reruns that map task.
            self.waiting.remove(&stage);
            self.submit_stage(stage, out);
            return;
        }
        let failed = self.failures.entry((stage, partition)).or_insert(0);
        *failed += 1;
        if *failed >= self.config.max_task_attempts {
            let err = JobError::TaskFailed {
                job: self.job,
                stage,
                stage_name: self.graph.stage(stage).name(),
                partition,
                attempt: *failed,
                max_attempts: self.config.max_task_attempts,
                failure,
            };
            let out_now = std::mem::take(out);
            *out = self.finish(Err(err), out_now);
        } else if self.running.contains(&stage) {
            self.launch(stage, partition, out);
        }
    }

    fn submit_stage(&mut self, stage: StageId, out: &mut Vec<Command>) {
        if self.waiting.contains(&stage) || self.running.contains(&stage) {
            return;
        }
        let missing: Vec<StageId> =
            self.graph.stage(stage).parents.iter().copied().filter(|&p| !self.is_available(p)).collect();
        if missing.is_empty() {
            self.launch_stage(stage, out);
        } else {
            self.waiting.insert(stage);
            for parent in missing {
                self.submit_stage(parent, out);
            }
        }
    }

    fn launch_stage(&mut self, stage: StageId, out: &mut Vec<Command>) {
        let partitions: BTreeSet<usize> = match &self.graph.stage(stage).kind {
            StageKind::ShuffleMap(dep) => {
                self.shuffles.tracker.register_shuffle(dep.shuffle_id, dep.num_maps());
                self.shuffles.tracker.missing_maps(dep.shuffle_id, dep.num_maps()).into_iter().collect()
            }
            StageKind::Result => {
                self.result_slots.iter().filter(|&(_, &slot)| self.results[slot].is_none()).map(|(&p, _)| p).collect()
            }
        };
        let span = tracing::info_span!(
            "stage",
            job = self.job.0,
            stage = stage.0,
            name = %self.graph.stage(stage).name(),
            tasks = partitions.len(),
            records_read = tracing::field::Empty,
            records_written = tracing::field::Empty,
            shuffle_bytes_written = tracing::field::Empty,
            shuffle_bytes_read = tracing::field::Empty,
        );
        span.in_scope(|| tracing::info!("stage submitted"));
        self.stage_spans.insert(stage, span);
        self.running.insert(stage);
        self.stage_metrics[stage.0 as usize].skipped = false;
        for &p in &partitions {
            self.launch(stage, p, out);
        }
        let empty = partitions.is_empty();
        self.pending.insert(stage, partitions);
        if empty {
            self.stage_finished(stage, out);
        }
    }

    fn launch(&mut self, stage: StageId, partition: usize, out: &mut Vec<Command>) {
        if !self.in_flight.insert((stage, partition)) {
            return;
        }
        let attempt = self.next_attempt.entry((stage, partition)).or_insert(0);
        let task = TaskDescriptor { job: self.job, stage, partition, attempt: *attempt };
        self.clock += 1;
        self.launched_at.insert((stage, partition), self.clock);
        if let StageKind::ShuffleMap(dep) = &self.graph.stage(stage).kind {
            self.map_touched.insert((dep.shuffle_id, partition), self.clock);
        }
        *attempt += 1;
        self.stage_metrics[stage.0 as usize].tasks_launched += 1;
        out.push(Command::Launch(task, Arc::clone(&self.work[stage.0 as usize])));
    }

    fn stage_finished(&mut self, stage: StageId, out: &mut Vec<Command>) {
        // An output of this stage may have been lost while its other tasks ran: rerun those
        // map tasks before calling the stage done, or its children would wait forever.
        if let StageKind::ShuffleMap(dep) = &self.graph.stage(stage).kind {
            let lost = self.shuffles.tracker.missing_maps(dep.shuffle_id, dep.num_maps());
            if !lost.is_empty() {
                for p in lost {
                    self.pending.entry(stage).or_default().insert(p);
                    self.launch(stage, p, out);
                }
                return;
            }
        }
        self.running.remove(&stage);
        if let Some(span) = self.stage_spans.remove(&stage) {
            let totals = &self.stage_metrics[stage.0 as usize].totals;
            span.record("records_read", totals.records_read);
            span.record("records_written", totals.records_written);
            span.record("shuffle_bytes_written", totals.shuffle_bytes_written);
            span.record("shuffle_bytes_read", totals.shuffle_bytes_read);
            span.in_scope(|| tracing::info!(task_millis = totals.duration.as_millis() as u64, "stage finished"));
        }
        let ready: Vec<StageId> = self
            .waiting
            .iter()
            .copied()
            .filter(|&w| self.graph.stage(w).parents.iter().all(|&p| self.is_available(p)))
            .collect();
        for w in ready {
            self.waiting.remove(&w);
            self.submit_stage(w, out);
        }
    }

    /// A map stage is available when its shuffle is registered with every map output. (A
    /// shuffle with no map tasks still runs its empty stage once, which registers it.)
    fn is_available(&self, stage: StageId) -> bool {
        match &self.graph.stage(stage).kind {
            StageKind::ShuffleMap(dep) => {
                !self.running.contains(&stage) && self.shuffles.tracker.is_complete(dep.shuffle_id)
            }
            StageKind::Result => false,
        }
    }

    fn finish(&mut self, result: Result<Vec<Box<dyn Any + Send>>, JobError>, mut out: Vec<Command>) -> Vec<Command> {
        self.finished = true;
        out.retain(|c| !matches!(c, Command::Launch(..)));
        out.push(Command::Finish(result));
        out
    }
}
