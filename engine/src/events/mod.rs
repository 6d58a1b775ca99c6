//! Events and listeners: everything a person sees of a running application is a listener of
//! the scheduler's events.
//!
//! ```text
//!  DagScheduler ──Emit(Event)──▶ scheduler loop ──▶ tracing, job history   (in the loop)
//!  BlockManager ──────────────────────┘    └──▶ ListenerBus ──▶ one thread and queue per listener:
//!                                                              event log, progress bar, yours
//! ```
//!
//! A listener runs on a thread of its own behind a bounded queue: a slow listener loses
//! events (counted, with one warning) instead of stalling the scheduler, and a panicking one
//! is reported once and keeps receiving events.

mod bus;
mod event;
pub mod log;
pub mod progress;

pub use bus::{Listener, ListenerBus};
pub use event::{Event, JobResult, Micros, OperatorInfo, StageInfo, StageOutcome, TaskEndReason, now_micros};
