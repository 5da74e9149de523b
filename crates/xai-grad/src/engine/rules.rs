//! Per-op backward rules (placeholder module, filled in below).
