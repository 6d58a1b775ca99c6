//! The engine side of a context: id generators, the shuffle registry, the executor backend
//! and the job history. No process globals: two contexts in one process share nothing.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::accumulator::AccumulatorRegistry;
use crate::block::BlockManager;
use crate::broadcast::BroadcastRegistry;
use crate::config::EngineConfig;
use crate::error::JobError;
use crate::executor::ResultFn;
use crate::executor::{Backend, LocalBackend};
use crate::fault::FaultPlan;
use crate::ids::{IdGen, JobId};
use crate::lineage::MapOutputWriter;
use crate::lineage::{LineageNode, PartitionerDesc, ShuffleDependency};
use crate::memory::MemoryManager;
use crate::scheduler::{JobMetrics, run_job};
use crate::shuffle::{LocalShuffleStore, ShuffleRegistry};

/// How many finished jobs' metrics a context remembers.
const JOB_HISTORY: usize = 256;

/// The engine state of one context. Cheap to clone (an `Arc`); the worker threads stop when
/// the last clone is dropped.
#[derive(Clone)]
pub struct EngineContext {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    ids: IdGen,
    shuffles: Arc<ShuffleRegistry>,
    blocks: Arc<BlockManager>,
    accumulators: Arc<AccumulatorRegistry>,
    broadcasts: BroadcastRegistry,
    faults: Arc<FaultPlan>,
    backend: Box<dyn Backend>,
    history: Mutex<VecDeque<JobMetrics>>,
}

impl EngineContext {
    /// A local-mode engine with `config.threads` worker threads and a local shuffle store.
    ///
    /// # Errors
    /// The OS error when worker threads cannot be spawned.
    pub fn local(config: EngineConfig) -> std::io::Result<Self> {
        let shuffles = Arc::new(ShuffleRegistry::new(Arc::new(LocalShuffleStore::default())));
        let memory = Arc::new(MemoryManager::new(config.memory_budget, config.threads));
        let blocks = Arc::new(BlockManager::new(memory));
        let faults = Arc::new(FaultPlan::default());
        let backend = Box::new(LocalBackend::new(
            config.threads,
            Arc::clone(&shuffles),
            Arc::clone(&blocks),
            Arc::clone(&faults),
        )?);
        Ok(EngineContext {
            inner: Arc::new(Inner {
                config,
                ids: IdGen::default(),
                shuffles,
                blocks,
                accumulators: Arc::default(),
                broadcasts: BroadcastRegistry::default(),
                faults,
                backend,
                history: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// The settings the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The id generators (node ids are taken by the typed layer as it builds nodes).
    pub fn ids(&self) -> &IdGen {
        &self.inner.ids
    }

    /// How many attempts run at once.
    pub fn parallelism(&self) -> usize {
        self.inner.backend.parallelism()
    }

    /// A new shuffle of `parent` into `partitioner.num_partitions` partitions, written by
    /// `writer`. Its outputs are freed when the returned dependency is dropped.
    pub fn new_shuffle(
        &self,
        parent: Arc<dyn LineageNode>,
        partitioner: PartitionerDesc,
        writer: Arc<dyn MapOutputWriter>,
    ) -> Arc<ShuffleDependency> {
        Arc::new(ShuffleDependency::new(
            self.inner.ids.shuffle(),
            parent,
            partitioner,
            writer,
            Arc::downgrade(&self.inner.shuffles),
        ))
    }

    /// Runs a job computing `partitions` of `final_node` with `func`, blocking until it ends.
    /// Returns one value per requested partition, in the order given.
    ///
    /// # Errors
    /// [`JobError`] when a task fails on every attempt, or the executor is gone.
    ///
    /// # Panics
    /// If `partitions` names a partition twice or one the node does not have: callers (the
    /// typed layer's actions) pass distinct, valid indices.
    pub fn run_job(
        &self,
        final_node: &Arc<dyn LineageNode>,
        partitions: &[usize],
        func: Arc<ResultFn>,
    ) -> Result<Vec<Box<dyn Any + Send>>, JobError> {
        let mut seen = std::collections::HashSet::with_capacity(partitions.len());
        assert!(
            partitions.iter().all(|&p| p < final_node.num_partitions() && seen.insert(p)),
            "run_job needs distinct partitions of the node, got {partitions:?} of {}",
            final_node.num_partitions()
        );
        let job: JobId = self.inner.ids.job();
        let (result, metrics) = run_job(
            job,
            final_node,
            partitions,
            func,
            &self.inner.config,
            &self.inner.shuffles,
            &self.inner.accumulators,
            self.inner.backend.as_ref(),
        );
        let mut history = self.inner.history.lock().unwrap_or_else(|e| e.into_inner());
        if history.len() == JOB_HISTORY {
            history.pop_front();
        }
        history.push_back(metrics);
        result
    }

    /// Metrics of the most recent jobs, oldest first (at most 256 are kept).
    pub fn job_history(&self) -> Vec<JobMetrics> {
        self.inner.history.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Metrics of the most recent job, if any ran.
    pub fn last_job(&self) -> Option<JobMetrics> {
        self.inner.history.lock().unwrap_or_else(|e| e.into_inner()).back().cloned()
    }

    /// The shuffle registry (for tests and fault injection: deleting map outputs).
    pub fn shuffles(&self) -> &Arc<ShuffleRegistry> {
        &self.inner.shuffles
    }

    /// The block manager: cached partitions and the persist registry.
    pub fn blocks(&self) -> &Arc<BlockManager> {
        &self.inner.blocks
    }

    /// The accumulator registry (the driver side of every accumulator).
    pub fn accumulators(&self) -> &Arc<AccumulatorRegistry> {
        &self.inner.accumulators
    }

    /// The serialized broadcast values.
    pub fn broadcasts(&self) -> &BroadcastRegistry {
        &self.inner.broadcasts
    }

    /// The fault plan (tests only): which attempts to fail.
    pub fn faults(&self) -> &FaultPlan {
        &self.inner.faults
    }
}
