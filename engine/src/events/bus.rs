//! [`Listener`] and [`ListenerBus`]: events fanned out to listeners that cannot stall the
//! scheduler.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};

use super::Event;

/// Events a listener may fall behind by before new ones are dropped for it.
const QUEUE: usize = 16 << 10;

/// Something that wants to hear about the application's events: a progress display, a log,
/// a metrics exporter. Register one with the context's `add_listener`.
///
/// `on_event` runs on the listener's own thread, one event at a time, in the order the
/// events were produced. It may take its time: while it does, up to 16,384 events wait for it;
/// beyond that, events are dropped for this listener only (and counted in a warning). A
/// panic in it is caught and reported once; the listener keeps receiving events.
pub trait Listener: Send + Sync {
    /// Handles one event.
    fn on_event(&self, event: &Event);
}

struct Queue {
    sender: Sender<Arc<Event>>,
    thread: JoinHandle<()>,
    dropped: Arc<AtomicU64>,
}

/// The listeners of one context, each behind its own bounded queue and thread.
#[derive(Default)]
pub struct ListenerBus {
    queues: Mutex<Vec<Queue>>,
    closed: AtomicBool,
}

impl ListenerBus {
    /// Adds `listener`; it hears every event posted from now on.
    ///
    /// # Errors
    /// The OS error when its thread cannot be spawned.
    pub fn add(&self, listener: Arc<dyn Listener>) -> std::io::Result<()> {
        let (sender, events) = crossbeam_channel::bounded::<Arc<Event>>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut queues = self.lock();
        let thread = std::thread::Builder::new().name(format!("ember-listener-{}", queues.len())).spawn(move || {
            crate::context::mark_engine_thread();
            let mut panicked = false;
            for event in events {
                let run = catch_unwind(AssertUnwindSafe(|| listener.on_event(&event)));
                if run.is_err() && !panicked {
                    panicked = true;
                    tracing::warn!("an event listener panicked; it keeps receiving events");
                }
            }
        })?;
        queues.push(Queue { sender, thread, dropped });
        Ok(())
    }

    /// Hands `event` to every listener without waiting for any.
    pub fn post(&self, event: Event) {
        let queues = self.lock();
        if queues.is_empty() {
            return;
        }
        let event = Arc::new(event);
        for queue in queues.iter() {
            if let Err(TrySendError::Full(_)) = queue.sender.try_send(Arc::clone(&event))
                && queue.dropped.fetch_add(1, Ordering::Relaxed) == 0
            {
                tracing::warn!("an event listener is too slow: dropping events for it");
            }
        }
    }

    /// Whether any listener is registered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Lets every listener handle what is queued for it, then stops their threads. Later
    /// events go nowhere.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let queues = std::mem::take(&mut *self.lock());
        let me = std::thread::current().id();
        for Queue { sender, thread, dropped } in queues {
            drop(sender);
            if thread.thread().id() != me {
                let _ = thread.join();
            }
            let lost = dropped.load(Ordering::Relaxed);
            if lost > 0 {
                tracing::warn!(lost, "events were dropped for a slow listener");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queue>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ListenerBus {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Record(Mutex<Vec<u64>>);

    impl Listener for Record {
        fn on_event(&self, event: &Event) {
            self.0.lock().unwrap().push(event.time());
        }
    }

    struct Panics;

    impl Listener for Panics {
        fn on_event(&self, _: &Event) {
            panic!("a listener's bug");
        }
    }

    #[test]
    fn every_listener_hears_every_event_in_order_and_a_panicking_one_breaks_nothing() {
        let bus = ListenerBus::default();
        let record = Arc::new(Record(Mutex::new(Vec::new())));
        bus.add(Arc::new(Panics)).unwrap();
        bus.add(Arc::clone(&record) as Arc<dyn Listener>).unwrap();
        for time in 0..100 {
            bus.post(Event::ApplicationEnd { time });
        }
        bus.close();
        assert_eq!(*record.0.lock().unwrap(), (0..100).collect::<Vec<_>>());
        bus.post(Event::ApplicationEnd { time: 7 });
    }
}
