//! Scheduler unit tests: `JobRun` driven by hand with fake nodes and hand-written outcomes.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Command, JobMetrics, JobRun};
use crate::config::EngineConfig;
use crate::error::{JobError, TaskFailure};
use crate::executor::{ResultFn, StageWork, TaskOutcome, TaskSuccess};
use crate::ids::{ExecutorId, JobId, ShuffleId, StageId};
use crate::lineage::{Dependency, LineageNode};
use crate::plan::{StageKind, plan_job};
use crate::shuffle::{LocalShuffleStore, MapOutput, MapStatus, ShuffleRegistry};
use crate::task::{TaskDescriptor, TaskMetrics};
use crate::test_support::Lineage;

/// The result function of every test job: the state machine must never call it.
fn never_run() -> Arc<ResultFn> {
    Arc::new(|p, _| panic!("the scheduler ran result task {p} itself"))
}

/// One job under test: the state machine, the registry it records map outputs in, and what
/// its commands said so far.
struct Harness {
    run: Option<JobRun>,
    registry: Arc<ShuffleRegistry>,
    /// The shuffle each stage writes (`None` for the result stage), from the planner.
    writes: Vec<Option<ShuffleId>>,
    finished: Option<Result<Vec<Box<dyn Any + Send>>, JobError>>,
}

fn registry() -> Arc<ShuffleRegistry> {
    Arc::new(ShuffleRegistry::new(Arc::new(LocalShuffleStore::default())))
}

impl Harness {
    fn new(final_node: &Arc<dyn LineageNode>, partitions: Vec<usize>, registry: &Arc<ShuffleRegistry>) -> Self {
        Harness::with_config(final_node, partitions, EngineConfig::new(2), registry)
    }

    fn with_config(
        final_node: &Arc<dyn LineageNode>,
        partitions: Vec<usize>,
        config: EngineConfig,
        registry: &Arc<ShuffleRegistry>,
    ) -> Self {
        let graph = plan_job(final_node);
        let writes = graph
            .stages()
            .iter()
            .map(|s| match &s.kind {
                StageKind::ShuffleMap(dep) => Some(dep.shuffle_id),
                StageKind::Result => None,
            })
            .collect();
        let run = JobRun::new(JobId(7), graph, partitions, never_run(), config, Arc::clone(registry), Arc::default());
        Harness { run: Some(run), registry: Arc::clone(registry), writes, finished: None }
    }

    fn run(&mut self) -> &mut JobRun {
        self.run.as_mut().expect("the job is not closed yet")
    }

    /// Records the commands and returns the attempts they launch, checking what holds for
    /// every batch: launches carry the stage's work, nothing follows a `Finish`, and an
    /// unfinished job always has something in flight.
    fn absorb(&mut self, commands: Vec<Command>) -> Vec<TaskDescriptor> {
        let mut launched = Vec::new();
        for command in commands {
            assert!(self.finished.is_none(), "a command after Finish");
            match command {
                Command::Launch(task, work) => {
                    assert_eq!(task.job, JobId(7));
                    let written = match &*work {
                        StageWork::ShuffleMap(dep) => Some(dep.shuffle_id),
                        StageWork::Result(_) => None,
                    };
                    assert_eq!(written, self.writes[task.stage.0 as usize], "stage {} got the wrong work", task.stage);
                    launched.push(task);
                }
                Command::Finish(result) => self.finished = Some(result),
            }
        }
        if self.finished.is_none() {
            assert!(!self.run().is_stalled(), "an unfinished job with nothing in flight");
        }
        launched
    }

    fn start(&mut self) -> Vec<TaskDescriptor> {
        let commands = self.run().start();
        self.absorb(commands)
    }

    fn feed(&mut self, task: TaskDescriptor, result: Result<TaskSuccess, TaskFailure>) -> Vec<TaskDescriptor> {
        let commands = self.run().on_outcome(TaskOutcome {
            task,
            result,
            metrics: TaskMetrics::default(),
            accumulators: Vec::new(),
        });
        self.absorb(commands)
    }

    /// A map task succeeded (the runner would have stored its buckets first).
    fn map_done(&mut self, task: TaskDescriptor) -> Vec<TaskDescriptor> {
        let shuffle = self.writes[task.stage.0 as usize].expect("a map task");
        self.registry.store.put_map_output(
            shuffle,
            task.partition,
            MapOutput::in_memory(vec![Bytes::from_static(b"bucket")]),
        );
        let status = MapStatus { location: ExecutorId(0), bucket_sizes: vec![6] };
        self.feed(task, Ok(TaskSuccess::MapOutput(status)))
    }

    /// A result task succeeded with its partition times ten.
    fn value_done(&mut self, task: TaskDescriptor) -> Vec<TaskDescriptor> {
        self.feed(task, Ok(TaskSuccess::Value(Box::new(task.partition * 10))))
    }

    fn panicked(&mut self, task: TaskDescriptor, message: &str) -> Vec<TaskDescriptor> {
        self.feed(task, Err(TaskFailure::Panic { message: message.to_owned() }))
    }

    fn fetch_failed(&mut self, task: TaskDescriptor, shuffle: ShuffleId, map: usize) -> Vec<TaskDescriptor> {
        self.feed(task, Err(TaskFailure::FetchFailed { shuffle, map }))
    }

    fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    /// The job's values, as the `usize`s the result tasks produced.
    fn values(&mut self) -> Vec<usize> {
        match self.finished.take().expect("the job finished") {
            Ok(values) => values.into_iter().map(|v| *v.downcast::<usize>().expect("a usize")).collect(),
            Err(err) => panic!("the job failed: {err}"),
        }
    }

    fn error(&mut self) -> JobError {
        match self.finished.take().expect("the job finished") {
            Ok(values) => panic!("the job succeeded with {} values", values.len()),
            Err(err) => err,
        }
    }

    /// After the end, outcomes still arriving for the attempts in `late` (a success, a panic and
    /// a fetch failure each) launch nothing and change no map output, and the job never
    /// reports a stall. Returns its metrics.
    fn close(mut self, late: &[TaskDescriptor]) -> JobMetrics {
        assert!(self.finished.is_none(), "the test must consume the job's result");
        let shuffles: Vec<ShuffleId> = self.writes.iter().flatten().copied().collect();
        let outputs = |registry: &ShuffleRegistry| -> Vec<Result<Vec<MapStatus>, usize>> {
            shuffles.iter().map(|&s| registry.tracker.statuses(s)).collect()
        };
        let before = outputs(&self.registry);
        let run = self.run.as_mut().expect("open");
        assert!(!run.is_stalled(), "a finished job is not stalled");
        // Always at least one: a stray report for an attempt that is long gone.
        for &task in late.iter().chain(&[task(0, 0, 99)]) {
            let results: [Result<TaskSuccess, TaskFailure>; 3] = [
                Ok(TaskSuccess::Value(Box::new(0usize))),
                Err(TaskFailure::Panic { message: "late".to_owned() }),
                Err(TaskFailure::FetchFailed { shuffle: shuffles.first().copied().unwrap_or_default(), map: 0 }),
            ];
            for result in results {
                let commands = run.on_outcome(TaskOutcome {
                    task,
                    result,
                    metrics: TaskMetrics::default(),
                    accumulators: Vec::new(),
                });
                assert!(commands.is_empty(), "an outcome after Finish produced commands");
            }
        }
        assert!(!run.is_stalled());
        assert_eq!(outputs(&self.registry), before, "a late outcome changed the map outputs");
        self.run.take().expect("open").into_metrics(Duration::ZERO, true)
    }
}

fn task(stage: u32, partition: usize, attempt: u32) -> TaskDescriptor {
    TaskDescriptor { job: JobId(7), stage: StageId(stage), partition, attempt }
}

/// Sorted, so tests do not depend on launch order within a batch.
fn sorted(mut tasks: Vec<TaskDescriptor>) -> Vec<(u32, usize, u32)> {
    let mut out: Vec<(u32, usize, u32)> = tasks.drain(..).map(|t| (t.stage.0, t.partition, t.attempt)).collect();
    out.sort();
    out
}

#[test]
fn result_only_job_returns_values_in_requested_order() {
    let l = Lineage::default();
    let source = l.source(4);
    let mut h = Harness::new(&source, vec![3, 0, 2], &registry());
    let launched = h.start();
    assert_eq!(sorted(launched), vec![(0, 0, 0), (0, 2, 0), (0, 3, 0)], "only the requested partitions");
    assert!(h.value_done(task(0, 0, 0)).is_empty());
    assert!(h.value_done(task(0, 3, 0)).is_empty());
    assert!(!h.is_finished(), "a result is still missing");
    assert!(h.value_done(task(0, 2, 0)).is_empty());
    assert_eq!(h.values(), vec![30, 0, 20]);
    let m = h.close(&[task(0, 1, 0)]);
    assert_eq!((m.stages.len(), m.stages_run(), m.tasks_launched(), m.tasks_failed()), (1, 1, 3, 0));
}

#[test]
fn result_tasks_wait_for_every_map_output() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 2);
    let registry = registry();
    let mut h = Harness::new(&reduced, vec![0, 1], &registry);
    assert_eq!(sorted(h.start()), vec![(0, 0, 0), (0, 1, 0), (0, 2, 0)], "map tasks only");
    assert!(h.map_done(task(0, 0, 0)).is_empty());
    assert!(h.map_done(task(0, 2, 0)).is_empty(), "no result task while map 1 is missing");
    assert_eq!(registry.tracker.missing_maps(shuffle, 3), vec![1]);
    let launched = h.map_done(task(0, 1, 0));
    assert!(registry.tracker.missing_maps(shuffle, 3).is_empty(), "every output registered before reducing");
    assert_eq!(sorted(launched), vec![(1, 0, 0), (1, 1, 0)]);
    h.value_done(task(1, 1, 0));
    h.value_done(task(1, 0, 0));
    assert_eq!(h.values(), vec![0, 10]);
    let m = h.close(&[]);
    assert_eq!((m.stages_run(), m.stages_skipped(), m.tasks_launched()), (2, 0, 5));
    assert!(m.stages[0].is_shuffle_map && !m.stages[1].is_shuffle_map);
}

#[test]
fn a_diamond_reduces_only_after_both_map_stages() {
    let l = Lineage::default();
    let (left, _) = l.shuffle(&l.source(1), 2);
    let (right, _) = l.shuffle(&l.source(2), 2);
    // Both reduce sides feed one node through narrow dependencies (a co-partitioned zip).
    let zipped = l.node("zip", 2, vec![Dependency::OneToOne(left), Dependency::OneToOne(right)]);
    let mut h = Harness::new(&zipped, vec![0, 1], &registry());
    let first = sorted(h.start());
    assert_eq!(first.len(), 3, "both map stages start at once: {first:?}");
    assert!(first.iter().all(|&(stage, _, _)| stage < 2));
    let one = first.iter().find(|t| first.iter().filter(|u| u.0 == t.0).count() == 1).expect("a 1-task stage");
    let two: Vec<_> = first.iter().filter(|t| t.0 != one.0).collect();
    assert!(h.map_done(task(one.0, one.1, 0)).is_empty(), "the other map stage is still running");
    assert!(h.map_done(task(two[0].0, two[0].1, 0)).is_empty());
    assert_eq!(sorted(h.map_done(task(two[1].0, two[1].1, 0))), vec![(2, 0, 0), (2, 1, 0)]);
    h.value_done(task(2, 0, 0));
    h.value_done(task(2, 1, 0));
    assert_eq!(h.values(), vec![0, 10]);
    assert_eq!(h.close(&[]).stages_run(), 3);
}

#[test]
fn a_failed_attempt_is_relaunched_with_the_next_attempt_number() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 1);
    let mut h = Harness::new(&reduced, vec![0], &registry());
    h.start();
    assert_eq!(sorted(h.panicked(task(0, 1, 0), "flaky map")), vec![(0, 1, 1)], "the same map task, attempt 1");
    assert!(h.map_done(task(0, 0, 0)).is_empty(), "map 1 has no output yet");
    assert_eq!(sorted(h.map_done(task(0, 1, 1))), vec![(1, 0, 0)]);
    assert_eq!(sorted(h.panicked(task(1, 0, 0), "flaky reduce")), vec![(1, 0, 1)]);
    assert!(h.value_done(task(1, 0, 1)).is_empty());
    assert_eq!(h.values(), vec![0]);
    let m = h.close(&[]);
    assert_eq!((m.stages[0].tasks_launched, m.stages[0].tasks_failed), (3, 1));
    assert_eq!((m.stages[1].tasks_launched, m.stages[1].tasks_failed), (2, 1));
}

#[test]
fn a_task_failing_on_every_attempt_fails_the_job_with_its_cause() {
    let l = Lineage::default();
    let source = l.source(3);
    let mut h = Harness::new(&source, vec![0, 1, 2], &registry());
    h.start();
    h.value_done(task(0, 0, 0));
    let mut attempt = 0;
    for _ in 0..3 {
        let next = h.panicked(task(0, 1, attempt), "boom");
        attempt += 1;
        assert_eq!(sorted(next), vec![(0, 1, attempt)]);
    }
    assert!(h.panicked(task(0, 1, attempt), "boom").is_empty(), "no launch once the job fails");
    let err = h.error();
    let text = err.to_string();
    for needle in ["job 7", "partition 1 of stage 0", "attempt 4 of 4", "panicked: boom"] {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
    match err {
        JobError::TaskFailed { job, stage, partition, attempt, max_attempts, failure, stage_name } => {
            assert_eq!((job, stage, partition, attempt, max_attempts), (JobId(7), StageId(0), 1, 4, 4));
            assert!(matches!(&failure, TaskFailure::Panic { message } if message == "boom"), "{failure}");
            assert!(stage_name.starts_with("source at ") && stage_name.contains("tests.rs"), "{stage_name}");
        }
        other => panic!("expected TaskFailed, got {other}"),
    }
    // Partition 2 was still running; its outcome arrives after the end.
    let m = h.close(&[task(0, 2, 0), task(0, 1, 4)]);
    assert_eq!((m.tasks_launched(), m.tasks_failed()), (6, 4));
}

#[test]
fn one_attempt_allowed_fails_on_the_first_failure() {
    let l = Lineage::default();
    let source = l.source(1);
    let mut h = Harness::with_config(&source, vec![0], EngineConfig::new(1).with_max_task_attempts(1), &registry());
    h.start();
    assert!(h.panicked(task(0, 0, 0), "once").is_empty());
    assert!(matches!(h.error(), JobError::TaskFailed { attempt: 1, max_attempts: 1, .. }));
    assert_eq!(h.close(&[]).tasks_launched(), 1);
}

#[test]
fn a_fetch_failure_reruns_only_the_lost_map_task_and_uses_no_attempt() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 2);
    let registry = registry();
    // One attempt per task: if the fetch failure counted as one, the job would fail.
    let config = EngineConfig::new(2).with_max_task_attempts(1);
    let mut h = Harness::with_config(&reduced, vec![0, 1], config, &registry);
    h.start();
    h.map_done(task(0, 0, 0));
    h.map_done(task(0, 1, 0));
    assert_eq!(sorted(h.map_done(task(0, 2, 0))), vec![(1, 0, 0), (1, 1, 0)]);
    h.value_done(task(1, 0, 0));

    let rerun = h.fetch_failed(task(1, 1, 0), shuffle, 1);
    assert_eq!(sorted(rerun), vec![(0, 1, 1)], "only map task 1 reruns, as its second attempt");
    assert_eq!(registry.tracker.missing_maps(shuffle, 3), vec![1], "the lost output is forgotten");
    let lost = crate::shuffle::ShuffleBlockId { shuffle, map: 1, reduce: 0 };
    assert!(registry.store.fetch(lost).is_none(), "and its buckets are dropped");
    assert!(registry.store.fetch(crate::shuffle::ShuffleBlockId { map: 0, ..lost }).is_some(), "others stay");

    let reduce_again = h.map_done(task(0, 1, 1));
    assert_eq!(sorted(reduce_again), vec![(1, 1, 1)], "then only the unfinished reduce task");
    h.value_done(task(1, 1, 1));
    assert_eq!(h.values(), vec![0, 10]);
    let m = h.close(&[]);
    assert_eq!((m.stages[0].tasks_launched, m.stages[0].tasks_failed), (4, 0));
    assert_eq!((m.stages[1].tasks_launched, m.stages[1].tasks_failed), (3, 1));
}

#[test]
fn two_reducers_losing_the_same_output_rerun_it_once() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(2), 2);
    let mut h = Harness::new(&reduced, vec![0, 1], &registry());
    h.start();
    h.map_done(task(0, 0, 0));
    h.map_done(task(0, 1, 0));
    assert_eq!(sorted(h.fetch_failed(task(1, 0, 0), shuffle, 0)), vec![(0, 0, 1)]);
    assert!(h.fetch_failed(task(1, 1, 0), shuffle, 0).is_empty(), "map 0 is already rerunning");
    assert_eq!(sorted(h.map_done(task(0, 0, 1))), vec![(1, 0, 1), (1, 1, 1)]);
    h.value_done(task(1, 0, 1));
    h.value_done(task(1, 1, 1));
    assert_eq!(h.values(), vec![0, 10]);
    h.close(&[]);
}

#[test]
fn a_stale_fetch_failure_about_an_output_already_rerun_forgets_nothing() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(2), 2);
    let registry = registry();
    let mut h = Harness::new(&reduced, vec![0, 1], &registry);
    h.start();
    h.map_done(task(0, 0, 0));
    h.map_done(task(0, 1, 0));
    assert_eq!(sorted(h.fetch_failed(task(1, 0, 0), shuffle, 0)), vec![(0, 0, 1)]);
    assert_eq!(sorted(h.map_done(task(0, 0, 1))), vec![(1, 0, 1)], "reducer 1 is still running");
    // Reducer 1 was launched before map 0's new output was registered: its report is stale.
    assert_eq!(sorted(h.fetch_failed(task(1, 1, 0), shuffle, 0)), vec![(1, 1, 1)], "no map task reruns");
    assert!(registry.tracker.missing_maps(shuffle, 2).is_empty(), "the new output is kept");
    h.value_done(task(1, 0, 1));
    h.value_done(task(1, 1, 1));
    assert_eq!(h.values(), vec![0, 10]);
    let m = h.close(&[]);
    assert_eq!(m.stages[0].tasks_launched, 3);
}

#[test]
fn a_fetch_failure_forgets_every_output_the_store_lost() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 1);
    let registry = registry();
    let mut h = Harness::new(&reduced, vec![0], &registry);
    h.start();
    h.map_done(task(0, 0, 0));
    h.map_done(task(0, 1, 0));
    h.map_done(task(0, 2, 0));
    registry.store.remove_map_output(shuffle, 0);
    registry.store.remove_map_output(shuffle, 2);
    assert_eq!(sorted(h.fetch_failed(task(1, 0, 0), shuffle, 0)), vec![(0, 0, 1), (0, 2, 1)], "one resubmission");
    h.map_done(task(0, 0, 1));
    assert_eq!(sorted(h.map_done(task(0, 2, 1))), vec![(1, 0, 1)]);
    h.value_done(task(1, 0, 1));
    assert_eq!(h.values(), vec![0]);
    h.close(&[]);
}

#[test]
fn a_stage_that_keeps_losing_its_input_gives_up() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(1), 1);
    let mut h = Harness::new(&reduced, vec![0], &registry());
    h.start();
    let mut map_attempt = 0;
    for reduce_attempt in 0..4 {
        assert_eq!(sorted(h.map_done(task(0, 0, map_attempt))), vec![(1, 0, reduce_attempt)]);
        map_attempt += 1;
        assert_eq!(sorted(h.fetch_failed(task(1, 0, reduce_attempt), shuffle, 0)), vec![(0, 0, map_attempt)]);
    }
    h.map_done(task(0, 0, map_attempt));
    assert!(h.fetch_failed(task(1, 0, 4), shuffle, 0).is_empty());
    match h.error() {
        JobError::TooManyFetchFailures { stage, count, .. } => assert_eq!((stage, count), (StageId(1), 5)),
        other => panic!("expected TooManyFetchFailures, got {other}"),
    }
    h.close(&[]);
}

#[test]
fn a_second_job_on_a_finished_shuffle_skips_its_map_stage() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(2), 2);
    let registry = registry();

    let mut first = Harness::new(&reduced, vec![0, 1], &registry);
    first.start();
    first.map_done(task(0, 0, 0));
    first.map_done(task(0, 1, 0));
    first.value_done(task(1, 0, 0));
    first.value_done(task(1, 1, 0));
    assert_eq!(first.values(), vec![0, 10]);
    first.close(&[]);

    let mut second = Harness::new(&reduced, vec![1, 0], &registry);
    assert_eq!(sorted(second.start()), vec![(1, 0, 0), (1, 1, 0)], "no map task");
    second.value_done(task(1, 0, 0));
    second.value_done(task(1, 1, 0));
    assert_eq!(second.values(), vec![10, 0]);
    let m = second.close(&[]);
    assert!(m.stages[0].skipped && m.stages[0].tasks_launched == 0);
    assert_eq!((m.stages_run(), m.stages_skipped()), (1, 1));

    // Losing one output between jobs reruns exactly that map task.
    registry.tracker.unregister_map_output(shuffle, 1);
    let mut third = Harness::new(&reduced, vec![0], &registry);
    assert_eq!(sorted(third.start()), vec![(0, 1, 0)]);
    assert_eq!(sorted(third.map_done(task(0, 1, 0))), vec![(1, 0, 0)]);
    third.value_done(task(1, 0, 0));
    assert_eq!(third.values(), vec![0]);
    let m = third.close(&[]);
    assert_eq!((m.stages_skipped(), m.stages[0].tasks_launched), (0, 1));
}

#[test]
fn a_job_over_some_partitions_still_runs_every_map_task() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 3);
    let mut h = Harness::new(&reduced, vec![1], &registry());
    assert_eq!(sorted(h.start()), vec![(0, 0, 0), (0, 1, 0)]);
    h.map_done(task(0, 0, 0));
    assert_eq!(sorted(h.map_done(task(0, 1, 0))), vec![(1, 1, 0)], "only the requested reduce partition");
    h.value_done(task(1, 1, 0));
    assert_eq!(h.values(), vec![10]);
    h.close(&[]);
}

#[test]
fn an_empty_partition_list_finishes_at_once() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 3);
    let mut h = Harness::new(&reduced, Vec::new(), &registry());
    assert!(h.start().is_empty(), "nothing launched");
    assert!(h.values().is_empty());
    let m = h.close(&[task(0, 0, 0)]);
    assert_eq!((m.stages_run(), m.tasks_launched()), (0, 0));
}

#[test]
fn a_duplicate_success_keeps_the_first_value() {
    let l = Lineage::default();
    let source = l.source(2);
    let mut h = Harness::new(&source, vec![0, 1], &registry());
    h.start();
    h.value_done(task(0, 0, 0));
    // A stale second report for partition 0 (say, from a resubmission race) must not count
    // as partition 1's result.
    assert!(h.feed(task(0, 0, 0), Ok(TaskSuccess::Value(Box::new(99usize)))).is_empty());
    assert!(!h.is_finished(), "partition 1 is still missing");
    h.value_done(task(0, 1, 0));
    assert_eq!(h.values(), vec![0, 10]);
    h.close(&[]);
}

#[test]
fn a_shuffle_without_map_tasks_is_registered_before_reducers_run() {
    // A shuffle of an RDD with no partitions (an empty input directory) has no map task, yet
    // reducers can only fetch from a shuffle the tracker knows.
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(0), 2);
    let registry = registry();
    let mut h = Harness::new(&reduced, vec![0, 1], &registry);
    assert_eq!(sorted(h.start()), vec![(1, 0, 0), (1, 1, 0)], "no map task to run, reducers start at once");
    assert_eq!(registry.tracker.statuses(shuffle), Ok(Vec::new()), "the reducers will find zero buckets");
    h.value_done(task(1, 0, 0));
    h.value_done(task(1, 1, 0));
    assert_eq!(h.values(), vec![0, 10]);
    h.close(&[]);
}
