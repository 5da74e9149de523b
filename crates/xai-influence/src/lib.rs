//! # xai-influence
//!
//! Training-data attribution: which training examples made this prediction?
//!
//! * [`Objective`]: a trained burn model's training objective through a flat parameter vector,
//!   with exact per-example gradients, Hessian- and Gauss-Newton-vector products from the
//!   engine, and retraining.
//! * Inverse-HVP solvers ([`solvers`]): exact (Cholesky), conjugate gradients, LiSSA with an
//!   automatic scale and divergence detection, Arnoldi, K-FAC and EK-FAC.
//! * [`Influence`]: `I_up,params`, `I_up,loss`, `I_pert,loss`, self-influence and top-k
//!   helpful/harmful examples, with `s_test` cached per test point.
//! * Cheaper attributors ([`attributors`]): grad-dot, grad-cos, TracIn, representer points, a
//!   TRAK-style random projection, and FastIF's kNN candidate filter.
//! * Evaluation ([`eval`]): leave-one-out retraining, the linear datamodeling score, mislabel
//!   detection.
//! * Sharding ([`sharded`]): EK-FAC factors, eigenvalue corrections and scores as map/reduce
//!   steps over shards of the training set, for SLURM arrays, Kubernetes Indexed Jobs or local
//!   processes.
//!
//! ## Sign convention (read this once)
//!
//! Following Koh & Liang (2017), `I_up,loss(z, z_test) = −∇ℓ(z_test)ᵀ H⁻¹ ∇ℓ(z)` is the change
//! of the test loss per unit of *up-weighting* `z`. So:
//!
//! * `I_up,loss < 0`: up-weighting `z` lowers the test loss — `z` is **helpful**;
//! * `I_up,loss > 0`: `z` is **harmful**;
//! * removing `z` changes the test loss by about `−I_up,loss / n`
//!   ([`Influence::predicted_loo_change`]), positive for helpful points.
//!
//! Every attributor here returns scores in the same orientation as `−I_up,loss` ("higher = more
//! helpful"), so that rankings agree across methods.
#![warn(missing_docs)]
// NaN-aware checks are written `!(x > 0.0)` on purpose: a NaN must fail them.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod attributors;
pub mod data;
pub mod eval;
pub mod fixture;
pub mod influence;
pub mod objective;
pub mod sharded;
pub mod solvers;

pub use influence::{Influence, Ranked};
pub use objective::{Data, Loss, Objective};
pub use solvers::{InverseHvp, Solver};
