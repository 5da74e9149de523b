//! Test support shared by the xai crates (a dev-dependency only; never part of the product).
//!
//! * [`test_device!`]: one test per device from one body, as candle's `test_device!` does:
//!   `flex` always, `wgpu` (Vulkan, CPU adapter) when the crate under test is built with its
//!   `wgpu` feature. Each device is its own test, so a failure names the device and one device's
//!   failure does not hide another's.
//! * Seeded data: [`randn`] and [`seeded`] draw from explicit seeds, never from burn's global
//!   generator, so every test is reproducible whatever runs beside it.
//! * Comparisons: [`max_abs_diff`], [`max_abs`], [`rel`].
//! * [`models`]: small models that exercise the engine's op coverage.
//!
//! ```
//! use burn::tensor::Device;
//! let x = xai_testkit::randn([2, 3], 7, &Device::flex());
//! let y = xai_testkit::randn([2, 3], 7, &Device::flex());
//! let (a, b) = (x.into_data().to_vec::<f32>().unwrap(), y.into_data().to_vec::<f32>().unwrap());
//! assert_eq!(a, b);
//! ```

#![warn(missing_docs)]

pub mod models;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Re-exported for [`test_device!`]'s expansion.
pub use burn;

/// Defines one `#[test]` per device from one body: `flex`, and `wgpu` when the calling crate
/// has its `wgpu` feature on. The tests are `NAME::flex` and `NAME::wgpu`.
///
/// ```
/// xai_testkit::test_device!(fn ones_keep_their_shape(dev) {
///     let x = burn::tensor::Tensor::<2>::ones([2, 3], &dev);
///     assert_eq!(x.dims(), [2, 3]);
/// });
/// ```
#[macro_export]
macro_rules! test_device {
    (fn $name:ident($dev:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($dev: $crate::burn::tensor::Device) $body

            #[test]
            fn flex() {
                body($crate::burn::tensor::Device::flex())
            }

            #[cfg(feature = "wgpu")]
            #[test]
            fn wgpu() {
                body($crate::burn::tensor::Device::wgpu(
                    $crate::burn::tensor::DeviceKind::Cpu,
                ))
            }
        }
    };
}

/// The devices of [`test_device!`] as a list of `(name, Device)`, for tests that compare devices
/// with each other: flex, and wgpu when the calling crate has its `wgpu` feature on.
#[macro_export]
macro_rules! devices {
    () => {{
        #[allow(unused_mut)]
        let mut v = vec![("flex", $crate::burn::tensor::Device::flex())];
        #[cfg(feature = "wgpu")]
        v.push((
            "wgpu",
            $crate::burn::tensor::Device::wgpu($crate::burn::tensor::DeviceKind::Cpu),
        ));
        v
    }};
}

/// burn's default initialisation of `model`'s layers, drawn from seed 0
/// ([`xai_core::init::seeded`]).
pub fn seeded<M: Module>(model: M) -> M {
    xai_core::init::seeded(model, 0).expect("test models use burn's standard layers")
}

/// Standard normal entries drawn from `seed`.
pub fn randn<const D: usize>(shape: [usize; D], seed: u64, dev: &Device) -> Tensor<D> {
    let mut rng = rand::SeedableRng::seed_from_u64(seed);
    xai_core::init::normal_tensor(&mut rng, shape, dev)
}

/// Largest absolute difference; panics when the lengths differ.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Largest absolute value.
pub fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Relative L2 error `‖a − b‖ / ‖b‖`; panics when the lengths differ.
pub fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}
