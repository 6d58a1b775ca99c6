//! [`Rdd<T>`]: the typed, lazy, partitioned dataset, and the lineage nodes it is made of.
//!
//! Every transformation returns a new `Rdd` whose node records the operation, its parent and
//! the user's call site; nothing runs until an action. Narrow transformations (`map`,
//! `filter`, `flat_map`, ...) are thin layers over one node type,
//! `MapPartitionsNode`: a task pulls a partition through the whole chain without
//! materialising it, a batch of records per call across each layer (see `stream`).
//!
//! This module holds the handle, its persist, checkpoint and lineage methods, and the node
//! types, one per file; the operators (documented on [`Rdd`]) are implemented one family per
//! file in the crate's `ops` module.

pub(crate) mod cartesian;
pub(crate) mod checkpoint;
pub(crate) mod coalesced;
pub(crate) mod cogroup;
pub(crate) mod file_source;
pub(crate) mod map_partitions;
pub(crate) mod parallelize;
pub(crate) mod persist;
pub(crate) mod shuffled;
pub(crate) mod stream;
pub(crate) mod teardown;
pub(crate) mod union;
pub(crate) mod zipped;

use std::panic::Location;
use std::sync::Arc;

use ember_engine::StorageLevel;
use ember_engine::ids::PartitionId;
use ember_engine::lineage::{LineageNode, render_lineage_marked};
use ember_engine::task::Operation;
use ember_engine::{TaskContext, TaskFailure};

use crate::context::Context;
use crate::data::Data;
use map_partitions::MapPartitionsNode;
use stream::Tracked;

pub use stream::PartitionStream;

/// A partition's records as a lazy iterator (any iterator boxes into one). It lives on the
/// worker thread that pulls it. Besides one record at a time, as an [`Iterator`], it hands
/// out batches ([`PartitionStream::next_batch`]), which is how the narrow operations and the
/// map-side combine pass records on.
pub type PartitionIter<T> = Box<dyn PartitionStream<T>>;

/// Property 2 of an RDD, the typed half of [`LineageNode`]: how to compute one partition.
///
/// Called on a worker thread, once per task attempt that needs the partition. The returned
/// stream is pulled lazily by the task; a failure found while it is being pulled comes out
/// of its [`PartitionStream::next_batch`] (see [`stream`](PartitionStream) for the rules). A
/// source (a node without parents) checks its task's cancellation through
/// `stream::CancelCheck` (once per batch, every 256 records one at a time), so a cancelled
/// job's tasks stop promptly.
pub trait Compute<T>: LineageNode {
    /// Computes partition `partition`.
    ///
    /// # Errors
    /// A [`TaskFailure`] when the partition cannot even start (a missing file, a missing
    /// shuffle output).
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure>;
}

/// The one place a parent partition is read (Spark's `RDD.iterator`): a persisted node's
/// cached block is returned instead of computing it (see [`persist::iterator`]), and a
/// checkpointed node's partition is read from its checkpoint.
pub(crate) fn iterator<T: 'static>(
    node: &dyn Compute<T>,
    partition: PartitionId,
    ctx: &TaskContext,
) -> Result<PartitionIter<T>, TaskFailure> {
    persist::iterator(node, partition, ctx)
}

/// Computes partition `partition` of `node`, or reads it from the node's checkpoint when one
/// is written (Spark's `computeOrReadCheckpoint`).
pub(crate) fn compute_or_read_checkpoint<T: 'static>(
    node: &dyn Compute<T>,
    partition: PartitionId,
    ctx: &TaskContext,
) -> Result<PartitionIter<T>, TaskFailure> {
    match checkpoint::written(node, ctx) {
        Some(reader) => reader.compute(partition, ctx),
        None => node.compute(partition, ctx),
    }
}

/// A resilient distributed dataset: an immutable, partitioned collection of `T`, computed
/// lazily from its lineage when an action runs. Cheap to clone.
///
/// Transformations build new RDDs and run nothing; actions run jobs. Operations on
/// key-value RDDs appear on `Rdd<(K, V)>`. The methods below come in this order:
///
/// * **Narrow transformations**, no shuffle: [`map`](Rdd::map), [`filter`](Rdd::filter),
///   [`flat_map`](Rdd::flat_map), their fallible forms (`try_map`, ...),
///   `map_partitions`, `key_by`, `union`, `coalesce`, `zip`, ...
/// * **Pair operations**, on `Rdd<(K, V)>`, most of them shuffles:
///   [`reduce_by_key`](Rdd::reduce_by_key), `group_by_key`, `aggregate_by_key`, `join` and
///   the outer joins, `cogroup`, `sort_by_key`, `partition_by`, `keys`, `values`, ...
/// * **Actions**, each with an `_async` form returning a [`JobHandle`](crate::JobHandle):
///   [`collect`](Rdd::collect), [`count`](Rdd::count), `reduce`, `fold`, `take`, `first`,
///   `top`, `foreach`, then the saves (`save_as_text_file`, `save_as_tsv_file`, ...).
/// * Then the rest: numeric actions (`sum`, `mean`, `stats`, `histogram`), sampling, set
///   operations, `repartition`, tree aggregation, approximate counts, `pipe`, and persistence
///   (`persist`, `cache`, `checkpoint`) with `lineage`.
pub struct Rdd<T> {
    node: Arc<dyn Compute<T>>,
    ctx: Context,
}

impl<T> Clone for Rdd<T> {
    fn clone(&self) -> Self {
        Rdd { node: Arc::clone(&self.node), ctx: self.ctx.clone() }
    }
}

impl<T> std::fmt::Debug for Rdd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.node.meta();
        write!(f, "Rdd[{}] {} ({} partitions)", meta.id, meta.describe(), self.node.num_partitions())
    }
}

impl<T: Data> Rdd<T> {
    pub(crate) fn from_node(node: Arc<dyn Compute<T>>, ctx: Context) -> Self {
        Rdd { node, ctx }
    }

    pub(crate) fn node(&self) -> &Arc<dyn Compute<T>> {
        &self.node
    }

    pub(crate) fn lineage_node(&self) -> Arc<dyn LineageNode> {
        Arc::clone(&self.node) as Arc<dyn LineageNode>
    }

    /// The context this RDD runs on.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// How many partitions the RDD has (known without running anything).
    pub fn num_partitions(&self) -> usize {
        self.node.num_partitions()
    }

    /// The lineage as text, like Spark's `toDebugString`: one line per node with its partition
    /// count, operation, id and call site, indented at each shuffle (stage) boundary.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let counts = ctx.parallelize(vec!['a', 'b', 'a'], 2).map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
    /// let text = counts.lineage();
    /// assert!(text.starts_with("(2) reduce_by_key"));
    /// assert!(text.contains(" +-(2) map"));
    /// assert!(text.contains("    |  (2) parallelize"));
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn lineage(&self) -> String {
        let blocks = self.ctx.engine().blocks();
        render_lineage_marked(&self.lineage_node(), &blocks.persisted_levels(), &|node| {
            blocks.checkpoints().is_written(node)
        })
    }

    /// Keeps this RDD's partitions once computed, at `level`, so later actions read them
    /// instead of recomputing the lineage. Takes effect from the next job; returns `self` for
    /// chaining. A partition evicted or lost is recomputed from lineage when next needed.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let squares = ctx.range(0, 100, 1, 4).map(|x| x * x);
    /// squares.persist(StorageLevel::MemoryAndDisk);
    /// assert_eq!(squares.count()?, 100);
    /// assert_eq!(squares.reduce(|a, b| a + b)?, 328_350);
    /// assert_eq!(ctx.last_job().unwrap().cache_hits(), 4);
    /// assert!(squares.lineage().contains("[MemoryAndDisk]"));
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn persist(&self, level: StorageLevel) -> &Self {
        let codec = Arc::new(persist::BlockCodec::<T>::new());
        self.ctx.engine().blocks().persist(self.node.meta().id, level, codec);
        self
    }

    /// [`Rdd::persist`] at [`StorageLevel::MemoryOnly`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let evens = ctx.range(0, 10, 1, 2).filter(|x| x % 2 == 0);
    /// evens.cache();
    /// assert_eq!(evens.collect()?, vec![0, 2, 4, 6, 8]);
    /// assert_eq!(evens.count()?, 5); // read from the cache
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn cache(&self) -> &Self {
        self.persist(StorageLevel::MemoryOnly)
    }

    /// Stops persisting this RDD and drops its cached blocks.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let xs = ctx.range(0, 10, 1, 2);
    /// xs.cache();
    /// xs.count()?;
    /// xs.unpersist();
    /// assert_eq!(xs.storage_level(), None);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn unpersist(&self) -> &Self {
        self.ctx.engine().blocks().unpersist(self.node.meta().id);
        self
    }

    /// Marks this RDD for checkpointing into the directory set with
    /// [`Context::set_checkpoint_dir`] (any storage URL): after the next job whose lineage
    /// contains it succeeds, its partitions are written there as object files, under
    /// `<dir>/<application id>/rdd-<N>` so that applications sharing a directory never share
    /// files (recomputed by
    /// a job of their own, so persist the RDD first if it is expensive), and from then on its
    /// partitions are read from the checkpoint and its lineage stops there. Applies to the RDD
    /// (every handle to it). A write that fails is logged and tried again after the next job;
    /// it never fails the action that triggered it. The data outlives the context:
    /// [`Context::object_file`] on [`Rdd::checkpoint_path`] reads it back.
    ///
    /// # Errors
    /// An error of kind [`Config`](crate::ErrorKind::Config) when no checkpoint directory is set.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.set_checkpoint_dir("memory://ckpt");
    /// let squares = ctx.range(0, 10, 1, 2).map(|x| x * x);
    /// squares.checkpoint()?;
    /// assert_eq!(squares.count()?, 10); // then writes the checkpoint
    /// assert!(squares.is_checkpointed());
    /// assert!(squares.lineage().ends_with("[checkpointed]")); // nothing below it
    /// assert_eq!(squares.collect()?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn checkpoint(&self) -> crate::Result<()> {
        let Some(base) = self.ctx.checkpoint_dir() else {
            return Err(crate::Error::config(
                "checkpoint directory",
                "",
                "call Context::set_checkpoint_dir before checkpoint()",
            ));
        };
        // One directory per application (Spark's `<dir>/<uuid>/rdd-N`): node ids restart at 1
        // in every context, so two applications sharing `base` would otherwise share files.
        let dir = format!("{}/{}/rdd-{}", base.trim_end_matches('/'), self.ctx.app_id(), self.node.meta().id);
        checkpoint::mark(self, dir);
        Ok(())
    }

    /// Whether this RDD's checkpoint has been written (its lineage now stops there).
    pub fn is_checkpointed(&self) -> bool {
        self.ctx.engine().blocks().checkpoints().is_written(self.node.meta().id)
    }

    /// Why the last attempt to write this RDD's checkpoint failed, while it is not written:
    /// a failed write is logged and never fails the action (see [`Rdd::checkpoint`]), so this
    /// is where a program finds out, for example, that its record type cannot be encoded.
    /// `None` before the first attempt, after a successful one, and without
    /// [`Rdd::checkpoint`]. Cost: one lock of the context's checkpoint registry.
    pub fn checkpoint_error(&self) -> Option<String> {
        let checkpoint = self.ctx.engine().blocks().checkpoints().get(self.node.meta().id)?;
        if checkpoint.written.is_some() { None } else { checkpoint.last_error }
    }

    /// Where this RDD's checkpoint is (or will be) written, if [`Rdd::checkpoint`] was called.
    pub fn checkpoint_path(&self) -> Option<String> {
        self.ctx.engine().blocks().checkpoints().get(self.node.meta().id).map(|c| c.dir)
    }

    /// The level this RDD is persisted at, if any.
    pub fn storage_level(&self) -> Option<StorageLevel> {
        self.ctx.engine().blocks().persisted(self.node.meta().id).map(|p| p.level)
    }

    /// The general narrow transformation: `f` turns partition `i`'s iterator into the new
    /// partition's iterator. Every narrow operator is a few lines over this.
    pub(crate) fn narrow<U, F>(
        &self,
        op_name: &'static str,
        call_site: &'static Location<'static>,
        keeps_partitioner: bool,
        f: F,
    ) -> Rdd<U>
    where
        U: Data,
        F: Fn(usize, PartitionIter<T>, &TaskContext) -> PartitionIter<U> + Send + Sync + 'static,
    {
        self.narrow_layer(op_name, call_site, keeps_partitioner, move |p, iter, ctx, op| {
            // `f` may run the user's closure now (a `map_partitions` closure that reads its
            // whole input at once) or as its stream is pulled: the operation is current in both.
            let _op = op.enter();
            Box::new(Tracked::new(f(p, iter, ctx), op))
        })
    }

    /// As [`Rdd::narrow`], for a function whose stream marks its operation (the node's, which
    /// `f` is given) current itself and counts its elements (`map`, `filter`, `flat_map` and
    /// their `try_` forms, in `stream.rs`), so a failure names the element too.
    pub(crate) fn narrow_layer<U, F>(
        &self,
        op_name: &'static str,
        call_site: &'static Location<'static>,
        keeps_partitioner: bool,
        f: F,
    ) -> Rdd<U>
    where
        U: Data,
        F: Fn(usize, PartitionIter<T>, &TaskContext, Operation) -> PartitionIter<U> + Send + Sync + 'static,
    {
        let meta = self.ctx.new_meta(op_name, call_site);
        let partitioner = if keeps_partitioner { self.node.partitioner().cloned() } else { None };
        let op = meta.operation();
        let node =
            MapPartitionsNode::new(meta, Arc::clone(&self.node), partitioner, move |p, iter, ctx| f(p, iter, ctx, op));
        Rdd::from_node(Arc::new(node), self.ctx.clone())
    }

    /// An RDD over this one whose every partition fails with `message` when computed: how an
    /// operation that runs a job while it is built (`zip_with_index`, `sort_by_key`) reports
    /// that job's failure at the first action, as the RDD's own error.
    pub(crate) fn failing<U: Data>(
        &self,
        op_name: &'static str,
        call_site: &'static Location<'static>,
        message: String,
    ) -> Rdd<U> {
        self.narrow(op_name, call_site, false, move |_, _, tc| {
            tc.fail(TaskFailure::error(message.clone()));
            Box::new(std::iter::empty())
        })
    }
}
