//! Training-data attribution (influence functions, TracIn, representer points).
//!
//! Empty in this release: the issue "xai-influence" fills it. Nothing here yet.
