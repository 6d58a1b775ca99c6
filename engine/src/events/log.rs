//! The event log: every event of an application as JSON lines, for replay after it ends.
//!
//! One file per application, `<dir>/<app id>.jsonl`, under any storage URL. The first line
//! is a header, `{"format":"ember-event-log","version":1,"app_id":"app-…"}`; every further
//! line is one [`Event`], tagged by its `"event"` field (`JobStart`, `TaskEnd`, …; the fields
//! are those of the Rust type, times in Unix microseconds). A reader skips lines whose
//! `"event"` it does not know, so newer writers stay readable; a change that breaks readers
//! bumps the version.
//!
//! On local files the log is appended to as events arrive, under the name
//! `<app id>.jsonl.inprogress`, flushed at every job's end and renamed to `<app id>.jsonl`
//! when the application ends; a log still `.inprogress` belongs to an application that is
//! running or died. Object stores cannot append, so there the whole log is rewritten at every
//! job's end and at the application's end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use ember_storage::{Storage, StorageError};
use serde::{Deserialize, Serialize};

use super::{Event, Listener};

/// The event log format's version.
pub const FORMAT_VERSION: u32 = 1;

/// The header line of an event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHeader {
    /// Always `ember-event-log`.
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// The application's id.
    pub app_id: String,
}

/// A listener writing the event log of one application.
pub struct EventLog {
    sink: Mutex<Sink>,
    failed: AtomicBool,
}

enum Sink {
    Local { writer: BufWriter<File>, running: PathBuf, done: PathBuf },
    Remote { storage: Storage, url: String, text: Vec<u8> },
    Closed,
}

impl EventLog {
    /// Starts the log of application `app_id` under the directory `dir` (a path or any
    /// storage URL reachable through `storage`), writing its header.
    ///
    /// # Errors
    /// [`StorageError`] naming the URL when the directory or file cannot be created or written.
    pub fn create(storage: &Storage, dir: &str, app_id: &str) -> Result<Self, StorageError> {
        let header =
            LogHeader { format: "ember-event-log".to_owned(), version: FORMAT_VERSION, app_id: app_id.to_owned() };
        let mut first = serde_json::to_vec(&header).expect("the header is plain strings");
        first.push(b'\n');
        let file = format!("{app_id}.jsonl");
        let sink = match Storage::local_path(dir)? {
            Some(dir_path) => {
                let io = |e: std::io::Error| StorageError::local(&dir_path.display().to_string(), e);
                std::fs::create_dir_all(&dir_path).map_err(io)?;
                let running = dir_path.join(format!("{file}.inprogress"));
                let mut writer = BufWriter::new(File::create(&running).map_err(io)?);
                writer.write_all(&first).and_then(|()| writer.flush()).map_err(io)?;
                Sink::Local { writer, running, done: dir_path.join(file) }
            }
            None => {
                let url = format!("{}/{file}", dir.trim_end_matches('/'));
                storage.put(&url, Bytes::from(first.clone()))?;
                Sink::Remote { storage: storage.clone(), url, text: first }
            }
        };
        Ok(EventLog { sink: Mutex::new(sink), failed: AtomicBool::new(false) })
    }

    fn write(&self, event: &Event) -> Result<(), String> {
        let mut line = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let checkpoint = matches!(event, Event::JobEnd { .. } | Event::ApplicationEnd { .. });
        let end = matches!(event, Event::ApplicationEnd { .. });
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *sink {
            Sink::Local { writer, running, done } => {
                writer.write_all(&line).map_err(|e| e.to_string())?;
                if checkpoint {
                    writer.flush().map_err(|e| e.to_string())?;
                }
                if end {
                    std::fs::rename(&*running, &*done).map_err(|e| e.to_string())?;
                    *sink = Sink::Closed;
                }
            }
            Sink::Remote { storage, url, text } => {
                text.extend_from_slice(&line);
                if checkpoint {
                    storage.put(url, Bytes::from(text.clone())).map_err(|e| e.to_string())?;
                }
                if end {
                    *sink = Sink::Closed;
                }
            }
            Sink::Closed => {}
        }
        Ok(())
    }
}

impl Listener for EventLog {
    fn on_event(&self, event: &Event) {
        if let Err(why) = self.write(event)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(%why, "could not write the event log; the application goes on without it");
        }
    }
}

/// Reads an event log's text: its header and its events, skipping blank lines and events of
/// kinds this version does not know.
///
/// # Errors
/// A message naming the line that is not valid JSON, or a header that is missing or of
/// another format or a newer version.
pub fn read_event_log(text: &str) -> Result<(LogHeader, Vec<Event>), String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or("the event log is empty: no header line")?;
    let header: LogHeader =
        serde_json::from_str(first).map_err(|e| format!("line 1 is not an event log header: {e}"))?;
    if header.format != "ember-event-log" || header.version > FORMAT_VERSION {
        return Err(format!(
            "not an event log this version reads: format {:?} version {} (this reads ember-event-log up to {FORMAT_VERSION})",
            header.format, header.version
        ));
    }
    let mut events = Vec::new();
    for (i, line) in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {} is not JSON: {e}", i + 1))?;
        if let Ok(event) = serde_json::from_value::<Event>(value) {
            events.push(event);
        }
    }
    Ok((header, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;

    #[test]
    fn a_local_log_is_appended_renamed_at_the_end_and_reads_back() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let storage = Storage::new().expect("storage");
        let url = dir.path().join("logs");
        let log = EventLog::create(&storage, url.to_str().expect("utf-8"), "app-1").expect("created");
        let running = url.join("app-1.jsonl.inprogress");
        assert!(running.exists());
        let events = vec![
            Event::ApplicationStart {
                app_id: "app-1".into(),
                app_name: "t".into(),
                master: "local[2]".into(),
                parallelism: 2,
                version: "0".into(),
                time: 1,
            },
            Event::JobStart {
                job: JobId(0),
                action: "count at x.rs:1".into(),
                group: None,
                stages: Vec::new(),
                time: 2,
            },
            Event::ApplicationEnd { time: 3 },
        ];
        for e in &events {
            log.on_event(e);
        }
        assert!(!running.exists(), "renamed at the end");
        let mut text = std::fs::read_to_string(url.join("app-1.jsonl")).expect("the log");
        text.push_str("{\"event\":\"FromTheFuture\",\"time\":4}\n");
        let (header, read) = read_event_log(&text).expect("reads");
        assert_eq!((header.version, header.app_id.as_str()), (FORMAT_VERSION, "app-1"));
        assert_eq!(read, events, "unknown kinds are skipped");
        assert!(text.lines().nth(2).expect("a JobStart line").starts_with("{\"event\":\"JobStart\""));
        assert!(read_event_log("{\"format\":\"other\",\"version\":1,\"app_id\":\"x\"}").is_err());
    }

    #[test]
    fn a_log_on_an_object_store_is_rewritten_at_each_job_end() {
        let storage = Storage::new().expect("storage");
        let log = EventLog::create(&storage, "memory://logs/dir", "app-2").expect("created");
        log.on_event(&Event::ApplicationEnd { time: 9 });
        let text = storage.get("memory://logs/dir/app-2.jsonl").expect("written");
        let (_, events) = read_event_log(std::str::from_utf8(&text).expect("utf-8")).expect("reads");
        assert_eq!(events, vec![Event::ApplicationEnd { time: 9 }]);
    }
}
