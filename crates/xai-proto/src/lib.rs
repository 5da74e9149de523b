//! Interpretable-by-design models (ProtoPNet, concept bottlenecks, mixtures of experts).
//!
//! Empty in this release: the issue "xai-proto" fills it. Nothing here yet.
