//! The console progress bar, in Spark's shape: one bar per running stage on one line,
//!
//! ```text
//! [Stage 2:=========>                  (7 + 2) / 16][Stage 3:>                (0 + 1) / 4]
//! ```
//!
//! `(done + running) / total` for each stage that has been running for more than half a
//! second, redrawn five times a second on stderr (through `indicatif`), and cleared when no
//! stage runs. Nothing is drawn when stderr is not a terminal, so logs and CI output stay
//! clean; short jobs never show a bar.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, Listener, TaskEndReason};
use crate::ids::StageId;

/// How long a stage runs before its bar appears (Spark's 500 ms).
const SHOW_AFTER: Duration = Duration::from_millis(500);
/// How often the line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// One running stage on the board.
#[derive(Clone, Debug)]
struct Line {
    total: usize,
    done: usize,
    running: usize,
    since: Instant,
}

struct Board {
    stages: BTreeMap<StageId, Line>,
    bar: ProgressBar,
    width: usize,
    show_after: Duration,
    shown: bool,
}

impl Board {
    fn draw(&mut self) {
        let now = Instant::now();
        let due: Vec<(StageId, usize, usize, usize)> = self
            .stages
            .iter()
            .filter(|(_, l)| now.duration_since(l.since) >= self.show_after)
            .map(|(&s, l)| (s, l.done, l.running, l.total))
            .collect();
        if due.is_empty() {
            if self.shown {
                self.bar.set_message("");
                self.bar.finish_and_clear();
                self.shown = false;
            }
            return;
        }
        if !self.shown {
            self.bar.reset();
            self.shown = true;
        }
        self.bar.set_message(render(&due, self.width));
        self.bar.tick();
    }
}

/// Spark's progress line for `stages` (id, done, running, total) in `width` columns: the
/// width is shared equally; each stage gets `[Stage N:` + its bar + `(done + running) / total]`.
pub fn render(stages: &[(StageId, usize, usize, usize)], width: usize) -> String {
    let share = width / stages.len().max(1);
    let mut out = String::new();
    for &(stage, done, running, total) in stages {
        let header = format!("[Stage {stage}:");
        let tail = format!("({done} + {running}) / {total}]");
        let room = share.saturating_sub(header.len() + tail.len());
        out.push_str(&header);
        if room > 0 {
            let filled = (room * done.min(total)).checked_div(total).unwrap_or(room);
            for i in 0..room {
                out.push(match i.cmp(&filled) {
                    std::cmp::Ordering::Less => '=',
                    std::cmp::Ordering::Equal => '>',
                    std::cmp::Ordering::Greater => ' ',
                });
            }
        }
        out.push_str(&tail);
    }
    out
}

/// The progress bar listener. Add it to a context; it draws while stages run.
pub struct ConsoleProgress {
    board: Arc<Mutex<Board>>,
    stop: Option<Sender<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl ConsoleProgress {
    /// A bar on stderr, or `None` when stderr is not a terminal.
    pub fn stderr() -> Option<Self> {
        let term = console::Term::stderr();
        if !term.is_term() {
            return None;
        }
        let width = usize::from(term.size().1).max(20);
        Some(ConsoleProgress::new(ProgressDrawTarget::stderr_with_hz(5), width, SHOW_AFTER, REDRAW_EVERY))
    }

    /// A bar drawn to `target` in `width` columns, showing stages that have run for
    /// `show_after`, redrawn every `redraw_every` (tests draw into their own target).
    pub fn new(target: ProgressDrawTarget, width: usize, show_after: Duration, redraw_every: Duration) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(ProgressStyle::with_template("{msg}").expect("a fixed, valid template"));
        let board = Arc::new(Mutex::new(Board { stages: BTreeMap::new(), bar, width, show_after, shown: false }));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let ticking = Arc::clone(&board);
        let ticker = std::thread::Builder::new()
            .name("ember-progress".to_owned())
            .spawn(move || {
                crate::context::mark_engine_thread();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(redraw_every) {
                    lock(&ticking).draw();
                }
            })
            .ok();
        ConsoleProgress { board, stop: Some(stop), ticker }
    }

    /// Redraws now (what the ticker does every 200 ms).
    pub fn redraw(&self) {
        lock(&self.board).draw();
    }
}

impl Listener for ConsoleProgress {
    fn on_event(&self, event: &Event) {
        let mut board = lock(&self.board);
        match event {
            Event::StageSubmitted { stage, tasks, .. } => {
                board.stages.insert(*stage, Line { total: *tasks, done: 0, running: 0, since: Instant::now() });
            }
            Event::TaskStart { stage, .. } => {
                if let Some(line) = board.stages.get_mut(stage) {
                    line.running += 1;
                }
            }
            Event::TaskEnd { stage, reason, .. } => {
                if let Some(line) = board.stages.get_mut(stage) {
                    line.running = line.running.saturating_sub(1);
                    if *reason == TaskEndReason::Success {
                        line.done += 1;
                    }
                }
            }
            Event::StageCompleted { stage, .. } => {
                board.stages.remove(stage);
                if board.stages.is_empty() {
                    board.draw();
                }
            }
            _ => {}
        }
    }
}

impl Drop for ConsoleProgress {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        let mut board = lock(&self.board);
        board.stages.clear();
        board.draw();
    }
}

fn lock(board: &Mutex<Board>) -> std::sync::MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::io;

    use indicatif::TermLike;

    use super::*;
    use crate::ids::{AttemptId, ExecutorId, JobId, PartitionId};
    use crate::task::TaskMetrics;

    /// A terminal that keeps what is written to it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            self.0.lock().unwrap().push_str("<clear>");
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn renders_spark_s_shape() {
        let line = render(&[(StageId(2), 7, 2, 16)], 50);
        assert_eq!(line.len(), 50);
        assert!(line.starts_with("[Stage 2:=") && line.ends_with("(7 + 2) / 16]"), "{line}");
        let filled = line.matches('=').count();
        assert_eq!(filled, (50 - "[Stage 2:".len() - "(7 + 2) / 16]".len()) * 7 / 16);
        assert!(line.contains("=>"));
        let two = render(&[(StageId(0), 0, 1, 4), (StageId(1), 4, 0, 4)], 60);
        assert!(two.starts_with("[Stage 0:>") && two.contains("(0 + 1) / 4][Stage 1:===="), "{two}");
        assert!(two.ends_with("(4 + 0) / 4]"));
    }

    #[test]
    fn draws_running_stages_into_its_target_and_clears_when_they_end() {
        let screen = Screen::default();
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let progress = ConsoleProgress::new(target, 60, Duration::ZERO, Duration::from_secs(3600));
        let task = |partition| (JobId(0), StageId(3), PartitionId(partition), AttemptId(0), ExecutorId(0));
        progress.on_event(&Event::StageSubmitted {
            stage: StageId(3),
            jobs: vec![JobId(0)],
            name: "map at x.rs:1".into(),
            tasks: 4,
            partitions: 4,
            time: 0,
        });
        for p in 0..2 {
            let (job, stage, partition, attempt, executor) = task(p);
            progress.on_event(&Event::TaskStart { job, stage, partition, attempt, executor, time: 0 });
        }
        let (job, stage, partition, attempt, executor) = task(0);
        progress.on_event(&Event::TaskEnd {
            job,
            stage,
            partition,
            attempt,
            executor,
            reason: TaskEndReason::Success,
            metrics: TaskMetrics::default(),
            launched: 0,
            time: 1,
        });
        progress.redraw();
        let drawn = screen.0.lock().unwrap().clone();
        assert!(drawn.contains("[Stage 3:") && drawn.contains("(1 + 1) / 4]"), "{drawn:?}");
        progress.on_event(&Event::StageCompleted {
            stage: StageId(3),
            outcome: super::super::StageOutcome::Succeeded,
            time: 2,
        });
        assert!(screen.0.lock().unwrap().ends_with("<clear>"), "cleared: {:?}", screen.0.lock().unwrap());
    }
}
