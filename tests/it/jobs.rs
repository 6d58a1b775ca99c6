//! The job layer: many jobs on one context from many threads, handles (futures, waits,
//! cancellation, progress, metrics), job groups, `as_completed`, listeners and the event log,
//! Ctrl-C, and teardown that leaves nothing behind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ember::accumulator::{AccumulatorParam, Sum};
use ember::engine::read_event_log;
use ember::prelude::*;
use ember::testing::{self, RECORDS};
use ember::{Event, JobResult, TaskEndReason};
use futures::executor::block_on;

use crate::TestResult;

/// Map tasks a job ran (counted in its own metrics).
fn map_tasks(metrics: &JobMetrics) -> u32 {
    metrics.stages.iter().filter(|s| s.is_shuffle_map).map(|s| s.tasks_launched).sum()
}

#[test]
fn eight_threads_of_two_hundred_jobs_share_one_context_and_a_shared_map_stage_runs_once() -> TestResult {
    let ctx = Context::local(2)?;
    let data: Vec<i64> = (0..2_000).collect();
    let shared = ctx.parallelize(data.clone(), 6).map(|x| (x % 13, x)).reduce_by_key(|a, b| a + b);
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for x in &data {
        *expected.entry(x % 13).or_default() += x;
    }
    let shared_map_tasks = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8i64 {
            let (ctx, shared, expected, data, counted) =
                (ctx.clone(), shared.clone(), &expected, &data, &shared_map_tasks);
            s.spawn(move || {
                for i in 0..200i64 {
                    if i % 2 == 0 {
                        // Every thread's even jobs need the one shared shuffle.
                        let mut handle = shared.collect_async();
                        let got: BTreeMap<i64, i64> =
                            block_on(&mut handle).expect("the shared job").into_iter().collect();
                        assert_eq!(&got, expected, "thread {t}, job {i}");
                        let metrics = handle.metrics().expect("an ended job has metrics");
                        counted.fetch_add(map_tasks(&metrics) as usize, Ordering::Relaxed);
                    } else {
                        // A shuffle of its own.
                        let k = t * 1000 + i;
                        let own = ctx.parallelize(data[..50].to_vec(), 3).map(move |x| (x % 5, x + k));
                        let sums = own.reduce_by_key(|a, b| a + b).collect().expect("a separate shuffle");
                        assert_eq!(sums.iter().map(|(_, v)| v).sum::<i64>(), (0..50).sum::<i64>() + 50 * k);
                    }
                }
            });
        }
    });
    assert_eq!(
        shared_map_tasks.load(Ordering::Relaxed),
        6,
        "800 jobs over the shared shuffle, 6 map tasks in all: each ran once, for whichever job came first"
    );
    Ok(())
}

#[test]
fn a_cancelled_job_frees_its_slots_at_once_and_its_queued_tasks_never_run() -> TestResult {
    let ctx = Context::local(2)?;
    let (blocked, gate) = testing::blocking(&ctx, 6);
    let handle = blocked.map(|x| x + 1).count_async();
    gate.wait_entered(2);
    assert_eq!(handle.progress().tasks_running(), 2, "two slots, two running tasks");
    assert!(!handle.is_finished());
    let asked = Instant::now();
    handle.cancel();
    let job = handle.job_id();
    let err = handle.wait().expect_err("a cancelled job fails");
    let took = asked.elapsed();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(err.is_cancelled() && err.job() == job, "{err}");
    assert!(took < Duration::from_secs(2), "the blocked tasks stopped at once: {took:?}");
    assert_eq!((gate.entered(), gate.cancelled()), (2, 2), "the four queued tasks never ran");
    // The slots are free: a job submitted now runs at once.
    assert_eq!(ctx.range(0, 100, 1, 4).count()?, 100);
    assert_eq!(gate.entered(), 2);
    Ok(())
}

#[test]
fn a_failing_job_s_queued_tasks_never_run() -> TestResult {
    let ctx = Context::builder().threads(1).max_task_attempts(1).build()?;
    let computed = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&computed);
    let rdd = ctx.range(0, 8, 1, 8).map(move |x| {
        seen.fetch_add(1, Ordering::SeqCst);
        assert!(x != 0, "partition 0 fails");
        x
    });
    let err = rdd.count().expect_err("partition 0 panics");
    assert_eq!(err.kind(), ErrorKind::TaskFailed);
    assert_eq!(computed.load(Ordering::SeqCst), 1, "one slot: the seven queued tasks were dropped, not run");
    assert_eq!(ctx.last_job().expect("recorded").tasks_launched(), 1);
    Ok(())
}

#[test]
fn as_completed_yields_results_in_the_order_jobs_finish() -> TestResult {
    let ctx = Context::local(2)?;
    let (slow, gate) = testing::blocking(&ctx, 1);
    let handles = vec![slow.count_async(), ctx.range(0, 7, 1, 1).count_async()];
    let mut results = ember::as_completed(handles);
    assert_eq!(results.next().transpose()?, Some(7), "the quick job ends first");
    gate.release();
    assert_eq!(results.next().transpose()?, Some(RECORDS), "then the released one");
    assert!(results.next().is_none());
    Ok(())
}

#[test]
fn a_job_group_is_cancelled_together_and_other_jobs_go_on() -> TestResult {
    let ctx = Context::local(2)?;
    let (blocked, gate) = testing::blocking(&ctx, 2);
    ctx.set_job_group("nightly");
    assert_eq!(ctx.job_group().as_deref(), Some("nightly"));
    let first = blocked.count_async();
    let second = blocked.map(|x| x * 2).collect_async();
    ctx.clear_job_group();
    gate.wait_entered(2);
    let other = ctx.range(0, 10, 1, 2).count_async();
    ctx.cancel_job_group("nightly");
    assert_eq!(first.wait().unwrap_err().kind(), ErrorKind::Cancelled);
    let err = second.wait().unwrap_err();
    assert!(err.is_cancelled() && err.to_string().contains("job group \"nightly\""), "{err}");
    assert_eq!(other.wait()?, 10, "a job outside the group is not touched");
    // cancel_all_jobs reaches every job.
    let third = blocked.count_async();
    gate.wait_entered(3);
    ctx.cancel_all_jobs();
    assert!(third.wait().unwrap_err().is_cancelled());
    Ok(())
}

#[test]
fn handles_are_futures_that_work_under_any_executor() -> TestResult {
    let ctx = Context::local(2)?;
    let words = ctx
        .parallelize(vec!["a b".to_string(), "b c".into()], 2)
        .flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>());
    let (count, distinct) = block_on(async { (words.count_async().await, words.distinct().count_async().await) });
    assert_eq!((count?, distinct?), (4, 3));
    let handle = words.take_async(3);
    assert_eq!(block_on(handle)?.len(), 3, "a multi-job action is a future too");
    let out = tempfile::tempdir()?;
    let path = out.path().join("words");
    block_on(words.save_as_text_file_async(path.to_str().ok_or("utf-8")?))?;
    assert!(path.join("_SUCCESS").exists(), "the commit ran off the polling thread, then resolved");
    Ok(())
}

#[test]
fn progress_and_metrics_come_per_handle() -> TestResult {
    let ctx = Context::local(2)?;
    let (blocked, gate) = testing::blocking(&ctx, 3);
    let handle = blocked.map(|x| (x % 2, x)).reduce_by_key(|a, b| a + b).count_async();
    gate.wait_entered(2);
    let progress = handle.progress();
    assert_eq!(progress.stages.len(), 2);
    assert_eq!((progress.stages[0].total, progress.stages[0].done, progress.stages[0].running), (3, 0, 2));
    assert_eq!(progress.stages[1].total, 3, "as many reduce partitions as map partitions");
    assert!(handle.metrics().is_none(), "metrics once it has ended");
    gate.release();
    let mut handle = handle;
    assert_eq!(block_on(&mut handle)?, 2);
    let metrics = handle.metrics().expect("ended");
    assert!(metrics.succeeded && metrics.action.starts_with("count at ") && metrics.action.contains("jobs.rs"));
    assert_eq!((metrics.stages_run(), metrics.tasks_launched()), (2, 6));
    assert!(handle.progress().finished && handle.progress().tasks_done() == 6);
    Ok(())
}

/// An accumulator whose driver-side merge panics on the first update it sees.
struct Explodes;

impl AccumulatorParam for Explodes {
    type In = u64;
    type Out = u64;
    fn zero(&self) -> u64 {
        0
    }
    fn add(&self, acc: &mut u64, x: u64) {
        *acc += x;
    }
    fn merge(&self, _: &mut u64, other: u64) {
        assert!(other == 0, "a merge bug");
    }
}

#[test]
fn a_panicking_accumulator_merge_fails_its_job_only() -> TestResult {
    let ctx = Context::local(2)?;
    let bad = ctx.accumulator(Explodes);
    let good = ctx.accumulator(Sum::<u64>::new());
    let (b, g) = (bad.clone(), good.clone());
    let err = ctx.range(0, 10, 1, 2).foreach(move |_| b.add(1)).expect_err("the merge panics");
    assert_eq!(err.kind(), ErrorKind::AccumulatorFailed);
    assert!(err.to_string().contains("a merge bug"), "{err}");
    ctx.range(0, 10, 1, 2).foreach(move |_| g.add(1))?;
    assert_eq!(good.value(), 10, "the context and its other accumulators go on");
    Ok(())
}

#[test]
fn actions_name_their_jobs_after_the_user_s_call_site() -> TestResult {
    let ctx = Context::local(2)?;
    let pairs = ctx.parallelize(vec![(1, 2), (1, 3)], 2);
    pairs.count()?;
    let line = line!() - 1;
    assert_eq!(ctx.last_job().expect("ran").action, format!("count at tests/it/jobs.rs:{line}"));
    pairs.collect_as_map()?;
    assert!(ctx.last_job().expect("ran").action.starts_with("collect_as_map at tests/it/jobs.rs:"));
    pairs.values().max()?;
    assert!(ctx.last_job().expect("ran").action.starts_with("max at tests/it/jobs.rs:"));
    Ok(())
}

/// Records the kinds of event it hears.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl ember::Listener for Recorder {
    fn on_event(&self, event: &Event) {
        self.0.lock().expect("not poisoned").push(event.clone());
    }
}

/// A listener that panics on every event.
struct Broken;

impl ember::Listener for Broken {
    fn on_event(&self, _: &Event) {
        panic!("a listener's bug");
    }
}

#[test]
fn listeners_and_the_event_log_hear_every_job_and_a_broken_listener_breaks_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let logs = dir.path().join("events");
    let recorder = Arc::new(Recorder::default());
    let ctx = Context::builder()
        .threads(2)
        .app_name("listened")
        .event_log(logs.to_str().ok_or("utf-8")?)
        .listener(Arc::new(Broken))
        .listener(recorder.clone())
        .build()?;
    let app_id = ctx.app_id().to_owned();
    let counts = ctx.range(0, 100, 1, 4).map(|x| (x % 3, 1u64)).reduce_by_key(|a, b| a + b);
    assert_eq!(counts.count()?, 3);
    let line = line!() - 1;
    let failed = ctx.range(0, 4, 1, 2).map(|x| if x == 3 { panic!("bad") } else { x }).count();
    assert!(failed.is_err());
    drop(counts);
    drop(ctx);

    let heard = recorder.0.lock().expect("not poisoned").clone();
    let text = std::fs::read_to_string(logs.join(format!("{app_id}.jsonl")))?;
    let (header, logged) = read_event_log(&text)?;
    assert_eq!(header.app_id, app_id);
    assert_eq!(logged, heard, "the log holds exactly what a listener heard");
    assert!(matches!(&heard[0], Event::ApplicationStart { app_name, .. } if app_name == "listened"));
    assert!(matches!(heard.last(), Some(Event::ApplicationEnd { .. })));
    let Some(Event::JobStart { action, stages, .. }) = heard.iter().find(|e| matches!(e, Event::JobStart { .. }))
    else {
        panic!("no JobStart: {heard:?}")
    };
    assert_eq!(action, &format!("count at tests/it/jobs.rs:{line}"));
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[1].parents, vec![stages[0].stage], "the stage DAG");
    assert!(stages[0].operators.iter().any(|o| o.op == "map") && stages[1].operators[0].op == "reduce_by_key");
    let starts = heard.iter().filter(|e| matches!(e, Event::TaskStart { .. })).count();
    let ends: Vec<&TaskEndReason> =
        heard.iter().filter_map(|e| if let Event::TaskEnd { reason, .. } = e { Some(reason) } else { None }).collect();
    assert_eq!(starts, ends.len(), "every launched task ended");
    assert!(ends.iter().any(|r| matches!(r, TaskEndReason::Failed { message } if message.contains("bad"))));
    let results: Vec<JobResult> =
        heard.iter().filter_map(|e| if let Event::JobEnd { result, .. } = e { Some(*result) } else { None }).collect();
    assert_eq!(results, [JobResult::Succeeded, JobResult::Failed]);
    Ok(())
}

#[test]
fn teardown_leaves_nothing_behind() -> TestResult {
    let ctx = Context::builder().threads(2).memory_budget(8 << 20).build()?;
    {
        let big = ctx.range(0, 200_000, 1, 4).map(|x| (x % 50_000, [x; 4])).reduce_by_key(|a, _| a);
        assert_eq!(big.count()?, 50_000);
        let cached = ctx.range(0, 10_000, 1, 4).map(|x| x * 2);
        cached.persist(StorageLevel::MemoryAndDisk);
        assert_eq!(cached.count()?, 10_000);
        let during = testing::engine_state(&ctx);
        assert!(during.tracked_shuffles == 1 && during.stored_map_outputs == 4, "{during:?}");
        assert!(during.block_memory > 0, "{during:?}");
        cached.unpersist();
        let after = testing::engine_state(&ctx);
        assert_eq!(after.block_memory, 0, "unpersist frees its blocks");
    }
    // The last RDD over the shuffle is gone: so are its outputs, in memory and on disk.
    let state = testing::engine_state(&ctx);
    assert_eq!(state, testing::EngineState::default(), "nothing is left");
    Ok(())
}

/// The process's resident set size in bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

#[test]
fn ten_thousand_jobs_in_a_row_do_not_grow_memory() -> TestResult {
    const ALONE: &str = "EMBER_TEST_ALONE";
    if std::env::var_os(ALONE).is_none() {
        // The resident set is the whole process's: measure in a child that runs this test
        // alone, so that the suite's other tests running beside it do not count.
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(["--exact", "jobs::ten_thousand_jobs_in_a_row_do_not_grow_memory", "--test-threads=1"])
            .env(ALONE, "1")
            .status()?;
        assert!(status.success(), "the measurement failed in the child process (its output is above)");
        return Ok(());
    }
    let ctx = Context::local(2)?;
    let rdd = ctx.parallelize((0..100).collect::<Vec<i64>>(), 2);
    for _ in 0..1_000 {
        rdd.count()?;
    }
    let before = rss_bytes();
    for _ in 0..10_000 {
        assert_eq!(rdd.count()?, 100);
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 8 << 20, "10,000 jobs grew the process by {} KiB", grown >> 10);
    assert_eq!(testing::engine_state(&ctx).registered_jobs, 0);
    Ok(())
}

#[test]
fn a_context_dropped_while_a_job_runs_fails_it_as_stopped() -> TestResult {
    let ctx = Context::local(2)?;
    let (blocked, gate) = testing::blocking(&ctx, 2);
    let handle = blocked.count_async();
    gate.wait_entered(2);
    drop(blocked);
    drop(ctx);
    let err = handle.wait().expect_err("the context stopped");
    assert_eq!(err.kind(), ErrorKind::Stopped, "{err}");
    Ok(())
}

/// The child of the Ctrl-C test: a save whose tasks block, interrupted by its parent.
const INTERRUPT_CHILD: &str = "EMBER_INTERRUPT_CHILD";

#[test]
#[ignore = "run in a child process by ctrl_c_cancels_the_jobs_removes_their_output_and_exits_130"]
fn interrupted_child() -> TestResult {
    let out = std::env::var(INTERRUPT_CHILD).map_err(|_| "run only by its parent test")?;
    let ctx = Context::builder().threads(2).cancel_on_interrupt().build()?;
    // Two partitions that finish (their parts are staged beside the output), then two that
    // block until the job is cancelled.
    let (blocked, gate) = testing::blocking(&ctx, 2);
    let save = ctx.range(0, 20, 1, 2).map(|x| x as u64).union(&blocked).save_as_text_file_async(&out);
    gate.wait_entered(2);
    println!("running");
    let result = save.wait();
    // Never reached: the interrupt handler exits the process.
    println!("returned {result:?}");
    Ok(())
}

#[test]
fn ctrl_c_cancels_the_jobs_removes_their_output_and_exits_130() -> TestResult {
    use std::io::BufRead;
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["jobs::interrupted_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(INTERRUPT_CHILD, &out)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("a piped stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    while let Some(line) = lines.next().transpose()? {
        if line.ends_with("running") {
            break;
        }
    }
    let in_dir = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    assert!(
        in_dir().iter().any(|n| n.starts_with(".out.ember-staging-")),
        "the save has started writing: {:?}",
        in_dir()
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)?;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait()?;
    assert_eq!(status.code(), Some(ember::INTERRUPTED_EXIT_STATUS), "exit status; the child said {rest:?}");
    assert!(!rest.iter().any(|l| l.starts_with("returned")), "the action did not return first: {rest:?}");
    assert!(in_dir().is_empty(), "nothing is left of the interrupted save: {:?}", in_dir());
    Ok(())
}
