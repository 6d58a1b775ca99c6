//! Ember behaviour tests through the public API (filled in below).
