//! Scheduler unit tests: the `DagScheduler` driven by hand with fake nodes and hand-written
//! reports, one or several jobs at once, and no state left behind after each scenario.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{CancelTarget, Command, DagScheduler, JobMetrics, JobSubmission, SchedulerEvent};
use crate::config::EngineConfig;
use crate::error::{JobError, JobErrorKind, TaskFailure};
use crate::events::{Event, StageOutcome};
use crate::executor::{TaskReport, TaskSuccess};
use crate::ids::{AccumulatorId, AttemptId, ExecutorId, JobId, PartitionId, ShuffleId, StageId, WorkId};
use crate::lineage::{Dependency, LineageNode};
use crate::shuffle::{BucketSizes, MapOutputTracker, MapStatus};
use crate::task::{TaskDescriptor, TaskMetrics};
use crate::test_support::Lineage;

const EXECUTOR: ExecutorId = ExecutorId(0);

/// The scheduler under test and everything its commands said so far.
struct Harness {
    dag: DagScheduler,
    tracker: Arc<MapOutputTracker>,
    now: u64,
    next_job: u64,
    /// Every attempt ever launched, by (stage, partition, attempt).
    launched: HashMap<(u32, u32, u32), TaskDescriptor>,
    killed: Vec<TaskDescriptor>,
    unregistered: Vec<(ShuffleId, Option<Vec<PartitionId>>)>,
    accumulators: Vec<(JobId, Vec<(AccumulatorId, Bytes)>)>,
    /// The answer the next accumulator merge gets.
    merge_error: Option<(AccumulatorId, String)>,
    events: Vec<Event>,
    finished: HashMap<JobId, (Result<Vec<Bytes>, JobError>, JobMetrics)>,
}

impl Harness {
    /// One executor with `slots` slots.
    fn new(slots: usize) -> Self {
        Harness::with_config(EngineConfig::new(2), slots)
    }

    fn with_config(config: EngineConfig, slots: usize) -> Self {
        let tracker = Arc::new(MapOutputTracker::default());
        let mut h = Harness {
            dag: DagScheduler::new(config, Arc::clone(&tracker)),
            tracker,
            now: 1_000,
            next_job: 0,
            launched: HashMap::new(),
            killed: Vec::new(),
            unregistered: Vec::new(),
            accumulators: Vec::new(),
            merge_error: None,
            events: Vec::new(),
            finished: HashMap::new(),
        };
        assert!(h.handle(SchedulerEvent::ExecutorAdded { executor: EXECUTOR, slots }).is_empty());
        h
    }

    /// Feeds `event`, carries out the commands as the loop would (answering accumulator
    /// merges at once), checks what holds for every batch, and returns the attempts launched.
    fn handle(&mut self, event: SchedulerEvent) -> Vec<TaskDescriptor> {
        self.now += 10;
        let mut launched = Vec::new();
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            for command in self.dag.handle(event, self.now) {
                match command {
                    Command::Launch { task, executor } => {
                        assert_eq!(executor, EXECUTOR);
                        assert!(!self.finished.contains_key(&task.job), "a launch for finished job {}", task.job);
                        let key = (task.stage.0, task.partition.0, task.attempt.0);
                        assert!(self.launched.insert(key, task).is_none(), "attempt {key:?} launched twice");
                        launched.push(task);
                    }
                    Command::Kill(task) => self.killed.push(task),
                    Command::Unregister { shuffle, maps } => self.unregistered.push((shuffle, maps)),
                    Command::ApplyAccumulators { job, updates } => {
                        self.accumulators.push((job, updates));
                        queue.push(SchedulerEvent::AccumulatorsApplied { job, error: self.merge_error.take() });
                    }
                    Command::Emit(event) => self.events.push(event),
                    Command::Finish { job, result, metrics, progress } => {
                        assert!(progress.finished && progress.tasks_running() == 0);
                        assert!(self.finished.insert(job, (result, metrics)).is_none(), "job {job} finished twice");
                    }
                }
            }
        }
        launched
    }

    fn submit(&mut self, node: &Arc<dyn LineageNode>, partitions: &[u32]) -> (JobId, Vec<TaskDescriptor>) {
        self.submit_in(node, partitions, None)
    }

    fn submit_in(
        &mut self,
        node: &Arc<dyn LineageNode>,
        partitions: &[u32],
        group: Option<&str>,
    ) -> (JobId, Vec<TaskDescriptor>) {
        let job = JobId(self.next_job);
        self.next_job += 1;
        let submission = JobSubmission {
            job,
            final_node: Arc::clone(node),
            partitions: partitions.iter().map(|&p| PartitionId(p)).collect(),
            action: "collect at tests.rs:1".to_owned(),
            group: group.map(str::to_owned),
            truncated: Vec::new(),
            held: false,
        };
        (job, self.handle(SchedulerEvent::Submit(submission)))
    }

    /// The attempt launched as (stage, partition, attempt).
    fn task(&self, stage: u32, partition: u32, attempt: u32) -> TaskDescriptor {
        *self
            .launched
            .get(&(stage, partition, attempt))
            .unwrap_or_else(|| panic!("({stage}, {partition}, {attempt}) never launched"))
    }

    fn report(&mut self, task: TaskDescriptor, result: Result<TaskSuccess, TaskFailure>) -> Vec<TaskDescriptor> {
        self.report_with(task, result, Vec::new())
    }

    fn report_with(
        &mut self,
        task: TaskDescriptor,
        result: Result<TaskSuccess, TaskFailure>,
        accumulators: Vec<(AccumulatorId, Bytes)>,
    ) -> Vec<TaskDescriptor> {
        let report = TaskReport {
            task,
            executor: EXECUTOR,
            result,
            metrics: TaskMetrics::default(),
            accumulators,
            blocks: Vec::new(),
        };
        self.handle(SchedulerEvent::TaskEnded(report))
    }

    /// Map task (stage, partition, attempt) succeeded.
    fn map_done(&mut self, stage: u32, partition: u32, attempt: u32) -> Vec<TaskDescriptor> {
        let status = MapStatus { location: EXECUTOR, bucket_sizes: BucketSizes::from_sizes(&[6]) };
        self.report(self.task(stage, partition, attempt), Ok(TaskSuccess::MapOutput(status)))
    }

    /// Result task (stage, partition, attempt) succeeded with its partition times ten.
    fn value_done(&mut self, stage: u32, partition: u32, attempt: u32) -> Vec<TaskDescriptor> {
        let value = Bytes::from((u64::from(partition) * 10).to_le_bytes().to_vec());
        self.report(self.task(stage, partition, attempt), Ok(TaskSuccess::Value(value)))
    }

    fn panicked(&mut self, stage: u32, partition: u32, attempt: u32, message: &str) -> Vec<TaskDescriptor> {
        self.report(self.task(stage, partition, attempt), Err(TaskFailure::panic(message, None)))
    }

    fn cancelled(&mut self, task: TaskDescriptor) -> Vec<TaskDescriptor> {
        self.report(task, Err(TaskFailure::Cancelled))
    }

    fn fetch_failed(
        &mut self,
        stage: u32,
        partition: u32,
        attempt: u32,
        shuffle: ShuffleId,
        maps: &[u32],
    ) -> Vec<TaskDescriptor> {
        let maps = maps.iter().map(|&m| PartitionId(m)).collect();
        self.report(self.task(stage, partition, attempt), Err(TaskFailure::FetchFailed { shuffle, maps }))
    }

    fn is_finished(&self, job: JobId) -> bool {
        self.finished.contains_key(&job)
    }

    /// The job's values, as the `u64`s the result tasks produced.
    fn values(&mut self, job: JobId) -> Vec<u64> {
        match self.finished.get(&job).unwrap_or_else(|| panic!("job {job} has not finished")) {
            (Ok(values), _) => values.iter().map(|v| u64::from_le_bytes(v[..].try_into().expect("8 bytes"))).collect(),
            (Err(err), _) => panic!("job {job} failed: {err}"),
        }
    }

    fn error(&self, job: JobId) -> &JobError {
        match self.finished.get(&job).unwrap_or_else(|| panic!("job {job} has not finished")) {
            (Ok(values), _) => panic!("job {job} succeeded with {} values", values.len()),
            (Err(err), _) => err,
        }
    }

    fn metrics(&self, job: JobId) -> &JobMetrics {
        &self.finished.get(&job).expect("the job finished").1
    }

    /// Every job is over and nothing is left: no job, stage or attempt (the harness's
    /// `assertDataStructuresEmpty`). A report still arriving for any attempt launched so far
    /// launches nothing.
    fn close(mut self) {
        assert!(self.dag.is_idle(), "state left after every job finished");
        let all: Vec<TaskDescriptor> = self.launched.values().copied().collect();
        for task in all {
            assert!(self.cancelled(task).is_empty(), "a late report launched something");
        }
        assert!(self.dag.is_idle());
    }
}

/// Sorted (stage, partition, attempt), so tests do not depend on launch order within a batch.
fn sorted(tasks: &[TaskDescriptor]) -> Vec<(u32, u32, u32)> {
    let mut out: Vec<(u32, u32, u32)> = tasks.iter().map(|t| (t.stage.0, t.partition.0, t.attempt.0)).collect();
    out.sort();
    out
}

#[test]
fn result_only_job_returns_values_in_requested_order() {
    let l = Lineage::default();
    let source = l.source(4);
    let mut h = Harness::new(8);
    let (job, launched) = h.submit(&source, &[3, 0, 2]);
    assert_eq!(sorted(&launched), vec![(0, 0, 0), (0, 2, 0), (0, 3, 0)], "only the requested partitions");
    assert!(launched.iter().all(|t| t.work == WorkId::Result(job) && t.job == job));
    h.value_done(0, 0, 0);
    h.value_done(0, 3, 0);
    assert!(!h.is_finished(job), "a result is still missing");
    h.value_done(0, 2, 0);
    assert_eq!(h.values(job), vec![30, 0, 20]);
    let m = h.metrics(job);
    assert_eq!((m.stages.len(), m.stages_run(), m.tasks_launched(), m.tasks_failed()), (1, 1, 3, 0));
    h.close();
}

#[test]
fn result_tasks_wait_for_every_map_output() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 2);
    let mut h = Harness::new(8);
    let (job, launched) = h.submit(&reduced, &[0, 1]);
    assert_eq!(sorted(&launched), vec![(0, 0, 0), (0, 1, 0), (0, 2, 0)], "map tasks only");
    assert!(launched.iter().all(|t| t.work == WorkId::ShuffleMap(shuffle)));
    assert!(h.map_done(0, 0, 0).is_empty());
    assert!(h.map_done(0, 2, 0).is_empty(), "no result task while map 1 is missing");
    assert_eq!(h.tracker.missing_maps(shuffle, 3), vec![PartitionId(1)]);
    let launched = h.map_done(0, 1, 0);
    assert!(h.tracker.missing_maps(shuffle, 3).is_empty(), "every output registered before reducing");
    assert_eq!(sorted(&launched), vec![(1, 0, 0), (1, 1, 0)]);
    h.value_done(1, 1, 0);
    h.value_done(1, 0, 0);
    assert_eq!(h.values(job), vec![0, 10]);
    let m = h.metrics(job);
    assert_eq!((m.stages_run(), m.stages_skipped(), m.tasks_launched()), (2, 0, 5));
    assert!(m.stages[0].is_shuffle_map && !m.stages[1].is_shuffle_map);
    h.close();
}

#[test]
fn a_diamond_reduces_only_after_both_map_stages() {
    let l = Lineage::default();
    let (left, _) = l.shuffle(&l.source(1), 2);
    let (right, _) = l.shuffle(&l.source(2), 2);
    // Both reduce sides feed one node through narrow dependencies (a co-partitioned zip).
    let zipped = l.node("zip", 2, vec![Dependency::OneToOne(left), Dependency::OneToOne(right)]);
    let mut h = Harness::new(8);
    let (job, first) = h.submit(&zipped, &[0, 1]);
    let first = sorted(&first);
    assert_eq!(first.len(), 3, "both map stages start at once: {first:?}");
    assert!(first.iter().all(|&(stage, _, _)| stage < 2));
    let one = *first.iter().find(|t| first.iter().filter(|u| u.0 == t.0).count() == 1).expect("a 1-task stage");
    let two: Vec<_> = first.iter().copied().filter(|t| t.0 != one.0).collect();
    assert!(h.map_done(one.0, one.1, 0).is_empty(), "the other map stage is still running");
    assert!(h.map_done(two[0].0, two[0].1, 0).is_empty());
    assert_eq!(sorted(&h.map_done(two[1].0, two[1].1, 0)), vec![(2, 0, 0), (2, 1, 0)]);
    h.value_done(2, 0, 0);
    h.value_done(2, 1, 0);
    assert_eq!(h.values(job), vec![0, 10]);
    assert_eq!(h.metrics(job).stages_run(), 3);
    h.close();
}

#[test]
fn a_failed_attempt_is_relaunched_with_the_next_attempt_number() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 1);
    let mut h = Harness::new(8);
    let (job, _) = h.submit(&reduced, &[0]);
    assert_eq!(sorted(&h.panicked(0, 1, 0, "flaky map")), vec![(0, 1, 1)], "the same map task, attempt 1");
    assert!(h.map_done(0, 0, 0).is_empty(), "map 1 has no output yet");
    assert_eq!(sorted(&h.map_done(0, 1, 1)), vec![(1, 0, 0)]);
    assert_eq!(sorted(&h.panicked(1, 0, 0, "flaky reduce")), vec![(1, 0, 1)]);
    h.value_done(1, 0, 1);
    assert_eq!(h.values(job), vec![0]);
    let m = h.metrics(job);
    assert_eq!((m.stages[0].tasks_launched, m.stages[0].tasks_failed), (3, 1));
    assert_eq!((m.stages[1].tasks_launched, m.stages[1].tasks_failed), (2, 1));
    h.close();
}

#[test]
fn a_task_failing_on_every_attempt_fails_the_job_once_its_other_attempts_stop() {
    let l = Lineage::default();
    let source = l.source(3);
    let mut h = Harness::with_config(EngineConfig::new(2).with_max_task_attempts(4), 8);
    let (job, _) = h.submit(&source, &[0, 1, 2]);
    h.value_done(0, 0, 0);
    for attempt in 0..3 {
        assert_eq!(sorted(&h.panicked(0, 1, attempt, "boom")), vec![(0, 1, attempt + 1)]);
    }
    assert!(h.panicked(0, 1, 3, "boom").is_empty(), "no launch once the job fails");
    assert_eq!(sorted(&h.killed), vec![(0, 2, 0)], "partition 2 is still running: killed");
    assert!(!h.is_finished(job), "the job waits for its killed attempt to stop");
    h.cancelled(h.task(0, 2, 0));
    let err = h.error(job);
    let text = err.to_string();
    for needle in ["job 0", "partition 1 of stage 0", "attempt 4 of 4", "panicked: boom"] {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
    assert_eq!(err.kind(), JobErrorKind::TaskFailed);
    assert_eq!((err.job(), err.stage(), err.partition()), (job, Some(StageId(0)), Some(PartitionId(1))));
    assert_eq!((err.attempt(), err.max_attempts(), err.panic_message()), (Some(AttemptId(3)), Some(4), Some("boom")));
    assert!(err.stage_name().is_some_and(|n| n.starts_with("source at ") && n.contains("tests.rs")), "{err}");
    let m = h.metrics(job);
    assert_eq!((m.tasks_launched(), m.tasks_failed()), (6, 4), "four panics; a killed attempt is no failure");
    assert!(!m.succeeded);
    h.close();
}

#[test]
fn one_attempt_allowed_fails_on_the_first_failure() {
    let l = Lineage::default();
    let source = l.source(1);
    let mut h = Harness::with_config(EngineConfig::new(1).with_max_task_attempts(1), 1);
    let (job, _) = h.submit(&source, &[0]);
    assert!(h.panicked(0, 0, 0, "once").is_empty());
    assert_eq!((h.error(job).attempt(), h.error(job).max_attempts()), (Some(AttemptId(0)), Some(1)));
    assert_eq!(h.metrics(job).tasks_launched(), 1);
    h.close();
}

#[test]
fn a_fetch_failure_reruns_only_the_lost_map_task_and_uses_no_attempt() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 2);
    // One attempt per task: if the fetch failure counted as one, the job would fail.
    let mut h = Harness::with_config(EngineConfig::new(2).with_max_task_attempts(1), 8);
    let (job, _) = h.submit(&reduced, &[0, 1]);
    h.map_done(0, 0, 0);
    h.map_done(0, 1, 0);
    assert_eq!(sorted(&h.map_done(0, 2, 0)), vec![(1, 0, 0), (1, 1, 0)]);
    h.value_done(1, 0, 0);

    let rerun = h.fetch_failed(1, 1, 0, shuffle, &[1]);
    assert_eq!(sorted(&rerun), vec![(0, 1, 1)], "only map task 1 reruns, as its second attempt");
    assert_eq!(h.tracker.missing_maps(shuffle, 3), vec![PartitionId(1)], "the lost output is forgotten");
    assert_eq!(h.unregistered, vec![(shuffle, Some(vec![PartitionId(1)]))], "and its buckets are deleted");

    assert_eq!(sorted(&h.map_done(0, 1, 1)), vec![(1, 1, 1)], "then only the unfinished reduce task");
    h.value_done(1, 1, 1);
    assert_eq!(h.values(job), vec![0, 10]);
    let m = h.metrics(job);
    assert_eq!((m.stages[0].tasks_launched, m.stages[0].tasks_failed), (4, 0));
    assert_eq!((m.stages[1].tasks_launched, m.stages[1].tasks_failed), (3, 1));
    h.close();
}

#[test]
fn two_reducers_losing_the_same_output_rerun_it_once() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(2), 2);
    let mut h = Harness::new(8);
    let (job, _) = h.submit(&reduced, &[0, 1]);
    h.map_done(0, 0, 0);
    h.map_done(0, 1, 0);
    assert_eq!(sorted(&h.fetch_failed(1, 0, 0, shuffle, &[0])), vec![(0, 0, 1)]);
    assert!(h.fetch_failed(1, 1, 0, shuffle, &[0]).is_empty(), "map 0 is already rerunning");
    assert_eq!(sorted(&h.map_done(0, 0, 1)), vec![(1, 0, 1), (1, 1, 1)]);
    h.value_done(1, 0, 1);
    h.value_done(1, 1, 1);
    assert_eq!(h.values(job), vec![0, 10]);
    h.close();
}

#[test]
fn a_stale_fetch_failure_about_an_output_already_rerun_forgets_nothing() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(2), 2);
    let mut h = Harness::new(8);
    let (job, _) = h.submit(&reduced, &[0, 1]);
    h.map_done(0, 0, 0);
    h.map_done(0, 1, 0);
    assert_eq!(sorted(&h.fetch_failed(1, 0, 0, shuffle, &[0])), vec![(0, 0, 1)]);
    assert_eq!(sorted(&h.map_done(0, 0, 1)), vec![(1, 0, 1)], "reducer 1 is still running");
    // Reducer 1 was launched before map 0's new output was registered: its report is stale.
    assert_eq!(sorted(&h.fetch_failed(1, 1, 0, shuffle, &[0])), vec![(1, 1, 1)], "no map task reruns");
    assert!(h.tracker.missing_maps(shuffle, 2).is_empty(), "the new output is kept");
    h.value_done(1, 0, 1);
    h.value_done(1, 1, 1);
    assert_eq!(h.values(job), vec![0, 10]);
    assert_eq!(h.metrics(job).stages[0].tasks_launched, 3);
    h.close();
}

#[test]
fn a_fetch_failure_naming_several_outputs_reruns_them_in_one_resubmission() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 1);
    let mut h = Harness::new(8);
    let (job, _) = h.submit(&reduced, &[0]);
    h.map_done(0, 0, 0);
    h.map_done(0, 1, 0);
    h.map_done(0, 2, 0);
    assert_eq!(sorted(&h.fetch_failed(1, 0, 0, shuffle, &[0, 2])), vec![(0, 0, 1), (0, 2, 1)], "one resubmission");
    h.map_done(0, 0, 1);
    assert_eq!(sorted(&h.map_done(0, 2, 1)), vec![(1, 0, 1)]);
    h.value_done(1, 0, 1);
    assert_eq!(h.values(job), vec![0]);
    h.close();
}

#[test]
fn a_stage_that_keeps_losing_its_input_gives_up() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(1), 1);
    let mut h = Harness::new(8);
    let (job, _) = h.submit(&reduced, &[0]);
    let mut map_attempt = 0;
    for reduce_attempt in 0..4 {
        assert_eq!(sorted(&h.map_done(0, 0, map_attempt)), vec![(1, 0, reduce_attempt)]);
        map_attempt += 1;
        assert_eq!(sorted(&h.fetch_failed(1, 0, reduce_attempt, shuffle, &[0])), vec![(0, 0, map_attempt)]);
    }
    h.map_done(0, 0, map_attempt);
    assert!(h.fetch_failed(1, 0, 4, shuffle, &[0]).is_empty());
    let err = h.error(job);
    assert_eq!((err.kind(), err.stage()), (JobErrorKind::FetchFailures, Some(StageId(1))));
    assert!(err.to_string().contains("5 fetch failures"), "{err}");
    h.close();
}

#[test]
fn a_second_job_on_a_finished_shuffle_skips_its_map_stage() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(2), 2);
    let mut h = Harness::new(8);

    let (first, _) = h.submit(&reduced, &[0, 1]);
    h.map_done(0, 0, 0);
    h.map_done(0, 1, 0);
    h.value_done(1, 0, 0);
    h.value_done(1, 1, 0);
    assert_eq!(h.values(first), vec![0, 10]);

    // The map stage lived only while the first job needed it: the second gets new stage ids.
    let (second, launched) = h.submit(&reduced, &[1, 0]);
    assert_eq!(sorted(&launched), vec![(3, 0, 0), (3, 1, 0)], "no map task");
    h.value_done(3, 0, 0);
    h.value_done(3, 1, 0);
    assert_eq!(h.values(second), vec![10, 0]);
    let m = h.metrics(second);
    assert!(m.stages[0].skipped && m.stages[0].tasks_launched == 0);
    assert_eq!((m.stages_run(), m.stages_skipped()), (1, 1));
    let Some(Event::JobStart { stages, .. }) = h.events.iter().rev().find(|e| matches!(e, Event::JobStart { .. }))
    else {
        panic!("no JobStart")
    };
    assert!(stages[0].skipped && !stages[1].skipped, "the start event marks the skipped stage");

    // Losing one output between jobs reruns exactly that map task.
    h.tracker.unregister_map_output(shuffle, PartitionId(1));
    let (third, launched) = h.submit(&reduced, &[0]);
    assert_eq!(sorted(&launched), vec![(4, 1, 0)]);
    assert_eq!(sorted(&h.map_done(4, 1, 0)), vec![(5, 0, 0)]);
    h.value_done(5, 0, 0);
    assert_eq!(h.values(third), vec![0]);
    let m = h.metrics(third);
    assert_eq!((m.stages_skipped(), m.stages[0].tasks_launched), (0, 1));
    h.close();
}

#[test]
fn a_job_over_some_partitions_still_runs_every_map_task() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 3);
    let mut h = Harness::new(8);
    let (job, launched) = h.submit(&reduced, &[1]);
    assert_eq!(sorted(&launched), vec![(0, 0, 0), (0, 1, 0)]);
    h.map_done(0, 0, 0);
    assert_eq!(sorted(&h.map_done(0, 1, 0)), vec![(1, 1, 0)], "only the requested reduce partition");
    h.value_done(1, 1, 0);
    assert_eq!(h.values(job), vec![10]);
    h.close();
}

#[test]
fn an_empty_partition_list_finishes_at_once() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 3);
    let mut h = Harness::new(8);
    let (job, launched) = h.submit(&reduced, &[]);
    assert!(launched.is_empty(), "nothing launched");
    assert!(h.values(job).is_empty());
    assert_eq!(h.metrics(job).tasks_launched(), 0);
    h.close();
}

#[test]
fn a_duplicate_report_changes_nothing() {
    let l = Lineage::default();
    let source = l.source(2);
    let mut h = Harness::new(8);
    let (job, _) = h.submit(&source, &[0, 1]);
    h.value_done(0, 0, 0);
    // A second report for the same attempt (a confused backend) must not count as
    // partition 1's result.
    assert!(h.report(h.task(0, 0, 0), Ok(TaskSuccess::Value(Bytes::from_static(&[9; 8])))).is_empty());
    assert!(!h.is_finished(job), "partition 1 is still missing");
    h.value_done(0, 1, 0);
    assert_eq!(h.values(job), vec![0, 10]);
    h.close();
}

#[test]
fn a_shuffle_without_map_tasks_is_registered_before_reducers_run() {
    // A shuffle of an RDD with no partitions (an empty input directory) has no map task, yet
    // reducers can only fetch from a shuffle the tracker knows.
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(0), 2);
    let mut h = Harness::new(8);
    let (job, launched) = h.submit(&reduced, &[0, 1]);
    assert_eq!(sorted(&launched), vec![(1, 0, 0), (1, 1, 0)], "no map task to run, reducers start at once");
    assert_eq!(h.tracker.statuses(shuffle), Ok(Vec::new()), "the reducers will find zero buckets");
    h.value_done(1, 0, 0);
    h.value_done(1, 1, 0);
    assert_eq!(h.values(job), vec![0, 10]);
    h.close();
}

// ---- several jobs, slots, cancellation ---------------------------------------------------

#[test]
fn two_running_jobs_on_one_shuffle_run_its_map_stage_once() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 2);
    let mut h = Harness::new(8);
    let (a, first) = h.submit(&reduced, &[0, 1]);
    assert_eq!(sorted(&first), vec![(0, 0, 0), (0, 1, 0), (0, 2, 0)]);
    let (b, second) = h.submit(&reduced, &[1]);
    assert!(second.is_empty(), "the second job waits for the map stage the first one runs");
    h.map_done(0, 0, 0);
    h.map_done(0, 1, 0);
    let reducers = h.map_done(0, 2, 0);
    assert_eq!(sorted(&reducers), vec![(1, 0, 0), (1, 1, 0), (2, 1, 0)], "both result stages start at once");
    h.value_done(2, 1, 0);
    assert_eq!(h.values(b), vec![10]);
    h.value_done(1, 0, 0);
    h.value_done(1, 1, 0);
    assert_eq!(h.values(a), vec![0, 10]);
    let map_tasks =
        |m: &JobMetrics| m.stages.iter().filter(|s| s.is_shuffle_map).map(|s| s.tasks_launched).sum::<u32>();
    assert_eq!(map_tasks(h.metrics(a)) + map_tasks(h.metrics(b)), 3, "each map task ran once, counted once");
    assert!(!h.metrics(b).stages[0].skipped, "the shared stage ran while the second job needed it");
    assert!(h.tracker.is_complete(shuffle));
    h.close();
}

#[test]
fn slots_run_the_earliest_job_first() {
    let l = Lineage::default();
    let (first, second) = (l.source(2), l.source(1));
    let mut h = Harness::new(1);
    let (a, launched) = h.submit(&first, &[0, 1]);
    assert_eq!(sorted(&launched), vec![(0, 0, 0)], "one slot: one attempt");
    let (b, launched) = h.submit(&second, &[0]);
    assert!(launched.is_empty(), "no free slot");
    assert_eq!(sorted(&h.value_done(0, 0, 0)), vec![(0, 1, 0)], "the earlier job's queued task goes first");
    assert_eq!(sorted(&h.value_done(0, 1, 0)), vec![(1, 0, 0)]);
    h.value_done(1, 0, 0);
    assert_eq!((h.values(a), h.values(b)), (vec![0, 10], vec![0]));
    h.close();
}

#[test]
fn a_cancelled_job_drops_its_queue_kills_its_attempts_and_ends_when_they_stop() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(4), 2);
    let mut h = Harness::new(2);
    let (job, launched) = h.submit(&reduced, &[0, 1]);
    assert_eq!(launched.len(), 2, "two slots");
    assert!(
        h.handle(SchedulerEvent::Cancel { target: CancelTarget::Job(job), reason: "by its handle".into() }).is_empty()
    );
    assert_eq!(sorted(&h.killed), sorted(&launched), "both running attempts are killed");
    assert!(!h.is_finished(job), "it ends when they stop");
    assert!(h.cancelled(launched[0]).is_empty(), "a freed slot takes nothing of the cancelled job");
    h.cancelled(launched[1]);
    let err = h.error(job);
    assert_eq!(err.kind(), JobErrorKind::Cancelled);
    assert_eq!(err.to_string(), "job 0 cancelled by its handle");
    assert_eq!(h.launched.len(), 2, "the two queued map tasks never ran");
    assert!(h.events.iter().any(|e| matches!(e, Event::StageCompleted { outcome: StageOutcome::Abandoned, .. })));
    h.close();
}

#[test]
fn cancelling_one_of_two_jobs_sharing_a_stage_keeps_it_running_for_the_other() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 1);
    let mut h = Harness::new(8);
    let (a, _) = h.submit(&reduced, &[0]);
    let (b, _) = h.submit(&reduced, &[0]);
    h.handle(SchedulerEvent::Cancel { target: CancelTarget::Job(a), reason: String::new() });
    assert!(h.killed.is_empty(), "the map stage is still needed");
    assert_eq!(h.error(a).kind(), JobErrorKind::Cancelled, "nothing of its own ran: it ends at once");
    h.map_done(0, 0, 0);
    assert_eq!(sorted(&h.map_done(0, 1, 0)), vec![(2, 0, 0)], "only the second job's result stage");
    h.value_done(2, 0, 0);
    assert_eq!(h.values(b), vec![0]);
    assert_eq!(h.metrics(b).stages[0].tasks_launched + h.metrics(a).stages[0].tasks_launched, 2);
    h.close();
}

#[test]
fn a_failed_job_s_queued_tasks_never_run_and_the_next_job_does() {
    let l = Lineage::default();
    let (failing, next) = (l.source(3), l.source(1));
    let mut h = Harness::with_config(EngineConfig::new(1).with_max_task_attempts(1), 1);
    let (a, _) = h.submit(&failing, &[0, 1, 2]);
    let (b, _) = h.submit(&next, &[0]);
    assert_eq!(sorted(&h.panicked(0, 0, 0, "bad")), vec![(1, 0, 0)], "the slot goes to the next job at once");
    assert_eq!(h.error(a).kind(), JobErrorKind::TaskFailed);
    h.value_done(1, 0, 0);
    assert_eq!(h.values(b), vec![0]);
    assert_eq!(h.launched.len(), 2, "the failed job's partitions 1 and 2 never ran");
    h.close();
}

#[test]
fn cancelling_a_job_group_reaches_its_jobs_only() {
    let l = Lineage::default();
    let source = l.source(1);
    let mut h = Harness::new(8);
    let (a, _) = h.submit_in(&source, &[0], Some("nightly"));
    let (b, _) = h.submit_in(&source, &[0], Some("adhoc"));
    let (c, _) = h.submit_in(&source, &[0], Some("nightly"));
    h.handle(SchedulerEvent::Cancel { target: CancelTarget::Group("nightly".into()), reason: "with its group".into() });
    for task in h.killed.clone() {
        h.cancelled(task);
    }
    assert_eq!(h.error(a).kind(), JobErrorKind::Cancelled);
    assert_eq!(h.error(c).kind(), JobErrorKind::Cancelled);
    assert!(!h.is_finished(b));
    h.value_done(1, 0, 0);
    assert_eq!(h.values(b), vec![0]);
    h.close();
}

#[test]
fn a_late_success_of_a_killed_attempt_counts_for_nobody() {
    let l = Lineage::default();
    let source = l.source(1);
    let mut h = Harness::new(8);
    let (a, _) = h.submit(&source, &[0]);
    h.handle(SchedulerEvent::Cancel { target: CancelTarget::All, reason: String::new() });
    // The attempt had finished before it saw the kill: its value arrives anyway.
    let (b, launched) = h.submit(&source, &[0]);
    assert_eq!(sorted(&launched), vec![(1, 0, 0)]);
    h.value_done(0, 0, 0);
    assert_eq!(h.error(a).kind(), JobErrorKind::Cancelled);
    assert!(!h.is_finished(b), "the stale value is not the second job's");
    h.value_done(1, 0, 0);
    assert_eq!(h.values(b), vec![0]);
    h.close();
}

#[test]
fn a_failing_accumulator_merge_fails_that_job_only() {
    let l = Lineage::default();
    let source = l.source(1);
    let mut h = Harness::new(8);
    let (a, _) = h.submit(&source, &[0]);
    let (b, _) = h.submit(&source, &[0]);
    h.merge_error = Some((AccumulatorId(3), "its merge panicked: overflow".into()));
    let update = vec![(AccumulatorId(3), Bytes::from_static(b"x"))];
    let value = Bytes::from(0u64.to_le_bytes().to_vec());
    h.report_with(h.task(0, 0, 0), Ok(TaskSuccess::Value(value.clone())), update.clone());
    let err = h.error(a);
    assert_eq!(err.kind(), JobErrorKind::AccumulatorFailed);
    assert!(err.to_string().contains("accumulator 3") && err.to_string().contains("overflow"), "{err}");
    h.report_with(h.task(1, 0, 0), Ok(TaskSuccess::Value(value)), update);
    assert_eq!(h.values(b), vec![0]);
    assert_eq!(h.accumulators.len(), 2, "each accepted attempt's updates are merged once");
    h.close();
}

#[test]
fn a_lost_executor_s_attempts_and_outputs_run_again_elsewhere() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(2), 1);
    let mut h = Harness::with_config(EngineConfig::new(2).with_max_task_attempts(1), 8);
    let (job, _) = h.submit(&reduced, &[0]);
    h.map_done(0, 0, 0);
    let other = ExecutorId(1);
    h.handle(SchedulerEvent::ExecutorAdded { executor: other, slots: 1 });
    let relaunched = h.dag.handle(SchedulerEvent::ExecutorLost { executor: EXECUTOR }, 99_999);
    let launches: Vec<(TaskDescriptor, ExecutorId)> = relaunched
        .iter()
        .filter_map(|c| match c {
            Command::Launch { task, executor } => Some((*task, *executor)),
            _ => None,
        })
        .collect();
    assert_eq!(launches.len(), 1, "one slot left: {relaunched:?}");
    assert_eq!(launches[0].1, other);
    assert!(relaunched.iter().any(
        |c| matches!(c, Command::Unregister { shuffle: s, maps: Some(m) } if *s == shuffle && m == &[PartitionId(0)])
    ));
    assert_eq!(h.tracker.missing_maps(shuffle, 2), vec![PartitionId(0), PartitionId(1)], "map 0's output was on it");
    // Both map tasks run again on the new executor without using up an attempt.
    let first = launches[0].0;
    let report = |task| TaskReport {
        task,
        executor: other,
        result: Ok(TaskSuccess::MapOutput(MapStatus { location: other, bucket_sizes: BucketSizes::from_sizes(&[1]) })),
        metrics: TaskMetrics::default(),
        accumulators: Vec::new(),
        blocks: Vec::new(),
    };
    let next: Vec<TaskDescriptor> = h
        .dag
        .handle(SchedulerEvent::TaskEnded(report(first)), 100_000)
        .into_iter()
        .filter_map(|c| match c {
            Command::Launch { task, .. } => Some(task),
            _ => None,
        })
        .collect();
    assert_eq!(next.len(), 1);
    let reduce: Vec<TaskDescriptor> = h
        .dag
        .handle(SchedulerEvent::TaskEnded(report(next[0])), 100_001)
        .into_iter()
        .filter_map(|c| match c {
            Command::Launch { task, .. } => Some(task),
            _ => None,
        })
        .collect();
    assert_eq!(reduce.len(), 1, "then the reducer");
    assert!(h.tracker.is_complete(shuffle));
    let value = Bytes::from(7u64.to_le_bytes().to_vec());
    let ended = TaskReport { result: Ok(TaskSuccess::Value(value)), ..report(reduce[0]) };
    let finish = h.dag.handle(SchedulerEvent::TaskEnded(ended), 100_002);
    assert!(finish.iter().any(|c| matches!(c, Command::Finish { job: j, result: Ok(_), .. } if *j == job)));
    assert!(h.dag.is_idle());
}

#[test]
fn stopping_fails_every_job_and_a_dropped_shuffle_is_forgotten() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(1), 1);
    let mut h = Harness::new(8);
    let (job, launched) = h.submit(&reduced, &[0]);
    h.handle(SchedulerEvent::Stop);
    h.cancelled(launched[0]);
    assert_eq!(h.error(job).kind(), JobErrorKind::Stopped);
    h.handle(SchedulerEvent::ShuffleDropped(shuffle));
    assert_eq!(h.unregistered.last(), Some(&(shuffle, None)));
    assert!(h.tracker.is_empty());
    h.close();
}

#[test]
fn progress_counts_done_running_and_total_per_stage() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(3), 2);
    let mut h = Harness::new(2);
    let (job, _) = h.submit(&reduced, &[0, 1]);
    h.map_done(0, 0, 0);
    let p = h.dag.progress(job).expect("running");
    assert_eq!(p.stages.iter().map(|s| (s.total, s.done, s.running)).collect::<Vec<_>>(), vec![(3, 1, 2), (2, 0, 0)]);
    assert_eq!((p.tasks_total(), p.tasks_done(), p.tasks_running()), (5, 1, 2));
    h.map_done(0, 1, 0);
    h.map_done(0, 2, 0);
    h.value_done(1, 0, 0);
    h.value_done(1, 1, 0);
    assert!(h.dag.progress(job).is_none(), "ended");
    h.values(job);
    h.close();
}
