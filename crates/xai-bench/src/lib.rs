//! Throughput benchmarks of attribution methods across models and backends.
//!
//! Empty in this release: the gradient-suite and main-job issues fill it. Nothing here yet.
