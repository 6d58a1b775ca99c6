//! The cluster mode with real processes on loopback: `local-cluster[E,C]` re-executes this
//! test binary as E executors (each running only the calling test, through
//! `testing::executor_args`), which talk gRPC with the driver, serve each other's shuffle
//! buckets and are killed with real signals.

use std::collections::HashMap;

use ember::prelude::*;

use crate::TestResult;

/// A `local-cluster[executors,slots]` context for the calling test.
fn cluster(executors: usize, slots: usize) -> ember::Result<Context> {
    Context::builder()
        .master(format!("local-cluster[{executors},{slots}]"))
        .executor_args(ember::testing::executor_args())
        .build()
}

fn lines() -> Vec<String> {
    (0..2_000).map(|i| format!("w{} w{} common w{}", i % 97, i % 13, i % 5)).collect()
}

fn local_counts(lines: &[String]) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in lines {
        for word in line.split_whitespace() {
            *counts.entry(word.to_owned()).or_default() += 1;
        }
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort();
    counts
}

#[test]
fn word_count_on_local_cluster_equals_local() -> TestResult {
    let ctx = cluster(2, 1)?;
    assert_eq!(ctx.master(), "local-cluster[2,1]");
    assert_eq!(ctx.parallelism(), 2);
    let data = lines();
    let words = ctx
        .parallelize(data.clone(), 4)
        .flat_map(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64));
    let mut counts = words.reduce_by_key(|a, b| a + b).collect()?;
    counts.sort();
    assert_eq!(counts, local_counts(&data));
    // A second job over the same shuffle reuses its map outputs, held by the executors.
    let total: u64 = ctx.parallelize(data.clone(), 3).map(|l: String| l.len() as u64).sum()?;
    assert_eq!(total, data.iter().map(|l| l.len() as u64).sum::<u64>());
    Ok(())
}

/// The pids of the processes that ran `tasks` one-element tasks, sorted and deduplicated.
fn task_pids(ctx: &Context, tasks: usize) -> ember::Result<Vec<u32>> {
    let mut pids = ctx.parallelize((0..tasks).collect::<Vec<_>>(), tasks).map(|_| std::process::id()).collect()?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Kills process `pid` with SIGKILL (no handler, no clean-up runs).
fn kill(pid: u32) {
    signal(pid, "KILL");
}

/// Waits until `done` says so about `job`'s progress, for at most 30 s.
fn wait_for<T: Send + 'static>(job: &ember::JobHandle<T>, what: &str, done: impl Fn(&ember::JobProgress) -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done(&job.progress()) {
        assert!(std::time::Instant::now() < until, "timed out waiting for {what}: {:?}", job.progress());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn tasks_run_in_the_executor_processes() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    if ctx.is_driver() {
        assert!(!pids.contains(&std::process::id()), "the driver runs no task: {pids:?}");
        assert_eq!(pids.len(), 2, "both executors ran tasks: {pids:?}");
    }
    Ok(())
}

/// Sums of `x` by `x % 10` over `0..n`, computed here.
fn expected_sums(n: u64) -> Vec<(u64, u64)> {
    let mut sums = vec![0u64; 10];
    for x in 0..n {
        sums[(x % 10) as usize] += x;
    }
    sums.into_iter().enumerate().map(|(k, s)| (k as u64, s)).collect()
}

#[test]
fn an_executor_killed_during_a_map_stage_costs_only_its_map_tasks() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    let slow = ctx.parallelize((0..6_000u64).collect::<Vec<_>>(), 6).map_partitions(|it| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        it.map(|x| (x % 10, x))
    });
    let job = slow.reduce_by_key(|a, b| a + b).collect_async();
    if ctx.is_driver() {
        wait_for(&job, "two map tasks", |p| p.stages.first().is_some_and(|s| s.done >= 2));
        kill(pids[0]);
    }
    let mut sums = job.wait()?;
    sums.sort_unstable();
    assert_eq!(sums, expected_sums(6_000));
    if ctx.is_driver() {
        let metrics = ctx.last_job().expect("the job's metrics");
        let map = metrics.stages.iter().find(|s| s.is_shuffle_map).expect("a map stage");
        // Six map tasks, plus the killed executor's finished ones and the one it was running:
        // never all six again.
        assert!(map.tasks_launched > 6 && map.tasks_launched <= 6 + 4, "map tasks launched: {}", map.tasks_launched);
    }
    Ok(())
}

#[test]
fn an_executor_killed_during_a_reduce_stage_costs_only_its_map_outputs() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    let sums = ctx.parallelize((0..6_000u64).collect::<Vec<_>>(), 6).map(|x| (x % 10, x)).reduce_by_key(|a, b| a + b);
    let slow = sums.map_partitions(|it| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        it
    });
    let job = slow.collect_async();
    if ctx.is_driver() {
        wait_for(&job, "the reduce stage", |p| p.stages.last().is_some_and(|s| s.running > 0 || s.done > 0));
        kill(pids[1]);
    }
    let mut got = job.wait()?;
    got.sort_unstable();
    assert_eq!(got, expected_sums(6_000));
    if ctx.is_driver() {
        let metrics = ctx.last_job().expect("the job's metrics");
        let map = metrics.stages.iter().find(|s| s.is_shuffle_map).expect("a map stage");
        // The map stage ran once (six tasks), then again only for the outputs the killed
        // executor held: about half, never all six.
        assert!(map.tasks_launched > 6 && map.tasks_launched < 12, "map tasks launched: {}", map.tasks_launched);
    }
    Ok(())
}

#[test]
fn cached_partitions_stay_where_they_were_computed_and_a_lost_executors_are_recomputed() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    let cached = ctx.parallelize((0..1_000u64).collect::<Vec<_>>(), 2).map(|x| x * 3);
    cached.cache();
    assert_eq!(cached.count()?, 1_000);
    // Each task runs where its partition is cached: every read is a hit.
    assert_eq!(cached.sum()?, 3 * 999 * 1_000 / 2);
    if ctx.is_driver() {
        let job = ctx.last_job().expect("metrics");
        assert_eq!((job.cache_hits(), job.cache_misses()), (2, 0), "tasks ran where their blocks are");
        kill(pids[0]);
    }
    // The survivor's block is read, the lost one recomputed (on the survivor or the
    // replacement): the same answer.
    assert_eq!(cached.map(|x| x + 1).sum()?, 3 * 999 * 1_000 / 2 + 1_000);
    if ctx.is_driver() {
        let job = ctx.last_job().expect("metrics");
        assert!(job.cache_misses() >= 1 && job.cache_hits() + job.cache_misses() >= 2, "{job:?}");
    }
    Ok(())
}

#[test]
fn a_replacement_executor_replays_main_and_takes_tasks() -> TestResult {
    let ctx = cluster(2, 1)?;
    let first = task_pids(&ctx, 8)?;
    if ctx.is_driver() {
        kill(first[0]);
    }
    // The replacement replays the jobs so far from the driver's log, then takes part in the
    // next ones: soon every task runs on the survivor or on it.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut round = 0u32;
    loop {
        round += 1;
        let pids = task_pids(&ctx, 8)?;
        let done = ctx.broadcast(pids.len() == 2 && !pids.contains(&first[0]))?;
        // Every process decides alike: the loop's condition is an action's result.
        if *done.value() {
            break;
        }
        assert!(std::time::Instant::now() < until, "no replacement took tasks after {round} rounds: {pids:?}");
    }
    Ok(())
}

#[test]
fn a_panicking_task_names_its_executor_and_log() {
    let ctx = cluster(1, 1).expect("a cluster");
    let err = ctx
        .parallelize(vec![1, 2, 3], 1)
        .map(|x: i32| if x == 2 { panic!("bad element {x}") } else { x })
        .collect()
        .expect_err("the task panics on every attempt");
    let text = err.to_string();
    assert!(text.contains("bad element 2"), "{text}");
    assert!(text.contains("on executor 1") && text.contains("executor-1.log"), "{text}");
}

#[test]
fn accumulators_count_each_partition_once_across_retries_on_executors() -> TestResult {
    let ctx = cluster(2, 1)?;
    let acc = ctx.accumulator(ember::accumulator::Sum::<u64>::new());
    let failed_once = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let (a, failed) = (acc.clone(), std::sync::Arc::clone(&failed_once));
    let rdd = ctx.range(0, 100, 1, 4).map_partitions_with_index(move |p, it| {
        let values: Vec<i64> = it.collect();
        for _ in &values {
            a.add(1);
        }
        // The first attempt of each partition in each executor process fails after adding.
        if failed.lock().unwrap_or_else(|e| e.into_inner()).insert(p) {
            panic!("injected failure after adding, partition {p}");
        }
        values
    });
    assert_eq!(rdd.count()?, 100);
    if ctx.is_driver() {
        assert_eq!(acc.value(), 100, "each partition's updates applied exactly once");
        assert!(ctx.last_job().expect("metrics").tasks_failed() >= 4);
    }
    Ok(())
}

#[test]
fn broadcasts_and_persistence_work_on_executors() -> TestResult {
    let ctx = cluster(2, 1)?;
    let table = ctx.broadcast((0..100u64).map(|k| (k, k * k)).collect::<HashMap<_, _>>())?;
    let squares = ctx.parallelize((0..100u64).collect::<Vec<_>>(), 4).map(move |k| table.value()[&k]);
    squares.persist(StorageLevel::MemoryAndDisk);
    assert_eq!(squares.sum()?, (0..100u64).map(|k| k * k).sum::<u64>());
    assert_eq!(squares.count()?, 100);
    Ok(())
}

/// The text files under `dir`'s parts, as lines, sorted.
fn read_parts(dir: &std::path::Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the output exists") {
        let path = entry.expect("an entry").path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("part-")) {
            lines.extend(std::fs::read_to_string(&path).expect("a part").lines().map(str::to_owned));
        }
    }
    lines.sort();
    lines
}

#[test]
fn a_save_on_executors_commits_once_on_the_driver_even_when_one_is_killed() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    // Each process makes a temp dir; the broadcast hands every process the driver's.
    let dir = tempfile::tempdir()?;
    let out = ctx.broadcast(dir.path().join("out").display().to_string())?;
    let path = out.value().clone();
    let data: Vec<String> = (0..4_000).map(|i| format!("line {i:05}")).collect();
    let slow = ctx.parallelize(data.clone(), 6).map_partitions(|it| {
        std::thread::sleep(std::time::Duration::from_millis(250));
        it
    });
    let save = slow.save_as_text_file_async(&path);
    if ctx.is_driver() {
        wait_for(&save, "two parts written", |p| p.stages.last().is_some_and(|s| s.done >= 2));
        kill(pids[0]);
    }
    save.wait()?;
    if ctx.is_driver() {
        let mut expected = data;
        expected.sort();
        assert_eq!(read_parts(std::path::Path::new(&path)), expected, "every line exactly once");
        let leftovers: Vec<_> =
            std::fs::read_dir(dir.path())?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
        assert_eq!(leftovers, ["out"], "no staging or claim left beside the output");
    }
    Ok(())
}

#[test]
fn a_process_that_builds_another_lineage_is_refused_naming_the_node() {
    let ctx = cluster(1, 1).expect("a cluster");
    let numbers = ctx.parallelize((0..10).collect::<Vec<i32>>(), 2);
    // The mistake the check exists for: the graph depends on which process builds it.
    let shaped = if ctx.is_driver() { numbers.map(|x| x + 1) } else { numbers.filter(|x| x % 2 == 0) };
    let err = shaped.collect().expect_err("the executor refuses its tasks").to_string();
    assert!(err.contains("different lineage than the driver"), "{err}");
    assert!(err.contains("`map at") && err.contains("`filter at"), "names both nodes: {err}");
}

/// The driver of [`killing_the_driver_ends_its_executors`]: prints its executors' pids, then
/// runs a job that never ends, until the outer test kills it.
#[test]
#[ignore = "run by killing_the_driver_ends_its_executors"]
fn a_driver_to_kill() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    // Executors spill to their scratch directories before the job that never ends.
    let spilled = ctx.parallelize((0..100u64).collect::<Vec<_>>(), 2);
    spilled.persist(StorageLevel::DiskOnly);
    spilled.count()?;
    if ctx.is_driver() {
        println!("executor pids: {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    }
    ctx.parallelize(vec![0u8; 2], 2)
        .map(|x| {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            x
        })
        .count()?;
    Ok(())
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn killing_the_driver_ends_its_executors() -> TestResult {
    use std::io::BufRead;
    let mut driver = std::process::Command::new(std::env::current_exe()?)
        .args(["cluster::a_driver_to_kill", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pids = read_pids(&mut std::io::BufReader::new(driver.stdout.take().expect("piped")).lines())?;
    assert_eq!(pids.len(), 2, "the driver printed its executors");
    assert!(pids.iter().all(|&p| alive(p)));
    driver.kill()?;
    driver.wait()?;
    // Their control streams break at once; the heartbeat deadline is the outer bound.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) {
        assert!(std::time::Instant::now() < until, "executors {pids:?} outlived their driver");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let tmp = std::env::temp_dir();
    let left: Vec<String> = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| pids.iter().any(|p| name.starts_with("ember-") && name.contains(&format!("-{p}-"))))
        .collect();
    assert!(left.is_empty(), "executors left scratch directories: {left:?}");
    Ok(())
}

/// One process of the `ember://` application [`an_ember_url_application_runs_on_processes_a_launcher_started`]
/// starts: the program a user writes, configured only by its environment.
#[test]
#[ignore = "run by the launcher tests, with a rank in its environment"]
fn a_process_of_an_ember_url_application() -> TestResult {
    let ctx = Context::from_env()?;
    let data = lines();
    let mut counts = ctx
        .parallelize(data.clone(), 4)
        .flat_map(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b)
        .collect()?;
    counts.sort();
    assert_eq!(counts, local_counts(&data));
    let pids = task_pids(&ctx, 8)?;
    if ctx.is_driver() {
        assert!(!pids.contains(&std::process::id()), "the executors ran the tasks");
        println!("ember-url driver: {} words on {} executors", counts.len(), pids.len());
    }
    Ok(())
}

/// Starts this test binary as rank `rank` of a `world`-process `ember://` application at
/// `master`, running only the ignored test `test`: what a launcher does.
fn start_rank(test: &str, master: &str, rank: usize, world: usize) -> std::io::Result<std::process::Child> {
    std::process::Command::new(std::env::current_exe()?)
        .args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("EMBER_MASTER", master)
        .env("EMBER_RANK", rank.to_string())
        .env("EMBER_WORLD_SIZE", world.to_string())
        .env("EMBER_SECRET", "a-secret-for-this-test-only-0123")
        .env("EMBER_SLOTS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
}

/// Reads `lines` up to the driver's `executor pids: …` line; the pids it names.
fn read_pids(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    for line in lines {
        // The harness's "test … ... " has no newline yet, so the line may begin with it.
        if let Some((_, list)) = line?.split_once("executor pids: ") {
            return Ok(list.split(' ').map(str::parse::<u32>).collect::<Result<_, _>>()?);
        }
    }
    Err("the driver ended without naming its executors".into())
}

/// A free port on loopback (bound, then released for the driver to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Waits for `child` for at most `limit`, killing it after; its exit status and stdout.
fn finish(mut child: std::process::Child, limit: std::time::Duration) -> (Option<std::process::ExitStatus>, String) {
    let until = std::time::Instant::now() + limit;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    (status, out)
}

const PROCESS_TEST: [&str; 5] =
    ["cluster::a_process_of_an_ember_url_application", "--exact", "--ignored", "--nocapture", "--test-threads=1"];

#[test]
fn an_ember_url_application_runs_on_processes_a_launcher_started() -> TestResult {
    // What a launcher does: the same binary three times, each with its rank.
    let master = format!("ember://127.0.0.1:{}", free_port());
    let children = (0..3)
        .map(|rank| start_rank("cluster::a_process_of_an_ember_url_application", &master, rank, 3))
        .collect::<std::io::Result<Vec<_>>>()?;
    let results: Vec<_> = children.into_iter().map(|c| finish(c, std::time::Duration::from_secs(60))).collect();
    for (rank, (status, out)) in results.iter().enumerate() {
        assert!(status.is_some_and(|s| s.success()), "rank {rank} ended with {status:?}: {out}");
    }
    assert!(results[0].1.contains("ember-url driver: 98 words on 2 executors"), "{}", results[0].1);
    Ok(())
}

#[test]
fn an_ember_url_application_runs_under_mpirun() -> TestResult {
    if std::process::Command::new("mpirun").arg("--version").output().is_err() {
        eprintln!("skipped: mpirun (Open MPI) is not installed");
        return Ok(());
    }
    let master = format!("ember://127.0.0.1:{}", free_port());
    let exe = std::env::current_exe()?;
    let child = std::process::Command::new("mpirun")
        .args(["-np", "3", "--oversubscribe", "-x", "EMBER_MASTER", "-x", "EMBER_SECRET", "-x", "EMBER_SLOTS"])
        .arg(&exe)
        .args(PROCESS_TEST)
        .env("EMBER_MASTER", &master)
        .env("EMBER_SECRET", "a-secret-for-this-test-only-0123")
        .env("EMBER_SLOTS", "1")
        // mpirun refuses root without these (CI runs as root).
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let (status, out) = finish(child, std::time::Duration::from_secs(90));
    assert!(status.is_some_and(|s| s.success()), "mpirun ended with {status:?}: {out}");
    assert!(out.contains("ember-url driver: 98 words on 2 executors"), "{out}");
    Ok(())
}

/// Sends `signal` (`STOP`, `CONT`, `KILL`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status =
        std::process::Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

#[test]
fn a_busy_executor_heartbeats_and_a_frozen_one_is_lost_at_the_deadline() -> TestResult {
    let deadline = std::time::Duration::from_millis(800);
    let ctx = Context::builder()
        .master("local-cluster[2,1]")
        .executor_args(ember::testing::executor_args())
        .heartbeat_timeout(deadline)
        .build()?;
    // Tasks far longer than the deadline: their executors keep heartbeating.
    let busy = ctx.parallelize(vec![1u64, 2], 2).map(|x| {
        std::thread::sleep(std::time::Duration::from_millis(2_000));
        x
    });
    assert_eq!(busy.sum()?, 3);
    if ctx.is_driver() {
        assert_eq!(ctx.last_job().expect("metrics").tasks_launched(), 2, "no executor was declared lost");
    }
    // A frozen process keeps its connection open but sends nothing: lost at the deadline.
    let pids = task_pids(&ctx, 8)?;
    let slow = ctx.parallelize((0..600u64).collect::<Vec<_>>(), 6).map_partitions(|it| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        it.map(|x| (x % 10, x))
    });
    let job = slow.reduce_by_key(|a, b| a + b).collect_async();
    if ctx.is_driver() {
        wait_for(&job, "a map task", |p| p.stages.first().is_some_and(|s| s.done >= 1));
        signal(pids[0], "STOP");
    }
    let started = std::time::Instant::now();
    let mut sums = job.wait()?;
    sums.sort_unstable();
    assert_eq!(sums, expected_sums(600));
    if ctx.is_driver() {
        assert!(started.elapsed() >= deadline / 2, "the job waited for the deadline");
        // The driver killed the process it declared lost: no zombie executor lingers.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alive(pids[0]) {
            assert!(std::time::Instant::now() < until, "the frozen executor {} is still there", pids[0]);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    Ok(())
}

#[test]
fn checkpoints_and_spills_work_on_executors() -> TestResult {
    // A small memory budget on every process: the aggregation spills on the executors.
    let ctx = Context::builder()
        .master("local-cluster[2,1]")
        .executor_args(ember::testing::executor_args())
        .memory_budget(1 << 20)
        .build()?;
    let dir = tempfile::tempdir()?;
    let checkpoints = ctx.broadcast(dir.path().display().to_string())?;
    ctx.set_checkpoint_dir(checkpoints.value().clone());
    let n = 200_000u64;
    let sums = ctx
        .parallelize((0..n).collect::<Vec<_>>(), 4)
        .map(|x| (x % 50_000, x))
        .reduce_by_key_with_partitions(|a, b| a + b, 4);
    sums.checkpoint()?;
    let mut first = sums.collect()?;
    first.sort_unstable();
    let expected: Vec<(u64, u64)> =
        (0..50_000u64).map(|k| (k, k + (k + 50_000) + (k + 100_000) + (k + 150_000))).collect();
    assert_eq!(first, expected);
    if ctx.is_driver() {
        let spilled: u64 = ctx.job_history().iter().map(|j| j.spills()).sum();
        assert!(spilled > 0, "the executors' aggregation spilled under 1 MiB");
        assert!(sums.lineage().contains("[checkpointed]"), "{}", sums.lineage());
    }
    // Read back from the checkpoint files the executors wrote.
    assert_eq!(sums.map(|(_, v)| v).sum()?, (0..n).sum::<u64>());
    Ok(())
}

/// One process of [`a_restarted_rank_rejoins_an_ember_url_application`].
#[test]
#[ignore = "run by a_restarted_rank_rejoins_an_ember_url_application, with a rank in its environment"]
fn a_process_of_a_restarted_application() -> TestResult {
    let ctx = Context::from_env()?;
    let first = task_pids(&ctx, 8)?;
    if ctx.is_driver() {
        println!("executor pids: {}", first.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    }
    // Long enough for the launcher to kill a rank and start it again meanwhile.
    let slow = ctx.parallelize((0..8u64).collect::<Vec<_>>(), 8).map(|x| {
        std::thread::sleep(std::time::Duration::from_millis(400));
        x
    });
    assert_eq!(slow.sum()?, 28);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pids = task_pids(&ctx, 8)?;
        let rejoined = ctx.broadcast(pids.iter().any(|p| !first.contains(p)))?;
        if *rejoined.value() {
            break;
        }
        assert!(std::time::Instant::now() < until, "the restarted rank never took a task: {pids:?}");
    }
    if ctx.is_driver() {
        println!("a restarted executor rejoined");
    }
    Ok(())
}

#[test]
fn a_restarted_rank_rejoins_an_ember_url_application() -> TestResult {
    use std::io::BufRead;
    let master = format!("ember://127.0.0.1:{}", free_port());
    let start = |rank: usize| start_rank("cluster::a_process_of_a_restarted_application", &master, rank, 3);
    let mut driver = start(0)?;
    let (one, two) = (start(1)?, start(2)?);
    let mut lines = std::io::BufReader::new(driver.stdout.take().expect("piped")).lines();
    read_pids(&mut lines)?;
    // What a launcher that restarts failed ranks does (a Kubernetes Indexed Job, Slurm's
    // --requeue): the rank dies, the same command starts again.
    let mut one = one;
    one.kill()?;
    one.wait()?;
    let again = start(1)?;
    let rest: Vec<String> = lines.collect::<Result<_, _>>()?;
    let status = driver.wait()?;
    assert!(status.success() && rest.iter().any(|l| l.contains("a restarted executor rejoined")), "{status}: {rest:?}");
    for (name, child) in [("rank 2", two), ("the restarted rank 1", again)] {
        let (status, out) = finish(child, std::time::Duration::from_secs(20));
        assert!(status.is_some(), "{name} outlived the driver: {out}");
    }
    Ok(())
}

/// The driver of [`losing_every_executor_fails_the_job_instead_of_hanging`]: one executor.
#[test]
#[ignore = "run by losing_every_executor_fails_the_job_instead_of_hanging, with a rank in its environment"]
fn a_process_of_an_application_that_loses_its_executor() -> TestResult {
    let ctx = Context::from_env()?;
    let pids = task_pids(&ctx, 2)?;
    if ctx.is_driver() {
        println!("executor pids: {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    }
    let slow = ctx.parallelize((0..4u64).collect::<Vec<_>>(), 4).map(|x| {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        x
    });
    let err = slow.sum().expect_err("no executor is left to run it").to_string();
    assert!(err.contains("every executor of the application is gone"), "{err}");
    println!("the job failed: {err}");
    Ok(())
}

#[test]
fn losing_every_executor_fails_the_job_instead_of_hanging() -> TestResult {
    use std::io::BufRead;
    let master = format!("ember://127.0.0.1:{}", free_port());
    let start =
        |rank: usize| start_rank("cluster::a_process_of_an_application_that_loses_its_executor", &master, rank, 2);
    let mut driver = start(0)?;
    let mut executor = start(1)?;
    let mut lines = std::io::BufReader::new(driver.stdout.take().expect("piped")).lines();
    read_pids(&mut lines)?;
    // The only executor dies while the driver's job waits for it.
    std::thread::sleep(std::time::Duration::from_millis(200));
    executor.kill()?;
    executor.wait()?;
    let rest: Vec<String> = lines.collect::<Result<_, _>>()?;
    let (status, _) = finish(driver, std::time::Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("the job failed: job ") && l.contains("pid")), "{rest:?}");
    Ok(())
}
