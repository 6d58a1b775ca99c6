//! The conformance suite: every case Apache Spark recorded (tests/conformance/cases, SPEC.md
//! there), run on Ember in several modes and compared as the spec says.
//!
//! The modes, chosen with `EMBER_CONFORMANCE_MODES` (a comma-separated list; all by default):
//!
//! | mode | context |
//! | --- | --- |
//! | `local[1]`, `local[2]` | one and two worker threads |
//! | `serializing` | two threads behind the serializing backend: every task descriptor, result, accumulator update and commit message crosses as bytes |
//! | `tiny-memory` | a 1 MiB memory budget, so aggregations, sorts and shuffles spill |
//! | `disk-only` | every source RDD persisted `DiskOnly`, so every read of an input is a disk block |
//! | `first-attempt-fails` | every task's first attempt fails, so every result comes from a retry |
//! | `local-cluster[2,1]` | two executor processes of one slot each, over gRPC on loopback (its own test, `conformance_on_local_cluster`, so that the executors it starts run only that mode) |
//!
//! An unknown mode name fails the suite. `EMBER_CONFORMANCE_DIR` points the suite at another
//! folder of case files in the same vocabulary. Every failing case is reported by name and
//! mode with what was expected and what Ember gave; the last line printed is
//! `conformance: N passed, M failed`, counting cases (a case passes when every action passes
//! in every mode).

mod functions;
mod interpret;
mod value;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use ember::prelude::*;
use serde_json::Value as Json;

use value::{Value, matches, matches_multiset, matches_runs};

/// Every mode, in the order they run by default.
const MODES: [&str; 7] =
    ["local[1]", "local[2]", "serializing", "tiny-memory", "disk-only", "first-attempt-fails", CLUSTER_MODE];

/// The mode whose executors are other processes.
const CLUSTER_MODE: &str = "local-cluster[2,1]";

/// The modes `EMBER_CONFORMANCE_MODES` names, or all.
fn modes() -> Vec<&'static str> {
    let Ok(list) = std::env::var("EMBER_CONFORMANCE_MODES") else { return MODES.to_vec() };
    list.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            MODES.iter().copied().find(|known| *known == m).unwrap_or_else(|| {
                panic!("EMBER_CONFORMANCE_MODES names an unknown mode {m:?}; the modes are {}", MODES.join(", "))
            })
        })
        .collect()
}

/// The context of `mode`, and the level its source RDDs are persisted at.
fn context(mode: &str) -> (Context, Option<StorageLevel>) {
    let builder = Context::builder().threads(2);
    let ctx = match mode {
        "local[1]" => Context::local(1),
        "local[2]" => builder.build(),
        "serializing" => builder.serializing_backend().build(),
        "tiny-memory" => builder.memory_budget(1 << 20).build(),
        "disk-only" => builder.build(),
        // A second attempt for every task (local mode's default is one).
        "first-attempt-fails" => builder.max_task_attempts(2).build(),
        CLUSTER_MODE => Context::builder().master(CLUSTER_MODE).executor_args(ember::testing::executor_args()).build(),
        other => unreachable!("modes() checked {other}"),
    }
    .expect("a context starts");
    if mode == "first-attempt-fails" {
        ctx.faults().fail_attempts(|t| t.attempt.0 == 0);
    }
    (ctx, (mode == "disk-only").then_some(StorageLevel::DiskOnly))
}

fn case_dir() -> PathBuf {
    std::env::var_os("EMBER_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/cases"))
}

/// Every case of every `*.json` file in `dir`, in file-name order.
fn load_cases(dir: &std::path::Path) -> Vec<Json> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the conformance cases in {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let doc: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
        let list = doc.get("cases").and_then(Json::as_array);
        cases.extend(list.unwrap_or_else(|| panic!("{} has no \"cases\" array", file.display())).iter().cloned());
    }
    cases
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Runs one case; returns one message per failing action.
fn run_case(ctx: &Context, persist_inputs: Option<StorageLevel>, case: &Json) -> Vec<String> {
    let rdds = case.get("rdds").and_then(Json::as_array).cloned().unwrap_or_default();
    let actions = case.get("actions").and_then(Json::as_array).cloned().unwrap_or_default();
    let built = catch_unwind(AssertUnwindSafe(|| interpret::build(ctx, &rdds, persist_inputs)))
        .unwrap_or_else(|payload| Err(format!("panicked while building: {}", panic_message(payload))));
    let mut failures = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        let op = action.get("op").and_then(Json::as_str).unwrap_or("?");
        let got = match &built {
            Ok(rdd) => catch_unwind(AssertUnwindSafe(|| interpret::run_action(rdd, action)))
                .unwrap_or_else(|payload| Err(format!("panicked: {}", panic_message(payload)))),
            Err(e) => Err(e.clone()),
        };
        let expect_error = action.get("expect_error").and_then(Json::as_bool).unwrap_or(false);
        let verdict = match (expect_error, got) {
            (true, Err(_)) => Ok(()),
            (true, Ok(v)) => Err(format!("expected an error, got {v}")),
            (false, Err(e)) => Err(format!("failed: {e}")),
            (false, Ok(got)) => compare(action, &got),
        };
        if let Err(why) = verdict {
            failures.push(format!("action {i} ({op}): {why}"));
        }
    }
    failures
}

fn compare(action: &Json, got: &Value) -> Result<(), String> {
    let expected = Value::from_json(action.get("expected").unwrap_or(&Json::Null));
    let ok = match action.get("compare").and_then(Json::as_str).unwrap_or("exact") {
        "exact" => matches(&expected, got),
        "multiset" => matches_multiset(&expected, got),
        "runs" => {
            let runs: Vec<usize> = action
                .get("runs")
                .and_then(Json::as_array)
                .map(|r| r.iter().filter_map(Json::as_u64).map(|n| n as usize).collect())
                .unwrap_or_default();
            matches_runs(&expected, got, &runs)
        }
        other => return Err(format!("unknown comparison {other:?}")),
    };
    if ok { Ok(()) } else { Err(format!("expected {expected}, got {got}")) }
}

#[test]
fn conformance() {
    run_modes(modes().into_iter().filter(|m| *m != CLUSTER_MODE).collect());
}

#[test]
fn conformance_on_local_cluster() {
    if modes().contains(&CLUSTER_MODE) {
        run_modes(vec![CLUSTER_MODE]);
    }
}

fn run_modes(modes: Vec<&'static str>) {
    if modes.is_empty() {
        return;
    }
    let dir = case_dir();
    let cases = load_cases(&dir);
    assert!(!cases.is_empty(), "no conformance cases in {}", dir.display());
    let mut failed_cases = std::collections::BTreeSet::new();
    for mode in modes {
        let (ctx, persist_inputs) = context(mode);
        let mut failed = 0;
        for case in &cases {
            let id = case.get("id").and_then(Json::as_str).unwrap_or("<no id>");
            let failures = run_case(&ctx, persist_inputs, case);
            if !failures.is_empty() {
                failed += 1;
                failed_cases.insert(id.to_owned());
                for failure in failures {
                    println!("FAIL {id} in mode {mode}: {failure}");
                }
            }
        }
        println!("conformance {mode}: {} passed, {failed} failed", cases.len() - failed);
    }
    println!("conformance: {} passed, {} failed", cases.len() - failed_cases.len(), failed_cases.len());
    assert!(failed_cases.is_empty(), "conformance cases failed: {failed_cases:?}");
}
