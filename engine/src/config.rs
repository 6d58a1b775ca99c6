//! Every engine knob, its default, documented once.

/// Engine settings. Build one with [`EngineConfig::new`] and the `with_*` methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Worker threads running tasks (`local[N]`). Default: the machine's available parallelism.
    pub threads: usize,
    /// Attempts a task gets before its job fails (Spark's `spark.task.maxFailures`). Default 4.
    pub max_task_attempts: u32,
    /// Times a stage may be resubmitted after fetch failures before its job fails. Default 4.
    pub max_stage_attempts: u32,
    /// The memory budget in bytes, split by [`crate::memory::MemoryManager`]: half for cached
    /// partitions and in-memory shuffle outputs, half for running tasks. Default: a quarter
    /// of the machine's RAM (read from `/proc/meminfo`), or 1 GiB where that is unknown.
    pub memory_budget: u64,
}

impl EngineConfig {
    /// The defaults for `threads` worker threads.
    pub fn new(threads: usize) -> Self {
        EngineConfig {
            threads: threads.max(1),
            max_task_attempts: 4,
            max_stage_attempts: 4,
            memory_budget: default_budget(),
        }
    }

    /// Sets how many attempts a task gets (at least 1).
    pub fn with_max_task_attempts(mut self, attempts: u32) -> Self {
        self.max_task_attempts = attempts.max(1);
        self
    }

    /// Sets the memory budget in bytes.
    pub fn with_memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = bytes;
        self
    }
}

/// A quarter of total RAM, or 1 GiB when it cannot be read.
fn default_budget() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total_kib.map_or(1 << 30, |kib| kib * 1024 / 4)
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
