//! Runnable Ember programs live in this package's examples; see `examples/README.md`.
