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
}

impl EngineConfig {
    /// The defaults for `threads` worker threads.
    pub fn new(threads: usize) -> Self {
        EngineConfig { threads: threads.max(1), max_task_attempts: 4, max_stage_attempts: 4 }
    }

    /// Sets how many attempts a task gets (at least 1).
    pub fn with_max_task_attempts(mut self, attempts: u32) -> Self {
        self.max_task_attempts = attempts.max(1);
        self
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
