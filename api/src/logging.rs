//! The `tracing` subscriber [`Context::from_env`](crate::Context::from_env) installs, so that
//! `RUST_LOG=ember_engine=info` prints the jobs and stages with no setup in the program.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

/// The variable read, with `env_logger`'s syntax: `info`, `ember_engine=debug`,
/// `warn,ember_engine::scheduler=trace`.
pub const LOG_ENV: &str = "RUST_LOG";

/// Installs a subscriber that writes to stderr, filtered by `RUST_LOG`, when `RUST_LOG` is set
/// and the program has installed no subscriber of its own (one installed before never is
/// replaced; install yours before calling `from_env` if you want your own). A `RUST_LOG`
/// this filter cannot read is reported on stderr once and ignored: logging is no reason to
/// stop a job.
pub(crate) fn install_from_env() {
    let Ok(spec) = std::env::var(LOG_ENV) else { return };
    if spec.trim().is_empty() || tracing::dispatcher::has_been_set() {
        return;
    }
    let filter: Targets = match spec.parse() {
        Ok(filter) => filter,
        Err(err) => {
            eprintln!(
                "ember: ignoring {LOG_ENV}={spec:?}: {err} (expected target=level pairs, as `info,ember_engine=debug`)"
            );
            return;
        }
    };
    let subscriber = tracing_subscriber::fmt().with_writer(std::io::stderr).finish().with(filter);
    // A program may install its own between the check and here: then it wins.
    let _ = tracing::subscriber::set_global_default(subscriber);
}
