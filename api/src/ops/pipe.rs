//! `pipe`: streams each partition through an external command, one element per line.

use std::io::{BufRead, BufReader, Write};
use std::panic::Location;
use std::process::{Command, Stdio};
use std::sync::Arc;

use ember_engine::TaskFailure;

use crate::data::Data;
use crate::rdd::{PartitionIter, Rdd};

impl<T: Data + std::fmt::Display> Rdd<T> {
    /// Runs `command` (a program and its arguments, split on whitespace as Spark does) once
    /// per partition, writes the partition's elements to its stdin one per line (their
    /// `Display` form), and returns the lines it prints on stdout. Narrow: no shuffle. The
    /// partition is written from a separate thread while stdout is read, so large outputs
    /// cannot deadlock.
    ///
    /// # Errors
    /// The action fails with an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) when the command cannot be started or
    /// exits with a non-zero status (the message names the command and the status).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// # if cfg!(unix) {
    /// let ctx = Context::local(2)?;
    /// let upper = ctx.parallelize(vec!["a".to_string(), "b".into(), "c".into()], 2).pipe("tr a-z A-Z");
    /// assert_eq!(upper.collect()?, vec!["A", "B", "C"]);
    /// assert!(ctx.parallelize(vec![1], 1).pipe("false").collect().is_err());
    /// # }
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn pipe(&self, command: &str) -> Rdd<String> {
        let argv: Arc<Vec<String>> = Arc::new(command.split_whitespace().map(str::to_owned).collect());
        self.narrow("pipe", Location::caller(), false, move |_, iter, ctx| {
            let fail = |why: String| {
                ctx.fail(TaskFailure::error(format!("pipe {:?}: {why}", argv.join(" "))));
                Box::new(std::iter::empty()) as PartitionIter<String>
            };
            let Some((program, args)) = argv.split_first() else { return fail("empty command".into()) };
            let mut input = Vec::new();
            for x in iter {
                // Writing to a Vec cannot fail.
                let _ = writeln!(input, "{x}");
            }
            let spawned = Command::new(program).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(e) => return fail(format!("cannot start: {e}")),
            };
            // A cancelled task kills its child, which then closes its output: the reads below
            // end and the task stops. The callback runs on the cancelling (scheduler) thread, so
            // it never blocks: `alive` is false once the child is reaped (its pid may then be
            // reused), and held while the task thread waits for it (the child is not reaped
            // yet then, except in the instant before `alive` is cleared).
            let alive = Arc::new(std::sync::Mutex::new(true));
            let (pid, watch) = (child.id(), Arc::clone(&alive));
            ctx.on_cancel(move || {
                if let Ok(alive) = watch.try_lock()
                    && !*alive
                {
                    return;
                }
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            });
            let mut stdin = child.stdin.take().expect("stdin was requested as a pipe");
            let writer = std::thread::spawn(move || stdin.write_all(&input));
            let stdout = child.stdout.take().expect("stdout was requested as a pipe");
            let lines: std::io::Result<Vec<String>> = BufReader::new(stdout).lines().collect();
            let written = writer.join();
            // `wait` reaps the child; from then on its pid may be reused, so the cancel
            // callback must not signal it: `alive` is cleared right after.
            let status = {
                let mut alive = alive.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let status = child.wait();
                *alive = false;
                status
            };
            match (lines, status) {
                (Err(e), _) => fail(format!("reading its output: {e}")),
                (_, Err(e)) => fail(format!("waiting for it: {e}")),
                (Ok(_), Ok(status)) if !status.success() => fail(format!("exited with {status}")),
                (Ok(lines), Ok(_)) => match written {
                    Ok(Err(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => fail(format!("writing its input: {e}")),
                    _ => Box::new(lines.into_iter()),
                },
            }
        })
    }
}
