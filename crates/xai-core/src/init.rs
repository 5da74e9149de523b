//! Explicit randomness: parameters and noise drawn from a seed the caller owns, never from burn's
//! process-global generator.
//!
//! burn draws a layer's parameters from one generator per process the first time they are used
//! (lazy initialisation). Anything else that draws from it in between (another test, another
//! thread) changes the values, so a result that depends on `device.seed(s)` is reproducible only
//! when nothing runs beside it. [`seeded`] replaces every still-lazy parameter of burn's standard
//! layers by one drawn from burn's *default* initialiser for that layer, with a generator seeded by
//! `(seed, parameter path)`: the same model with the same seed gets the same values whatever runs
//! beside it, and one parameter's values do not depend on which other parameters exist.
//!
//! | layer (`burn::nn`)                      | weight                          | bias            |
//! |-----------------------------------------|---------------------------------|-----------------|
//! | `Linear` (`[d_in, d_out]`)              | `U(−1/√d_in, 1/√d_in)`          | same bound      |
//! | `Conv1d/2d/3d`, `ConvTranspose1d/2d/3d` | `U(−1/√fan_in, 1/√fan_in)`, `fan_in = Π dims[1..]` | same bound |
//! | `Embedding`                             | `N(0, 1)`                       | –               |
//! | `BatchNorm`, `LayerNorm`, `GroupNorm`, `RmsNorm` | constants (kept lazy)  | constants       |
//!
//! Parameters that already hold values (built with `Param::from_tensor`, loaded, or used) are
//! kept. A lazily initialised parameter of any other layer is an error naming it: initialise it
//! explicitly from a [`StdRng`] (see [`uniform`] and [`standard_normal`]).
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::tensor::Device;
//! let dev = Device::flex();
//! let a = xai_core::init::seeded(LinearConfig::new(3, 2).init(&dev), 7).unwrap();
//! let b = xai_core::init::seeded(LinearConfig::new(3, 2).init(&dev), 7).unwrap();
//! assert_eq!(a.weight.val().into_data(), b.weight.val().into_data());
//! ```

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Shape, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal, Uniform};

use crate::{Result, XaiError};

/// A seed for the parameter at `path`, derived from the model seed (FNV-1a of the path).
pub fn path_seed(seed: u64, path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// `n` draws from `U(low, high)`; an empty or non-finite interval is an error.
pub fn uniform(rng: &mut StdRng, n: usize, low: f64, high: f64) -> Result<Vec<f32>> {
    let d = Uniform::new(low, high)
        .map_err(|e| XaiError::Config(format!("uniform draws on [{low}, {high}): {e}")))?;
    Ok((0..n).map(|_| d.sample(rng) as f32).collect())
}

/// `n` draws from `N(0, 1)`.
pub fn standard_normal(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            z as f32
        })
        .collect()
}

/// A tensor of `shape` with entries from `U(low, high)`, drawn from `rng`.
pub fn uniform_tensor<const D: usize>(
    rng: &mut StdRng,
    shape: [usize; D],
    low: f64,
    high: f64,
    device: &Device,
) -> Result<Tensor<D>> {
    let n = shape.iter().product();
    let values = uniform(rng, n, low, high)?;
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A tensor of `shape` with entries from `N(0, 1)`, drawn from `rng`.
pub fn normal_tensor<const D: usize>(
    rng: &mut StdRng,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(standard_normal(rng, n), shape), device)
}

/// `model` with every lazily initialised parameter drawn from `seed` (see the module docs).
pub fn seeded<M: Module>(model: M, seed: u64) -> Result<M> {
    let mut mapper = Seeder {
        seed,
        stack: Vec::new(),
        fan_in: None,
        error: None,
    };
    let model = model.map(&mut mapper);
    match mapper.error {
        Some(e) => Err(e),
        None => Ok(model),
    }
}

/// How a layer's default initialiser draws one of its parameters.
enum Draw {
    /// `U(−1/√fan_in, 1/√fan_in)`: burn's `KaimingUniform { gain: 1/√3 }`.
    FanInUniform(usize),
    /// `N(0, 1)`.
    StandardNormal,
    /// A constant initialiser: nothing random, keep burn's lazy value.
    Keep,
}

struct Seeder {
    seed: u64,
    /// (field name, type of the struct that owns the field)
    stack: Vec<(String, String)>,
    /// The fan-in of the last weight seen, for the bias that follows it in the same layer.
    fan_in: Option<usize>,
    error: Option<XaiError>,
}

impl Seeder {
    fn path(&self) -> String {
        let names: Vec<&str> = self.stack.iter().map(|(n, _)| n.as_str()).collect();
        names.join(".")
    }

    fn draw_for(&mut self, owner: &str, field: &str, dims: &[usize]) -> Option<Draw> {
        let layer = owner.strip_prefix("Struct:").unwrap_or(owner);
        match (layer, field) {
            ("Linear", "weight") => {
                let fan_in = dims.first().copied().unwrap_or(1);
                self.fan_in = Some(fan_in);
                Some(Draw::FanInUniform(fan_in))
            }
            (
                "Conv1d" | "Conv2d" | "Conv3d" | "ConvTranspose1d" | "ConvTranspose2d"
                | "ConvTranspose3d",
                "weight",
            ) => {
                let fan_in = dims.iter().skip(1).product();
                self.fan_in = Some(fan_in);
                Some(Draw::FanInUniform(fan_in))
            }
            (
                "Linear" | "Conv1d" | "Conv2d" | "Conv3d" | "ConvTranspose1d" | "ConvTranspose2d"
                | "ConvTranspose3d",
                "bias",
            ) => self.fan_in.map(Draw::FanInUniform),
            ("Embedding", "weight") => Some(Draw::StandardNormal),
            ("BatchNorm" | "LayerNorm" | "GroupNorm" | "InstanceNorm" | "RmsNorm", _) => {
                Some(Draw::Keep)
            }
            _ => None,
        }
    }
}

impl ModuleMapper for Seeder {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let shape: Shape = param.lazy_shape();
        let dims = shape.to_vec();
        let (field, owner) = self.stack.last().cloned().unwrap_or_default();
        // before the early return: a weight that already holds values still gives its layer's
        // bias the fan-in
        let draw = self.draw_for(&owner, &field, &dims);
        if param.is_initialized() || self.error.is_some() {
            return param;
        }
        let path = self.path();
        let draw = match draw {
            Some(d) => d,
            None => {
                self.error = Some(XaiError::Config(format!(
                    "cannot seed parameter `{path}` ({owner}, shape {dims:?}): it is not a \
                     parameter of a standard burn layer; initialise it explicitly from a seeded \
                     generator"
                )));
                return param;
            }
        };
        let n: usize = dims.iter().product();
        let mut rng = StdRng::seed_from_u64(path_seed(self.seed, &path));
        let values = match draw {
            Draw::Keep => return param,
            Draw::FanInUniform(fan_in) => {
                let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
                match uniform(&mut rng, n, -bound, bound) {
                    Ok(v) => v,
                    Err(e) => {
                        self.error = Some(e);
                        return param;
                    }
                }
            }
            Draw::StandardNormal => standard_normal(&mut rng, n),
        };
        let data = TensorData::new(values, dims);
        let device = param.lazy_device();
        // burn's layers create every parameter trainable; `seeded` runs before anything can
        // freeze one (burn does not expose a lazy parameter's setting).
        Param::uninitialized(
            param.id,
            move |device: &Device, require_grad: bool| {
                Tensor::<D>::from_data(data, device).set_require_grad(require_grad)
            },
            device,
            true,
            shape,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_seed_alone_decides_the_values_within_burns_default_bounds() {
        let dev = Device::flex();
        let layer = |seed| seeded(LinearConfig::new(9, 4).init(&dev), seed).unwrap();
        let (a, b, c) = (layer(1), layer(1), layer(2));
        let w = values(a.weight.val());
        assert_eq!(w, values(b.weight.val()));
        assert_ne!(w, values(c.weight.val()));
        // KaimingUniform with gain 1/√3: U(−1/√fan_in, 1/√fan_in), fan_in = 9
        assert!(w.iter().all(|v| v.abs() <= 1.0 / 3.0));
        assert!(w.iter().any(|v| v.abs() > 0.25), "spread over the interval");
    }

    #[test]
    fn a_bias_takes_its_fan_in_from_a_weight_that_already_holds_values() {
        let dev = Device::flex();
        let mut l: Linear = LinearConfig::new(100, 3).init(&dev);
        l.weight = Param::from_tensor(Tensor::zeros([100, 3], &dev));
        let l = seeded(l, 5).unwrap();
        assert!(values(l.weight.val()).iter().all(|v| *v == 0.0), "kept");
        let bias = values(l.bias.unwrap().val());
        assert!(bias.iter().all(|v| v.abs() <= 0.1) && bias.iter().any(|v| *v != 0.0));
    }

    #[test]
    fn an_empty_interval_is_an_error() {
        let mut rng = StdRng::seed_from_u64(0);
        assert!(uniform(&mut rng, 3, 1.0, 1.0).is_err());
        assert!(uniform(&mut rng, 3, 0.0, f64::NAN).is_err());
        assert_eq!(uniform(&mut rng, 3, -1.0, 1.0).unwrap().len(), 3);
    }
}
