//! Ember's behaviour tests live in `tests/it/`; this library is empty.
