//! Checkpoints: written after the next job over the RDD, then its lineage stops there; the
//! data outlives the context.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ember::prelude::*;

use crate::TestResult;

#[test]
fn checkpoint_truncates_lineage_and_survives_the_context() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = dir.path().to_str().ok_or("utf-8 temp path")?.to_owned();
    let calls = Arc::new(AtomicUsize::new(0));
    let (path, expected) = {
        let ctx = Context::local(2)?;
        assert!(ctx.range(0, 1, 1, 1).checkpoint().is_err(), "no directory set");
        ctx.set_checkpoint_dir(&url);
        let seen = Arc::clone(&calls);
        let sums = ctx
            .range(0, 1_000, 1, 4)
            .map(move |x| {
                seen.fetch_add(1, Ordering::Relaxed);
                (x % 7, x)
            })
            .reduce_by_key_with_partitions(|a, b| a + b, 3);
        sums.checkpoint()?;
        assert!(!sums.is_checkpointed());
        assert!(sums.lineage().contains("reduce_by_key"));
        let mut expected = sums.collect()?;
        expected.sort();
        assert!(sums.is_checkpointed());
        let lineage = sums.lineage();
        assert!(lineage.starts_with("(3) reduce_by_key") && lineage.ends_with("[checkpointed]"), "{lineage}");
        assert!(!lineage.contains('\n'), "nothing below the checkpoint: {lineage}");
        let before = calls.load(Ordering::Relaxed);
        let mut again = sums.collect()?;
        again.sort();
        assert_eq!(again, expected);
        assert_eq!(calls.load(Ordering::Relaxed), before, "read from the checkpoint, nothing recomputed");
        assert_eq!(ctx.last_job().map(|j| j.stages.len()), Some(1), "no shuffle stage any more");
        (sums.checkpoint_path().ok_or("a checkpoint path")?, expected)
    };
    let ctx = Context::local(2)?;
    let mut back = ctx.object_file::<(i64, i64)>(&path)?.collect()?;
    back.sort();
    assert_eq!(back, expected);
    Ok(())
}

#[test]
fn two_contexts_sharing_a_checkpoint_directory_keep_their_own_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = dir.path().to_str().ok_or("utf-8 temp path")?.to_owned();
    let (first, second) = (Context::local(2)?, Context::local(2)?);
    first.set_checkpoint_dir(&url);
    second.set_checkpoint_dir(&url);
    // The same node id in both contexts: each context numbers its nodes from 1.
    let ones = first.range(0, 100, 1, 2).map(|_| 1i64);
    let twos = second.range(0, 100, 1, 2).map(|_| 2i64);
    ones.checkpoint()?;
    twos.checkpoint()?;
    assert_ne!(ones.checkpoint_path(), twos.checkpoint_path());
    assert_eq!(ones.sum()?, 100);
    assert_eq!(twos.sum()?, 200);
    assert!(ones.is_checkpointed() && twos.is_checkpointed());
    assert_eq!(ones.sum()?, 100, "the first context reads its own checkpoint");
    assert_eq!(twos.sum()?, 200);
    let path = ones.checkpoint_path().ok_or("a path")?;
    assert!(path.contains(first.app_id()), "{path} is under the application's id");
    Ok(())
}
