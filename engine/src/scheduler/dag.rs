//! [`DagScheduler`]: every job, stage and attempt of one context, as a pure state machine.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::event::{CancelTarget, Command, JobSubmission, SchedulerEvent};
use super::job::ActiveJob;
use super::stage::{Role, Stage};
use super::{JobMetrics, JobProgress, StageMetrics, StageProgress};
use crate::block::BlockId;
use crate::config::EngineConfig;
use crate::error::{JobError, TaskFailure};
use crate::events::{Event, JobResult, Micros, StageInfo, StageOutcome, TaskEndReason};
use crate::executor::{TaskReport, TaskSuccess};
use crate::ids::{AccumulatorId, AttemptId, ExecutorId, JobId, NodeId, PartitionId, ShuffleId, StageId};
use crate::lineage::LineageNode;
use crate::plan::{StageKind, plan_job};
use crate::shuffle::{MapOutputTracker, MapStatus};
use crate::task::{TaskDescriptor, TaskMetrics};

/// An executor's task slots.
#[derive(Clone, Copy, Debug)]
struct Slots {
    free: usize,
}

/// A launched attempt until its report arrives.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    executor: ExecutorId,
    launched: Micros,
}

/// The scheduling state of one context: every active job, the stages they need (one per
/// shuffle, shared by the jobs that need it), the attempts in flight and the executors' free
/// slots. See the [module docs](super) for the rules it follows.
///
/// [`DagScheduler::handle`] takes one event and returns the commands to carry out, in
/// order. It does no I/O, never blocks and reads no clock (the time comes with each event),
/// so tests drive it by hand. It writes the map-output tracker, which reduce tasks read.
pub struct DagScheduler {
    config: EngineConfig,
    tracker: Arc<MapOutputTracker>,
    next_stage: u32,
    /// Ticks at every launch and map-output registration: tells stale fetch failures apart.
    clock: u64,
    jobs: BTreeMap<JobId, ActiveJob>,
    stages: BTreeMap<StageId, Stage>,
    /// The live map stage of each shuffle (Spark's `shuffleIdToMapStage`).
    shuffle_stage: HashMap<ShuffleId, StageId>,
    waiting: BTreeSet<StageId>,
    running: BTreeSet<StageId>,
    executors: BTreeMap<ExecutorId, Slots>,
    in_flight: HashMap<TaskDescriptor, InFlight>,
    /// Killed attempts whose report a failed or cancelled job waits for before it finishes.
    draining: HashMap<TaskDescriptor, JobId>,
    /// (shuffle, map) → the clock when that map task was last launched or registered.
    map_touched: HashMap<(ShuffleId, PartitionId), u64>,
    /// Which executor holds each cached partition, as the attempts that stored them said.
    /// A block evicted or unpersisted since only costs its task a recomputation there.
    cached_at: HashMap<BlockId, ExecutorId>,
    /// Why every executor is gone and none is coming (the backend said so), until one joins.
    gone: Option<String>,
    out: Vec<Command>,
    now: Micros,
}

impl DagScheduler {
    /// A scheduler with no executor yet, recording map outputs in `tracker`.
    pub fn new(config: EngineConfig, tracker: Arc<MapOutputTracker>) -> Self {
        DagScheduler {
            config,
            tracker,
            next_stage: 0,
            clock: 0,
            jobs: BTreeMap::new(),
            stages: BTreeMap::new(),
            shuffle_stage: HashMap::new(),
            waiting: BTreeSet::new(),
            running: BTreeSet::new(),
            executors: BTreeMap::new(),
            in_flight: HashMap::new(),
            draining: HashMap::new(),
            map_touched: HashMap::new(),
            cached_at: HashMap::new(),
            gone: None,
            out: Vec::new(),
            now: 0,
        }
    }

    /// Handles one event at time `now`; returns what to do, in order.
    pub fn handle(&mut self, event: SchedulerEvent, now: Micros) -> Vec<Command> {
        self.now = now;
        match event {
            SchedulerEvent::Submit(submission) => self.submit(submission),
            SchedulerEvent::TaskEnded(report) => self.task_ended(report),
            SchedulerEvent::Cancel { target, reason } => self.cancel(&target, &reason),
            SchedulerEvent::AccumulatorsApplied { job, error } => self.accumulators_applied(job, error),
            SchedulerEvent::ExecutorAdded { executor, slots } => {
                self.executors.insert(executor, Slots { free: slots });
                self.gone = None;
            }
            SchedulerEvent::ExecutorLost { executor } => self.executor_lost(executor),
            SchedulerEvent::ShuffleDropped(shuffle) => self.shuffle_dropped(shuffle),
            SchedulerEvent::NoExecutors { reason } => self.gone = Some(reason),
            SchedulerEvent::Stop => {
                let jobs: Vec<JobId> = self.jobs.keys().copied().collect();
                for job in jobs {
                    self.end_job(job, Err(JobError::stopped(job)));
                }
            }
        }
        // With every executor gone for good, a job (running or submitted since) fails.
        if self.executors.is_empty()
            && let Some(reason) = self.gone.clone()
        {
            let jobs: Vec<JobId> = self.jobs.values().filter(|j| !j.is_ending()).map(|j| j.id).collect();
            for job in jobs {
                self.end_job(job, Err(JobError::no_executors(job, &reason)));
            }
        }
        self.offer();
        self.fail_stalled_jobs();
        std::mem::take(&mut self.out)
    }

    /// How far `job` is, while it is active.
    pub fn progress(&self, job: JobId) -> Option<JobProgress> {
        let job = self.jobs.get(&job)?;
        if let Some(done) = &job.final_progress {
            return Some(done.clone());
        }
        Some(self.progress_of(job))
    }

    /// The active jobs, oldest first.
    pub fn active_jobs(&self) -> Vec<JobId> {
        self.jobs.keys().copied().collect()
    }

    /// True when the scheduler holds nothing: no job, no stage, no attempt in flight (what
    /// the teardown tests check after every scenario).
    pub fn is_idle(&self) -> bool {
        self.jobs.is_empty()
            && self.stages.is_empty()
            && self.shuffle_stage.is_empty()
            && self.waiting.is_empty()
            && self.running.is_empty()
            && self.in_flight.is_empty()
            && self.draining.is_empty()
    }

    // ---- submission -------------------------------------------------------------------

    fn submit(&mut self, submission: JobSubmission) {
        let JobSubmission { job, final_node, partitions, action, group, truncated, held: _ } = submission;
        let truncated: HashSet<NodeId> = truncated.into_iter().collect();
        let graph = plan_job(&final_node, &|node| truncated.contains(&node));
        let mut ids: Vec<StageId> = Vec::with_capacity(graph.len());
        for planned in graph.stages() {
            let parents: Vec<StageId> = planned.parents.iter().map(|&i| ids[i]).collect();
            let id = match &planned.kind {
                StageKind::ShuffleMap(dep) => match self.shuffle_stage.get(&dep.shuffle_id) {
                    Some(&existing) => existing,
                    None => {
                        let id = self.new_stage(Role::Map(Arc::clone(dep)), &planned.node, parents, &truncated);
                        self.shuffle_stage.insert(dep.shuffle_id, id);
                        id
                    }
                },
                StageKind::Result => self.new_stage(Role::Result(job), &planned.node, parents, &truncated),
            };
            self.stages.get_mut(&id).expect("just found or made").jobs.insert(job);
            ids.push(id);
        }
        let metrics = ids
            .iter()
            .map(|id| {
                let stage = &self.stages[id];
                let metrics = StageMetrics {
                    stage: *id,
                    name: stage.name.clone(),
                    is_shuffle_map: stage.shuffle().is_some(),
                    shuffle: stage.shuffle(),
                    num_tasks: stage.num_tasks,
                    skipped: true,
                    ..StageMetrics::default()
                };
                (*id, metrics)
            })
            .collect();
        let slot: HashMap<PartitionId, usize> = partitions.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        let stages_info = ids
            .iter()
            .map(|id| {
                let stage = &self.stages[id];
                StageInfo {
                    stage: *id,
                    name: stage.name.clone(),
                    shuffle: stage.shuffle(),
                    tasks: stage.num_tasks,
                    parents: stage.parents.clone(),
                    skipped: stage.shuffle().is_some() && self.is_available(*id),
                    operators: stage.operators.clone(),
                }
            })
            .collect();
        self.emit(Event::JobStart {
            job,
            action: action.clone(),
            group: group.clone(),
            stages: stages_info,
            time: self.now,
        });
        let active = ActiveJob {
            id: job,
            action,
            group,
            submitted: self.now,
            stages: ids,
            results: vec![None; partitions.len()],
            missing: slot.len(),
            partitions,
            slot,
            metrics,
            unacked: 0,
            draining: 0,
            ending: None,
            final_progress: None,
        };
        let result_stage = active.result_stage();
        let nothing_to_do = active.missing == 0;
        self.jobs.insert(job, active);
        if nothing_to_do {
            self.end_job(job, Ok(()));
        } else {
            self.submit_stage(result_stage);
        }
    }

    fn new_stage(
        &mut self,
        role: Role,
        node: &Arc<dyn LineageNode>,
        parents: Vec<StageId>,
        truncated: &HashSet<NodeId>,
    ) -> StageId {
        let id = StageId(self.next_stage);
        self.next_stage += 1;
        self.stages.insert(id, Stage::new(role, node, parents, truncated));
        id
    }

    /// Runs `stage` when its parents' outputs exist; otherwise waits and submits the parents.
    fn submit_stage(&mut self, stage: StageId) {
        if self.waiting.contains(&stage) {
            return;
        }
        if self.running.contains(&stage) {
            // Another job started it: it runs for this one too.
            self.mark_running_for_jobs(stage);
            return;
        }
        let missing: Vec<StageId> =
            self.stages[&stage].parents.iter().copied().filter(|&p| !self.is_available(p)).collect();
        if missing.is_empty() {
            self.start_stage(stage);
        } else {
            self.waiting.insert(stage);
            for parent in missing {
                self.submit_stage(parent);
            }
        }
    }

    fn start_stage(&mut self, id: StageId) {
        let pending: BTreeSet<PartitionId> = {
            let stage = &self.stages[&id];
            match &stage.role {
                Role::Map(dep) => {
                    self.tracker.register_shuffle(dep.shuffle_id, dep.num_maps());
                    self.tracker.missing_maps(dep.shuffle_id, dep.num_maps()).into_iter().collect()
                }
                Role::Result(job) => {
                    let job = &self.jobs[job];
                    job.slot.iter().filter(|&(_, &i)| job.results[i].is_none()).map(|(&p, _)| p).collect()
                }
            }
        };
        self.running.insert(id);
        self.mark_running_for_jobs(id);
        let stage = self.stages.get_mut(&id).expect("a submitted stage exists");
        stage.queued = pending.iter().copied().filter(|p| !stage.running.contains_key(p)).collect();
        stage.pending = pending;
        let event = Event::StageSubmitted {
            stage: id,
            jobs: stage.jobs.iter().copied().collect(),
            name: stage.name.clone(),
            tasks: stage.pending.len(),
            partitions: stage.num_tasks,
            time: self.now,
        };
        let empty = stage.pending.is_empty();
        self.emit(event);
        if empty {
            self.stage_finished(id);
        }
    }

    fn mark_running_for_jobs(&mut self, stage: StageId) {
        for job in &self.stages[&stage].jobs {
            if let Some(m) = self.jobs.get_mut(job).and_then(|j| j.metrics.get_mut(&stage)) {
                m.skipped = false;
            }
        }
    }

    /// A map stage is available when it is not running and its shuffle is registered with
    /// every map output. (A shuffle with no map tasks still runs its empty stage once, which
    /// registers it.)
    fn is_available(&self, stage: StageId) -> bool {
        match self.stages[&stage].shuffle() {
            Some(shuffle) => !self.running.contains(&stage) && self.tracker.is_complete(shuffle),
            None => false,
        }
    }

    /// Every map output of a running map stage exists: the stage is done, and the stages
    /// waiting for it may run. An output lost while its other tasks ran is run again first.
    fn stage_finished(&mut self, id: StageId) {
        let stage = self.stages.get_mut(&id).expect("a finishing stage exists");
        if let Role::Map(dep) = &stage.role {
            let lost = self.tracker.missing_maps(dep.shuffle_id, dep.num_maps());
            if !lost.is_empty() {
                for p in lost {
                    stage.pending.insert(p);
                    if !stage.running.contains_key(&p) {
                        stage.queued.insert(p);
                    }
                }
                return;
            }
        }
        self.running.remove(&id);
        self.emit(Event::StageCompleted { stage: id, outcome: StageOutcome::Succeeded, time: self.now });
        let ready: Vec<StageId> = self
            .waiting
            .iter()
            .copied()
            .filter(|w| self.stages[w].parents.iter().all(|&p| self.is_available(p)))
            .collect();
        for w in ready {
            self.waiting.remove(&w);
            self.submit_stage(w);
        }
    }

    // ---- launching ----------------------------------------------------------------------

    /// Fills free slots with queued partitions: the running stage of the earliest job first
    /// (FIFO across jobs, as Spark's default pool), then the lowest stage id.
    fn offer(&mut self) {
        loop {
            let Some(executor) =
                self.executors.iter().filter(|(_, s)| s.free > 0).max_by_key(|(_, s)| s.free).map(|(&e, _)| e)
            else {
                return;
            };
            let next = self
                .running
                .iter()
                .filter_map(|id| {
                    let stage = &self.stages[id];
                    (!stage.queued.is_empty()).then(|| (stage.owner(), *id))
                })
                .min();
            let Some((_, stage)) = next else { return };
            let partition = self.pick_partition(stage, executor);
            self.launch(stage, partition, executor);
        }
    }

    /// Takes from `stage`'s queue the partition to run on `executor`: one whose cached block
    /// is there, else one whose block is on no live executor, else the first. (No delay
    /// scheduling: a free slot is never left idle waiting for locality.)
    fn pick_partition(&mut self, stage: StageId, executor: ExecutorId) -> PartitionId {
        let s = &self.stages[&stage];
        let home =
            |p: PartitionId| s.aligned.iter().find_map(|&node| self.cached_at.get(&BlockId::rdd(node, p)).copied());
        // One executor has nothing to choose; skipping the scan keeps a wide stage's offers O(1).
        let chosen = if self.cached_at.is_empty() || self.executors.len() < 2 {
            None
        } else {
            let mut homeless = None;
            let mut local = None;
            for &p in &s.queued {
                match home(p) {
                    Some(at) if at == executor => {
                        local = Some(p);
                        break;
                    }
                    Some(at) if self.executors.contains_key(&at) => {}
                    _ => {
                        homeless.get_or_insert(p);
                    }
                }
            }
            local.or(homeless)
        };
        let stage = self.stages.get_mut(&stage).expect("an offered stage exists");
        match chosen {
            Some(p) => {
                stage.queued.remove(&p);
                p
            }
            None => stage.queued.pop_first().expect("a queued partition"),
        }
    }

    fn launch(&mut self, id: StageId, partition: PartitionId, executor: ExecutorId) {
        self.clock += 1;
        let stage = self.stages.get_mut(&id).expect("a launching stage exists");
        let (job, work) = (stage.owner(), stage.work());
        let next = stage.next_attempt.entry(partition).or_insert(0);
        let task = TaskDescriptor { job, stage: id, work, partition, attempt: AttemptId(*next) };
        *next += 1;
        stage.launched_at.insert(partition, self.clock);
        stage.running.insert(partition, task);
        if let Some(shuffle) = stage.shuffle() {
            self.map_touched.insert((shuffle, partition), self.clock);
        }
        self.in_flight.insert(task, InFlight { executor, launched: self.now });
        if let Some(slots) = self.executors.get_mut(&executor) {
            slots.free -= 1;
        }
        if let Some(m) = self.jobs.get_mut(&task.job).and_then(|j| j.metrics.get_mut(&id)) {
            m.tasks_launched += 1;
        }
        self.emit(Event::TaskStart {
            job: task.job,
            stage: id,
            partition,
            attempt: task.attempt,
            executor,
            time: self.now,
        });
        self.out.push(Command::Launch { task, executor });
    }

    // ---- reports -----------------------------------------------------------------------

    fn task_ended(&mut self, report: TaskReport) {
        let TaskReport { task, executor, result, metrics, accumulators, blocks } = report;
        for block in blocks {
            self.cached_at.insert(block, executor);
        }
        // A report for an attempt not in flight (its executor was declared lost, or a
        // duplicate) changes nothing.
        let Some(flight) = self.in_flight.remove(&task) else { return };
        if let Some(slots) = self.executors.get_mut(&flight.executor) {
            slots.free += 1;
        }
        self.emit(Event::TaskEnd {
            job: task.job,
            stage: task.stage,
            partition: task.partition,
            attempt: task.attempt,
            executor,
            reason: end_reason(&result),
            metrics: metrics.clone(),
            launched: flight.launched,
            time: self.now,
        });
        if let Some(job) = self.draining.remove(&task) {
            if let Some(j) = self.jobs.get_mut(&job) {
                j.draining -= 1;
            }
            self.try_finish(job);
        }
        let Some(stage) = self.stages.get_mut(&task.stage) else { return };
        if stage.running.get(&task.partition) != Some(&task) {
            return;
        }
        stage.running.remove(&task.partition);
        let credit = if stage.jobs.contains(&task.job) { task.job } else { stage.owner() };
        match result {
            Ok(TaskSuccess::MapOutput(status)) => self.map_succeeded(task, status, credit, &metrics, accumulators),
            Ok(TaskSuccess::Value(value)) => self.result_succeeded(task, value, &metrics, accumulators),
            Err(failure) => {
                if let Some(m) = self.stage_metrics(credit, task.stage) {
                    m.tasks_failed += 1;
                }
                tracing::debug!(stage = task.stage.0, partition = task.partition.0, attempt = task.attempt.0, %failure, "task failed");
                self.task_failed(task, failure);
            }
        }
    }

    fn stage_metrics(&mut self, job: JobId, stage: StageId) -> Option<&mut StageMetrics> {
        self.jobs.get_mut(&job).and_then(|j| j.metrics.get_mut(&stage))
    }

    fn map_succeeded(
        &mut self,
        task: TaskDescriptor,
        status: MapStatus,
        credit: JobId,
        metrics: &TaskMetrics,
        updates: Vec<(AccumulatorId, Bytes)>,
    ) {
        let stage = self.stages.get_mut(&task.stage).expect("checked by the caller");
        let Some(shuffle) = stage.shuffle() else { unreachable!("only map stages' tasks produce map outputs") };
        self.tracker.register_map_output(shuffle, task.partition, status);
        self.clock += 1;
        self.map_touched.insert((shuffle, task.partition), self.clock);
        let accepted = stage.pending.remove(&task.partition);
        let done = stage.pending.is_empty();
        if accepted {
            if let Some(m) = self.stage_metrics(credit, task.stage) {
                m.totals.add(metrics);
            }
            self.apply_accumulators(credit, updates);
        }
        if done && self.running.contains(&task.stage) {
            self.stage_finished(task.stage);
        }
    }

    fn result_succeeded(
        &mut self,
        task: TaskDescriptor,
        value: Bytes,
        metrics: &TaskMetrics,
        updates: Vec<(AccumulatorId, Bytes)>,
    ) {
        let stage = self.stages.get_mut(&task.stage).expect("checked by the caller");
        let Role::Result(job_id) = stage.role else { unreachable!("only result stages' tasks produce values") };
        stage.pending.remove(&task.partition);
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        if job.is_ending() {
            return;
        }
        let slot = job.slot[&task.partition];
        if job.results[slot].is_some() {
            return;
        }
        job.results[slot] = Some(value);
        job.missing -= 1;
        let complete = job.missing == 0;
        if let Some(m) = job.metrics.get_mut(&task.stage) {
            m.totals.add(metrics);
        }
        self.apply_accumulators(job_id, updates);
        if complete {
            self.end_job(job_id, Ok(()));
        }
    }

    fn apply_accumulators(&mut self, job: JobId, updates: Vec<(AccumulatorId, Bytes)>) {
        if updates.is_empty() {
            return;
        }
        if let Some(j) = self.jobs.get_mut(&job) {
            j.unacked += 1;
            self.out.push(Command::ApplyAccumulators { job, updates });
        }
    }

    fn task_failed(&mut self, task: TaskDescriptor, failure: TaskFailure) {
        match failure {
            TaskFailure::FetchFailed { shuffle, maps } => self.fetch_failed(task, shuffle, &maps),
            TaskFailure::ExecutorLost { .. } => self.requeue(task.stage, task.partition),
            failure => {
                let stage = self.stages.get_mut(&task.stage).expect("checked by the caller");
                let failed = stage.failures.entry(task.partition).or_insert(0);
                *failed += 1;
                if *failed >= self.config.max_task_attempts {
                    let err = JobError::task_failed(
                        stage.owner(),
                        task.stage,
                        stage.name.clone(),
                        task.partition,
                        task.attempt,
                        self.config.max_task_attempts,
                        failure,
                    );
                    self.abort_stage(task.stage, err);
                } else {
                    self.requeue(task.stage, task.partition);
                }
            }
        }
    }

    /// Puts a partition back in the queue of its running stage.
    fn requeue(&mut self, stage: StageId, partition: PartitionId) {
        if self.running.contains(&stage)
            && let Some(stage) = self.stages.get_mut(&stage)
            && stage.pending.contains(&partition)
        {
            stage.queued.insert(partition);
        }
    }

    fn fetch_failed(&mut self, task: TaskDescriptor, shuffle: ShuffleId, maps: &[PartitionId]) {
        let stage = &self.stages[&task.stage];
        // A report about a map task relaunched (or re-registered) after the failing attempt
        // was launched is stale: the map task is already rerunning, and its new output may
        // already be registered, so it forgets nothing.
        let launched = stage.launched_at.get(&task.partition).copied().unwrap_or(0);
        let lost: Vec<PartitionId> = maps
            .iter()
            .copied()
            .filter(|&m| self.map_touched.get(&(shuffle, m)).is_none_or(|&at| at <= launched))
            .filter(|&m| self.tracker.unregister_map_output(shuffle, m))
            .collect();
        if !lost.is_empty() {
            self.requeue_lost_outputs(shuffle, &lost);
            self.out.push(Command::Unregister { shuffle, maps: Some(lost) });
        }
        if self.running.remove(&task.stage) {
            let stage = self.stages.get_mut(&task.stage).expect("checked by the caller");
            stage.fetch_failures += 1;
            stage.queued.clear();
            if stage.fetch_failures > self.config.max_stage_attempts {
                let err = JobError::fetch_failures(stage.owner(), task.stage, stage.name.clone(), stage.fetch_failures);
                self.abort_stage(task.stage, err);
                return;
            }
        }
        // Resubmitting finds the lost parent output missing, waits and reruns that map task,
        // then reruns this stage's unfinished tasks.
        self.waiting.remove(&task.stage);
        self.submit_stage(task.stage);
    }

    /// Lost outputs of a shuffle whose map stage is running are that stage's work again.
    fn requeue_lost_outputs(&mut self, shuffle: ShuffleId, lost: &[PartitionId]) {
        let Some(&id) = self.shuffle_stage.get(&shuffle) else { return };
        if !self.running.contains(&id) {
            return;
        }
        let stage = self.stages.get_mut(&id).expect("a live map stage exists");
        for &p in lost {
            stage.pending.insert(p);
            if !stage.running.contains_key(&p) {
                stage.queued.insert(p);
            }
        }
    }

    // ---- ending jobs --------------------------------------------------------------------

    /// Fails every job that needs `stage` with `err` (as Spark's `abortStage`).
    fn abort_stage(&mut self, id: StageId, err: JobError) {
        let stage = &self.stages[&id];
        let jobs: Vec<JobId> = stage.jobs.iter().copied().collect();
        if self.running.remove(&id) {
            let message = err.to_string();
            self.emit(Event::StageCompleted { stage: id, outcome: StageOutcome::Failed { message }, time: self.now });
        }
        for job in jobs {
            self.end_job(job, Err(err.for_job(job)));
        }
    }

    /// Decides how `job` ends: it no longer needs its stages, and the stages no job needs
    /// are dropped, their attempts killed. A failed or cancelled job finishes once those
    /// attempts have reported (so its slots are free and nothing of it runs); every job
    /// once its accumulator merges are reported back.
    fn end_job(&mut self, job_id: JobId, outcome: Result<(), JobError>) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        if job.is_ending() {
            return;
        }
        let failed = outcome.is_err();
        job.ending = Some(outcome);
        let stages = job.stages.clone();
        let progress = self.progress_of(&self.jobs[&job_id]);
        self.jobs.get_mut(&job_id).expect("still here").final_progress = Some(progress);
        for id in stages.into_iter().rev() {
            let Some(stage) = self.stages.get_mut(&id) else { continue };
            stage.jobs.remove(&job_id);
            if stage.jobs.is_empty() {
                self.remove_stage(id, failed.then_some(job_id));
            }
        }
        self.try_finish(job_id);
    }

    /// Drops a stage no job needs; kills its running attempts (counted as `drain_for`'s to
    /// wait for, when given).
    fn remove_stage(&mut self, id: StageId, drain_for: Option<JobId>) {
        let Some(stage) = self.stages.remove(&id) else { return };
        if let Some(shuffle) = stage.shuffle()
            && self.shuffle_stage.get(&shuffle) == Some(&id)
        {
            self.shuffle_stage.remove(&shuffle);
        }
        self.waiting.remove(&id);
        if self.running.remove(&id) {
            let outcome = if stage.pending.is_empty() { StageOutcome::Succeeded } else { StageOutcome::Abandoned };
            self.emit(Event::StageCompleted { stage: id, outcome, time: self.now });
        }
        for task in stage.running.into_values() {
            self.out.push(Command::Kill(task));
            if let Some(job) = drain_for
                && self.in_flight.contains_key(&task)
            {
                self.draining.insert(task, job);
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.draining += 1;
                }
            }
        }
    }

    /// Finishes `job` once its end is decided and nothing of it is outstanding.
    fn try_finish(&mut self, job_id: JobId) {
        let Some(job) = self.jobs.get(&job_id) else { return };
        if job.ending.is_none() || job.unacked > 0 || job.draining > 0 {
            return;
        }
        let mut job = self.jobs.remove(&job_id).expect("just looked up");
        let outcome = job.ending.take().expect("checked above");
        let metrics = JobMetrics {
            job: job_id,
            action: job.action.clone(),
            succeeded: outcome.is_ok(),
            duration: std::time::Duration::from_micros(self.now.saturating_sub(job.submitted)),
            stages: job.stages.iter().filter_map(|s| job.metrics.remove(s)).collect(),
        };
        let mut progress = job.final_progress.take().unwrap_or_default();
        progress.finished = true;
        progress.stages.iter_mut().for_each(|s| s.running = 0);
        let (result, kind, error) = match outcome {
            Ok(()) => {
                let values = job.results.into_iter().map(|v| v.expect("a finished job has every value")).collect();
                (Ok(values), JobResult::Succeeded, None)
            }
            Err(err) => {
                let kind = if err.kind() == crate::error::JobErrorKind::Cancelled {
                    JobResult::Cancelled
                } else {
                    JobResult::Failed
                };
                let message = err.to_string();
                (Err(err), kind, Some(message))
            }
        };
        self.emit(Event::JobEnd { job: job_id, result: kind, error, metrics: metrics.clone(), time: self.now });
        self.out.push(Command::Finish { job: job_id, result, metrics, progress });
    }

    fn cancel(&mut self, target: &CancelTarget, reason: &str) {
        let jobs: Vec<JobId> = self
            .jobs
            .values()
            .filter(|j| !j.is_ending())
            .filter(|j| match target {
                CancelTarget::Job(id) => j.id == *id,
                CancelTarget::Group(group) => j.group.as_deref() == Some(group.as_str()),
                CancelTarget::All => true,
            })
            .map(|j| j.id)
            .collect();
        for job in jobs {
            self.end_job(job, Err(JobError::cancelled(job, reason)));
        }
    }

    fn accumulators_applied(&mut self, job_id: JobId, error: Option<(AccumulatorId, String)>) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        job.unacked = job.unacked.saturating_sub(1);
        if let Some((accumulator, why)) = error {
            let err = JobError::accumulator_failed(job_id, accumulator, why);
            match &job.ending {
                None => self.end_job(job_id, Err(err)),
                // Every value is in, but the job's accumulators are wrong: it fails.
                Some(Ok(())) => job.ending = Some(Err(err)),
                Some(Err(_)) => {}
            }
        }
        self.try_finish(job_id);
    }

    /// Jobs that nothing can move forward (nothing queued, nothing running) are a scheduler
    /// bug: fail them rather than wait forever.
    fn fail_stalled_jobs(&mut self) {
        if !self.in_flight.is_empty() || self.running.iter().any(|s| !self.stages[s].queued.is_empty()) {
            return;
        }
        let stalled: Vec<JobId> = self.jobs.values().filter(|j| !j.is_ending()).map(|j| j.id).collect();
        for job in stalled {
            self.end_job(job, Err(JobError::stalled(job)));
        }
    }

    // ---- executors and shuffles ------------------------------------------------------------

    fn executor_lost(&mut self, executor: ExecutorId) {
        self.executors.remove(&executor);
        self.cached_at.retain(|_, at| *at != executor);
        let lost_attempts: Vec<TaskDescriptor> =
            self.in_flight.iter().filter(|(_, f)| f.executor == executor).map(|(&t, _)| t).collect();
        for task in lost_attempts {
            self.in_flight.remove(&task);
            if let Some(job) = self.draining.remove(&task) {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.draining -= 1;
                }
                self.try_finish(job);
            }
            if let Some(stage) = self.stages.get_mut(&task.stage)
                && stage.running.get(&task.partition) == Some(&task)
            {
                stage.running.remove(&task.partition);
                self.requeue(task.stage, task.partition);
            }
        }
        let mut by_shuffle: BTreeMap<ShuffleId, Vec<PartitionId>> = BTreeMap::new();
        for (shuffle, map) in self.tracker.unregister_executor(executor) {
            by_shuffle.entry(shuffle).or_default().push(map);
        }
        for (shuffle, maps) in by_shuffle {
            self.requeue_lost_outputs(shuffle, &maps);
            self.out.push(Command::Unregister { shuffle, maps: Some(maps) });
        }
    }

    fn shuffle_dropped(&mut self, shuffle: ShuffleId) {
        self.tracker.remove_shuffle(shuffle);
        self.map_touched.retain(|(s, _), _| *s != shuffle);
        self.out.push(Command::Unregister { shuffle, maps: None });
    }

    // ---- reporting ---------------------------------------------------------------------

    fn emit(&mut self, event: Event) {
        self.out.push(Command::Emit(event));
    }

    fn progress_of(&self, job: &ActiveJob) -> JobProgress {
        let stages = job
            .stages
            .iter()
            .filter_map(|id| {
                let stage = self.stages.get(id)?;
                let metrics = job.metrics.get(id);
                let (total, done) = match &stage.role {
                    Role::Map(dep) => {
                        let missing = self.tracker.missing_maps(dep.shuffle_id, dep.num_maps()).len();
                        (stage.num_tasks, stage.num_tasks - missing)
                    }
                    Role::Result(_) => (job.partitions.len(), job.partitions.len() - job.missing),
                };
                Some(StageProgress {
                    stage: *id,
                    name: stage.name.clone(),
                    total,
                    done,
                    running: stage.running.len(),
                    failed: metrics.map_or(0, |m| m.tasks_failed),
                    skipped: metrics.is_some_and(|m| m.skipped),
                })
            })
            .collect();
        JobProgress { job: job.id, stages, finished: false }
    }
}

/// How a report's result reads in a `TaskEnd` event.
fn end_reason(result: &Result<TaskSuccess, TaskFailure>) -> TaskEndReason {
    match result {
        Ok(_) => TaskEndReason::Success,
        Err(TaskFailure::FetchFailed { .. }) => {
            TaskEndReason::FetchFailed { message: result.as_ref().err().map(ToString::to_string).unwrap_or_default() }
        }
        Err(TaskFailure::Cancelled) => TaskEndReason::Cancelled,
        Err(TaskFailure::ExecutorLost { .. }) => TaskEndReason::ExecutorLost,
        Err(failure) => TaskEndReason::Failed { message: failure.to_string() },
    }
}
