//! [`Rdd<T>`]: the typed, lazy, partitioned dataset, and its narrow transformations.
//!
//! Every transformation returns a new `Rdd` whose node records the operation, its parent and
//! the user's call site; nothing runs until an action. Narrow transformations (`map`,
//! `filter`, `flat_map`, ...) are thin layers over one node type,
//! `MapPartitionsNode`: a task pulls a partition through the whole chain without
//! materialising it, a batch of records per call across each layer (see `stream`).

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
pub(crate) mod union;
pub(crate) mod zipped;

use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;

use ember_engine::StorageLevel;
use ember_engine::lineage::{LineageNode, render_lineage_marked};
use ember_engine::{TaskContext, TaskFailure};

use crate::context::Context;
use crate::data::Data;
use map_partitions::MapPartitionsNode;
use union::UnionNode;

pub use stream::PartitionStream;

/// A partition's records as a lazy iterator (any iterator boxes into one). It lives on the
/// worker thread that pulls it. Besides one record at a time, as an [`Iterator`], it hands
/// out batches ([`PartitionStream::next_batch`]), which is how the narrow operations and the
/// map-side combine pass records on.
pub type PartitionIter<T> = Box<dyn PartitionStream<T>>;

/// Property 2 of an RDD, the typed half of [`LineageNode`]: how to compute one partition.
///
/// Called on a worker thread, once per task attempt that needs the partition. The returned
/// iterator is pulled lazily by the task; a failure found while it is being pulled is
/// recorded with [`TaskContext::fail`] and ends the iterator.
pub trait Compute<T>: LineageNode {
    /// Computes partition `partition`.
    ///
    /// # Errors
    /// A [`TaskFailure`] when the partition cannot even start (a missing file, a missing
    /// shuffle output).
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure>;
}

/// The one place a parent partition is read (Spark's `RDD.iterator`): a persisted node's
/// cached block is returned instead of computing it (see [`persist::iterator`]).
pub(crate) fn iterator<T: 'static>(
    node: &dyn Compute<T>,
    partition: usize,
    ctx: &TaskContext,
) -> Result<PartitionIter<T>, TaskFailure> {
    persist::iterator(node, partition, ctx)
}

/// A resilient distributed dataset: an immutable, partitioned collection of `T`, computed
/// lazily from its lineage when an action runs. Cheap to clone.
///
/// Transformations (`map`, `filter`, `reduce_by_key`, ...) build new RDDs; actions
/// (`collect`, `count`, `save_as_text_file`, ...) run jobs. Operations on key-value RDDs
/// appear on `Rdd<(K, V)>`.
pub struct Rdd<T> {
    node: Arc<dyn Compute<T>>,
    ctx: Context,
    checkpoint: Option<Arc<checkpoint::CheckpointNode<T>>>,
}

impl<T> Clone for Rdd<T> {
    fn clone(&self) -> Self {
        Rdd { node: Arc::clone(&self.node), ctx: self.ctx.clone(), checkpoint: self.checkpoint.clone() }
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
        Rdd { node, ctx, checkpoint: None }
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
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let counts = ctx.parallelize(vec!['a', 'b', 'a'], 2).map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
    /// let text = counts.lineage();
    /// assert!(text.starts_with("(2) reduce_by_key"));
    /// assert!(text.contains(" +-(2) map"));
    /// assert!(text.contains("    |  (2) parallelize"));
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn lineage(&self) -> String {
        render_lineage_marked(&self.lineage_node(), &self.ctx.engine().blocks().persisted_levels())
    }

    /// Keeps this RDD's partitions once computed, at `level`, so later actions read them
    /// instead of recomputing the lineage. Takes effect from the next job; returns `self` for
    /// chaining. A partition evicted or lost is recomputed from lineage when next needed.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
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
    /// # use ember::prelude::*;
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
    /// # use ember::prelude::*;
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
    /// [`Context::set_checkpoint_dir`] (any storage URL): after the next job the context runs,
    /// its partitions are written there as object files (recomputed by a job of their own, so
    /// persist the RDD first if it is expensive), and from then on its lineage starts at the
    /// checkpoint. Applies to this handle (and clones made from it afterwards). The data
    /// outlives the context: [`Context::object_file`] on [`Rdd::checkpoint_path`] reads it back.
    ///
    /// # Errors
    /// [`crate::Error::Config`] when no checkpoint directory is set.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.set_checkpoint_dir("memory://ckpt");
    /// let mut squares = ctx.range(0, 10, 1, 2).map(|x| x * x);
    /// squares.checkpoint()?;
    /// assert_eq!(squares.count()?, 10); // then writes the checkpoint
    /// assert!(squares.is_checkpointed());
    /// assert!(!squares.lineage().contains("range"));
    /// assert_eq!(squares.collect()?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn checkpoint(&mut self) -> crate::Result<()> {
        let Some(base) = self.ctx.checkpoint_dir() else {
            return Err(crate::Error::Config {
                key: "checkpoint_dir",
                value: String::new(),
                reason: "call Context::set_checkpoint_dir before checkpoint()".to_owned(),
            });
        };
        let meta = self.ctx.new_meta("checkpoint", Location::caller());
        let dir = format!("{}/rdd-{}", base.trim_end_matches('/'), meta.id);
        let node = Arc::new(checkpoint::CheckpointNode::new(meta, Arc::clone(&self.node), dir));
        let pending = Arc::clone(&node);
        self.ctx.add_pending_checkpoint(Box::new(move |ctx| pending.write(ctx)));
        self.node = node.clone();
        self.checkpoint = Some(node);
        Ok(())
    }

    /// Whether this RDD's checkpoint has been written (its lineage now starts there).
    pub fn is_checkpointed(&self) -> bool {
        self.checkpoint.as_ref().is_some_and(|c| c.is_written())
    }

    /// Where this RDD's checkpoint is (or will be) written, if [`Rdd::checkpoint`] was called.
    pub fn checkpoint_path(&self) -> Option<String> {
        self.checkpoint.as_ref().map(|c| c.dir().to_owned())
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
        let meta = self.ctx.new_meta(op_name, call_site);
        let partitioner = if keeps_partitioner { self.node.partitioner().cloned() } else { None };
        let node = MapPartitionsNode::new(meta, Arc::clone(&self.node), partitioner, f);
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

    /// Applies `f` to every element. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 2).map(|x| x * 10).collect()?, vec![10, 20, 30]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn map<U: Data, F>(&self, f: F) -> Rdd<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow("map", Location::caller(), false, move |_, iter, _| {
            let f = Arc::clone(&f);
            Box::new(stream::MapStream::new(iter, move |x| f(x)))
        })
    }

    /// Applies `f` to every element and flattens what it returns (any `IntoIterator`).
    /// Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words = ctx
    ///     .parallelize(vec!["to be".to_string(), "or not".to_string()], 2)
    ///     .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>());
    /// assert_eq!(words.collect()?, vec!["to", "be", "or", "not"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn flat_map<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        I: IntoIterator<Item = U> + 'static,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow("flat_map", Location::caller(), false, move |_, iter, _| {
            let f = Arc::clone(&f);
            Box::new(stream::FlatMapStream::new(iter, move |x| f(x)))
        })
    }

    /// Keeps the elements for which `predicate` is true. Narrow; keeps the partitioner.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 10, 1, 3).filter(|x| x % 4 == 0).collect()?, vec![0, 4, 8]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn filter<F>(&self, predicate: F) -> Rdd<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        self.narrow("filter", Location::caller(), true, move |_, iter, _| {
            let predicate = Arc::clone(&predicate);
            Box::new(stream::FilterStream::new(iter, move |x: &T| predicate(x)))
        })
    }

    /// Transforms each partition as a whole: `f` receives the partition's iterator and returns
    /// the new partition's elements (any `IntoIterator`, lazy or not). Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let sums = ctx.parallelize(vec![1, 2, 3, 4], 2).map_partitions(|it| std::iter::once(it.sum::<i32>()));
    /// assert_eq!(sums.collect()?, vec![3, 7]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn map_partitions<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        I: IntoIterator<Item = U>,
        I::IntoIter: 'static,
        F: Fn(PartitionIter<T>) -> I + Send + Sync + 'static,
    {
        self.narrow("map_partitions", Location::caller(), false, move |_, iter, _| Box::new(f(iter).into_iter()))
    }

    /// Like [`Rdd::map_partitions`], and `f` also receives the partition's index.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let tagged = ctx.parallelize(vec!['a', 'b', 'c'], 2).map_partitions_with_index(|i, it| it.map(move |c| (i, c)));
    /// assert_eq!(tagged.collect()?, vec![(0, 'a'), (1, 'b'), (1, 'c')]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn map_partitions_with_index<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        I: IntoIterator<Item = U>,
        I::IntoIter: 'static,
        F: Fn(usize, PartitionIter<T>) -> I + Send + Sync + 'static,
    {
        self.narrow("map_partitions_with_index", Location::caller(), false, move |p, iter, _| {
            Box::new(f(p, iter).into_iter())
        })
    }

    /// Pairs every element with a key computed from it: `(f(x), x)`. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let keyed = ctx.parallelize(vec!["apple".to_string(), "kiwi".to_string()], 2).key_by(|s| s.len());
    /// assert_eq!(keyed.collect()?, vec![(5, "apple".to_string()), (4, "kiwi".to_string())]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn key_by<K: Data, F>(&self, f: F) -> Rdd<(K, T)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow("key_by", Location::caller(), false, move |_, iter, _| {
            let f = Arc::clone(&f);
            Box::new(iter.map(move |x| (f(&x), x)))
        })
    }

    /// Turns each partition into one element: the `Vec` of its elements. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 3).glom().collect()?, vec![vec![1], vec![2], vec![3]]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn glom(&self) -> Rdd<Vec<T>> {
        self.narrow("glom", Location::caller(), false, |_, iter, _| Box::new(std::iter::once(iter.collect::<Vec<T>>())))
    }

    /// Pairs every element with its position in collect order: `(x, index)`. Narrow, but
    /// like Spark it first runs a job now, counting the elements of every partition but the
    /// last to learn each partition's starting index. If that job fails, the returned RDD
    /// fails with its cause when used.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let indexed = ctx.parallelize(vec!['a', 'b', 'c'], 2).zip_with_index();
    /// assert_eq!(indexed.collect()?, vec![('a', 0), ('b', 1), ('c', 2)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn zip_with_index(&self) -> Rdd<(T, u64)> {
        let call_site = Location::caller();
        let counted: Vec<usize> = (0..self.num_partitions().saturating_sub(1)).collect();
        let starts = match self.ctx.run_job(self, &counted, |_, iter, _| Ok(iter.count() as u64)) {
            Ok(counts) => counts.into_iter().fold(vec![0u64], |mut starts, c| {
                starts.push(starts[starts.len() - 1] + c);
                starts
            }),
            Err(err) => {
                let message = format!("counting partitions for zip_with_index failed: {err}");
                return self.failing("zip_with_index", call_site, message);
            }
        };
        let starts = Arc::new(starts);
        self.narrow("zip_with_index", call_site, false, move |p, iter, _| Box::new(iter.zip(starts[p]..)))
    }

    /// Pairs every element with a unique id without running a job: the `j`-th element of
    /// partition `k` gets `j·P + k` (P = the partition count), so ids have gaps when
    /// partitions differ in size. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let ids = ctx.parallelize(vec!['a', 'b', 'c'], 2).zip_with_unique_id();
    /// assert_eq!(ids.collect()?, vec![('a', 0), ('b', 1), ('c', 3)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn zip_with_unique_id(&self) -> Rdd<(T, u64)> {
        let n = self.num_partitions() as u64;
        self.narrow("zip_with_unique_id", Location::caller(), false, move |p, iter, _| {
            Box::new(iter.zip(0u64..).map(move |(x, j)| (x, j * n + p as u64)))
        })
    }

    /// Groups the elements by `key(x)`: `(key, every element with that key)`, in no
    /// particular order within a group. Shuffles (as `key_by` then `group_by_key`).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let mut groups = ctx.parallelize(vec![1, 2, 3, 4, 5], 2).group_by(|x| x % 2).collect()?;
    /// groups.iter_mut().for_each(|(_, xs)| xs.sort());
    /// groups.sort();
    /// assert_eq!(groups, vec![(0, vec![2, 4]), (1, vec![1, 3, 5])]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn group_by<K, F>(&self, key: F) -> Rdd<(K, Vec<T>)>
    where
        K: Data + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.key_by(key).group_by_key()
    }

    /// [`Rdd::group_by`] into `partitions` partitions.
    #[track_caller]
    pub fn group_by_with_partitions<K, F>(&self, key: F, partitions: usize) -> Rdd<(K, Vec<T>)>
    where
        K: Data + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.key_by(key).group_by_key_with_partitions(partitions)
    }

    /// This RDD's partitions followed by `other`'s, duplicates kept. Narrow: no shuffle; the
    /// result has the sum of both partition counts.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let both = ctx.parallelize(vec![1, 2], 1).union(&ctx.parallelize(vec![2, 3], 2));
    /// assert_eq!((both.num_partitions(), both.collect()?), (3, vec![1, 2, 2, 3]));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn union(&self, other: &Rdd<T>) -> Rdd<T> {
        let meta = self.ctx.new_meta("union", Location::caller());
        let node = UnionNode::new(meta, vec![Arc::clone(&self.node), Arc::clone(&other.node)]);
        Rdd::from_node(Arc::new(node), self.ctx.clone())
    }

    /// One copy of each distinct element. Shuffles (into as many partitions as this RDD has).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let mut d = ctx.parallelize(vec![3, 1, 3, 2, 1], 2).distinct().collect()?;
    /// d.sort();
    /// assert_eq!(d, vec![1, 2, 3]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn distinct(&self) -> Rdd<T>
    where
        T: Hash + Eq,
    {
        self.distinct_impl(None, Location::caller())
    }

    /// [`Rdd::distinct`] into `partitions` partitions.
    #[track_caller]
    pub fn distinct_with_partitions(&self, partitions: usize) -> Rdd<T>
    where
        T: Hash + Eq,
    {
        self.distinct_impl(Some(partitions), Location::caller())
    }

    fn distinct_impl(&self, partitions: Option<usize>, call_site: &'static Location<'static>) -> Rdd<T>
    where
        T: Hash + Eq,
    {
        let pairs = self.narrow("distinct", call_site, false, |_, iter, _| Box::new(iter.map(|x| (x, ()))));
        let partitioner = pairs.default_partitioner(partitions);
        pairs
            .combine_by_key_impl(
                "distinct",
                call_site,
                partitioner,
                true,
                Arc::new(|()| ()),
                Arc::new(|(), ()| ()),
                Arc::new(|(), ()| ()),
            )
            .narrow("distinct", call_site, false, |_, iter, _| Box::new(iter.map(|(x, ())| x)))
    }

    /// All elements sorted by `key(x)`, ascending or descending, across partitions: partition
    /// 0 holds the smallest keys. Shuffles with a range partitioner built from a sample (the
    /// sampling runs a small job now, as in Spark). Equal keys keep no particular order.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words: Vec<String> = ["ccc", "a", "bb"].map(String::from).to_vec();
    /// let sorted = ctx.parallelize(words, 2).sort_by(|s| s.len(), true);
    /// assert_eq!(sorted.collect()?, ["a", "bb", "ccc"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn sort_by<K, F>(&self, key: F, ascending: bool) -> Rdd<T>
    where
        K: Data + Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.sort_by_impl(key, ascending, None, Location::caller())
    }

    /// [`Rdd::sort_by`] into `partitions` partitions.
    #[track_caller]
    pub fn sort_by_with_partitions<K, F>(&self, key: F, ascending: bool, partitions: usize) -> Rdd<T>
    where
        K: Data + Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.sort_by_impl(key, ascending, Some(partitions), Location::caller())
    }

    fn sort_by_impl<K, F>(
        &self,
        key: F,
        ascending: bool,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<T>
    where
        K: Data + Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let key = Arc::new(key);
        let keyed = self.narrow("sort_by", call_site, false, move |_, iter, _| {
            let key = Arc::clone(&key);
            Box::new(iter.map(move |x| (key(&x), x)))
        });
        keyed
            .sort_by_key_impl(ascending, partitions, call_site)
            .narrow("sort_by", call_site, false, |_, iter, _| Box::new(iter.map(|(_, x)| x)))
    }
}
