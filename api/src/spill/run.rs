//! Sorted runs on local disk: framed records (see `ember_storage::codec`) in one scratch file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use ember_engine::disk::SpillFile;
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::CodecError;
use ember_storage::codec::{RecordEncoder, StreamRecords};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SpillError;

/// The read buffer of each run being merged.
pub(crate) const READ_BUFFER: usize = 32 << 10;

/// A run written to local disk; the file is deleted when the run (or its reader) is dropped.
pub(crate) struct Run {
    file: SpillFile,
}

impl Run {
    /// Writes `records` (already in the run's order) to a new scratch file and counts one
    /// spill of its bytes on the task.
    pub(crate) fn write<T: Serialize + DeserializeOwned>(
        ctx: &TaskContext,
        records: impl IntoIterator<Item = T>,
    ) -> Result<Run, TaskFailure> {
        let written = Self::write_file(ctx, records).map_err(TaskFailure::error)?;
        ctx.add_spill(written.1);
        Ok(written.0)
    }

    fn write_file<T: Serialize + DeserializeOwned>(
        ctx: &TaskContext,
        records: impl IntoIterator<Item = T>,
    ) -> Result<(Run, u64), SpillError> {
        let (file, handle) = ctx.blocks().local_disk().create("spill")?;
        let mut writer = BufWriter::with_capacity(64 << 10, handle);
        let mut bytes = 0u64;
        let mut encoder = RecordEncoder::new();
        for record in records {
            bytes +=
                encoder.encode_to_writer(&record, &mut writer).map_err(|e| SpillError::Encode(Box::new(e)))? as u64;
        }
        writer.flush()?;
        Ok((Run { file }, bytes))
    }

    /// Streams the run back. A read or decode failure is recorded on the task (naming the
    /// file) and ends the stream.
    pub(crate) fn read<T: DeserializeOwned>(self, ctx: &TaskContext) -> Result<RunReader<T>, TaskFailure> {
        let path = self.file.path().to_path_buf();
        let handle = self.file.open().map_err(|e| {
            let source = Box::new(CodecError::Read(e).into());
            TaskFailure::error(SpillError::Read { path: path.clone(), source })
        })?;
        let records = StreamRecords::new(BufReader::with_capacity(READ_BUFFER, handle));
        Ok(RunReader { records, _file: self.file, path, ctx: ctx.clone() })
    }
}

/// The records of one run, in order.
pub(crate) struct RunReader<T> {
    records: StreamRecords<T, BufReader<File>>,
    _file: SpillFile,
    path: PathBuf,
    ctx: TaskContext,
}

impl<T: DeserializeOwned> Iterator for RunReader<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self.records.next()? {
            Ok(record) => Some(record),
            Err(source) => {
                self.ctx
                    .fail(TaskFailure::error(SpillError::Read { path: self.path.clone(), source: Box::new(source) }));
                None
            }
        }
    }
}
