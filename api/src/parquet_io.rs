//! Parquet for serde types: rows become Arrow record batches (serde_arrow) and back.
//!
//! The Arrow schema is traced from `T`'s `Deserialize` implementation, so `T` must be a
//! record: a struct (or a tuple, whose columns are named `0`, `1`, ...). Files are written
//! with snappy compression in row groups of [`BATCH_ROWS`] rows per batch, readable by any
//! Arrow or Parquet tool; reading accepts any Parquet file whose columns match `T`.

use std::io::Write;
use std::sync::Arc;

use arrow_schema::{FieldRef, Schema};
use bytes::Bytes;
use ember_storage::StorageError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_arrow::schema::{SchemaLike, TracingOptions};

/// Rows converted to one record batch at a time.
pub(crate) const BATCH_ROWS: usize = 8192;

/// The Arrow fields of `T`, traced from its type.
///
/// # Errors
/// A message when `T` is not a record type serde_arrow can map to columns.
pub(crate) fn fields_of<T: DeserializeOwned>() -> Result<Vec<FieldRef>, String> {
    Vec::<FieldRef>::from_type::<T>(TracingOptions::default().allow_null_fields(true))
        .map_err(|e| format!("cannot map {} to Arrow columns: {e}", std::any::type_name::<T>()))
}

/// Writes `rows` as one Parquet file into `out`; returns the number of rows.
///
/// # Errors
/// The serde_arrow, Parquet or writer error, as a boxed error.
pub(crate) fn write_rows<T: Serialize>(
    fields: &[FieldRef],
    rows: impl Iterator<Item = T>,
    out: &mut (dyn Write + Send),
) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let schema = Arc::new(Schema::new(fields.to_vec()));
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(out, schema, Some(props))?;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut n = 0u64;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.clear();
        batch.extend(rows.by_ref().take(BATCH_ROWS));
        n += batch.len() as u64;
        writer.write(&serde_arrow::to_record_batch(fields, &batch)?)?;
    }
    writer.close()?;
    Ok(n)
}

/// Decodes every row of the Parquet file `bytes` read from `url`.
///
/// # Errors
/// [`StorageError::Format`] naming `url` when the bytes are not Parquet or their columns do
/// not match `T`.
pub(crate) fn read_rows<T: DeserializeOwned>(bytes: Bytes, url: &str) -> Result<Vec<T>, StorageError> {
    let bad = |e: &dyn std::fmt::Display| StorageError::format(url, "Parquet", e);
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).and_then(|b| b.build()).map_err(|e| bad(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let rows: Vec<T> = serde_arrow::from_record_batch(&batch).map_err(|e| bad(&e))?;
        out.extend(rows);
    }
    Ok(out)
}
