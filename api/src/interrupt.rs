//! Ctrl-C for the contexts built with `cancel_on_interrupt` (every `Context::from_env`):
//! SIGINT cancels their running jobs, waits until the jobs' tasks have stopped, removes the
//! temporary output of the saves they were writing, and exits with status 130.
//!
//! A signal belongs to the whole process, so this is the one process-wide piece of Ember: a
//! list of the registered contexts (held weakly, so a dropped context leaves it) and one
//! handler, installed the first time a context asks.

use std::sync::{Mutex, OnceLock, PoisonError};

use crate::context::{Context, WeakContext};
use crate::error::{Error, Result};

/// The exit status of a process stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const INTERRUPTED_EXIT_STATUS: i32 = 130;

fn contexts() -> &'static Mutex<Vec<WeakContext>> {
    static CONTEXTS: OnceLock<Mutex<Vec<WeakContext>>> = OnceLock::new();
    CONTEXTS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Makes Ctrl-C cancel `ctx`'s jobs and clean their output before the process exits.
///
/// # Errors
/// An error of kind [`Config`](crate::ErrorKind::Config) when the program installed its own
/// Ctrl-C handler through the same mechanism.
pub(crate) fn register(ctx: &Context) -> Result<()> {
    static INSTALLED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| ctrlc::set_handler(on_interrupt).map_err(|e| e.to_string()));
    if let Err(why) = installed {
        return Err(Error::config("cancel_on_interrupt", "", format!("cannot take Ctrl-C: {why}")));
    }
    let mut list = contexts().lock().unwrap_or_else(PoisonError::into_inner);
    list.retain(|c| c.upgrade().is_some());
    list.push(ctx.downgrade());
    Ok(())
}

/// The handler, on its own thread: stop everything cleanly, then exit.
fn on_interrupt() {
    let live: Vec<Context> =
        contexts().lock().unwrap_or_else(PoisonError::into_inner).iter().filter_map(WeakContext::upgrade).collect();
    eprintln!("\ninterrupted: cancelling {} context(s)' jobs and removing their unfinished output", live.len());
    for ctx in &live {
        ctx.mark_interrupted();
        ctx.engine().cancel_all_jobs("by an interrupt (Ctrl-C)");
    }
    for ctx in &live {
        // Once the jobs have ended their tasks have stopped, so nothing writes any more.
        ctx.engine().wait_idle();
        ctx.abort_outputs_in_progress();
    }
    std::process::exit(INTERRUPTED_EXIT_STATUS);
}

/// Where a thread that finished an action after an interrupt waits: the handler exits the
/// process once every context is clean, with status 130, and this thread must not end the
/// process first with another status.
pub(crate) fn wait_for_exit() -> ! {
    loop {
        std::thread::park();
    }
}
