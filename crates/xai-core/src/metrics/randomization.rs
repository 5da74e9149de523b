//! Sanity checks for saliency maps (Adebayo et al., 2018): an explanation that does not change
//! when the model's parameters are destroyed cannot be explaining the model.
//!
//! - **Model parameter randomisation.** Layers are re-initialised from the top (logits) down,
//!   either cumulatively (**cascading**: after step `k` the top `k` layers are random) or one at a
//!   time (**independent**). After each step every method re-explains the same inputs and its
//!   map is compared with the trained model's map ([`compare_maps`]): Spearman rank correlation
//!   of absolute and of signed maps, SSIM and HOG similarity of the absolute maps (scaled to
//!   `[0, 1]`). Faithful methods (gradients, integrated gradients) decorrelate quickly; guided
//!   backprop famously stays similar — it reconstructs the input's edges.
//! - **Data randomisation.** Retrain on permuted labels (a network that memorises random labels,
//!   Zhang et al. 2017) and compare its maps with the trained model's the same way
//!   ([`permuted_labels`] permutes deterministically; the retraining is the caller's).
//!
//! Randomisation works on any burn module through a `ModuleMapper` ([`randomize_layers`]): the
//! caller's model is never modified, a layer is the module path owning parameters
//! ([`parameter_layers`]), and BatchNorm running statistics (`running_*`) are left alone.
//! Re-initialisation draws `N(0, σ²)` with `σ` the parameter tensor's own standard deviation
//! (its scale survives, its learned structure does not; zero tensors stay zero), or permutes the
//! tensor's entries ([`Reinit::Permute`], which keeps the value distribution exactly).
//!
//! Shapes: maps are `n × (C·H·W)` rows; channels are summed (signed or absolute) to `H × W`.
//!
//! ```
//! use xai_core::metrics::randomization::{MapShape, compare_maps};
//! let a: Vec<f64> = (0..64).map(|i| ((i % 8) as f64 - 3.5) * ((i / 8) as f64)).collect();
//! let s = compare_maps(&a, &a, MapShape { channels: 1, height: 8, width: 8 }).unwrap();
//! assert!((s[0].spearman_abs - 1.0).abs() < 1e-12 && (s[0].ssim - 1.0).abs() < 1e-12);
//! ```

use std::collections::HashSet;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{Result, XaiError};
use crate::metrics::similarity::{hog_similarity, spearman, ssim};

/// Whether a parameter path names a BatchNorm running statistic (a buffer, not a weight).
fn is_buffer(path: &str) -> bool {
    path.rsplit('.')
        .next()
        .is_some_and(|l| l.starts_with("running_"))
}

/// The layer owning a parameter: its path without the parameter's own field name.
fn layer_of(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(layer, _)| layer)
}

struct PathStack(Vec<String>);

impl PathStack {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn path(&self) -> String {
        self.0.join(".")
    }
}

struct LayerCollector {
    stack: PathStack,
    layers: Vec<String>,
}

impl ModuleVisitor for LayerCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        if is_buffer(&path) {
            return;
        }
        let layer = layer_of(&path).to_string();
        if !self.layers.contains(&layer) {
            self.layers.push(layer);
        }
    }
}

/// The module paths that own trainable float parameters, in the module's visiting order (for a
/// derived module: field declaration order). Reverse it for a top-down cascade when fields are
/// declared input to output.
pub fn parameter_layers<M: Module>(model: &M) -> Vec<String> {
    let mut c = LayerCollector {
        stack: PathStack(Vec::new()),
        layers: Vec::new(),
    };
    model.visit(&mut c);
    c.layers
}

/// How a randomised parameter gets its new values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reinit {
    /// `N(0, σ²)` with `σ` the tensor's own standard deviation.
    #[default]
    Gaussian,
    /// A random permutation of the tensor's entries.
    Permute,
}

struct Randomizer<'a> {
    stack: PathStack,
    layers: &'a HashSet<String>,
    reinit: Reinit,
    seed: u64,
    hits: HashSet<String>,
    error: Option<XaiError>,
}

impl Randomizer<'_> {
    fn fresh_values(&self, path: &str, data: TensorData) -> Result<TensorData> {
        let shape = data.shape().to_vec();
        let mut v: Vec<f64> = data
            .convert::<f64>()
            .try_into_vec::<f64>()
            .map_err(|e| XaiError::Numerical(format!("reading parameter {path}: {e:?}")))?;
        let mut rng = StdRng::seed_from_u64(crate::init::path_seed(self.seed, path));
        match self.reinit {
            Reinit::Permute => v.shuffle(&mut rng),
            Reinit::Gaussian => {
                let n = v.len().max(1) as f64;
                let mean = v.iter().sum::<f64>() / n;
                let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                if std > 0.0 {
                    let d = Normal::new(0.0, std)
                        .map_err(|e| XaiError::Numerical(format!("{path}: {e}")))?;
                    v.iter_mut().for_each(|x| *x = d.sample(&mut rng));
                }
            }
        }
        Ok(TensorData::new(v, shape))
    }
}

impl ModuleMapper for Randomizer<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.stack.path();
        let layer = layer_of(&path).to_string();
        if is_buffer(&path) || !self.layers.contains(&layer) || self.error.is_some() {
            return param;
        }
        self.hits.insert(layer);
        let value = param.val();
        let (device, dtype) = (value.device(), value.dtype());
        match self.fresh_values(&path, value.into_data()) {
            Ok(data) => param.map(|_| Tensor::from_data(data, (&device, dtype))),
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}

/// A copy of `model` with the parameters of `layers` re-initialised (see the module docs);
/// `model` itself is untouched. Naming a layer that owns no parameter is an error.
pub fn randomize_layers<M: Module + Clone>(
    model: &M,
    layers: &[String],
    reinit: Reinit,
    seed: u64,
) -> Result<M> {
    let wanted: HashSet<String> = layers.iter().cloned().collect();
    let mut mapper = Randomizer {
        stack: PathStack(Vec::new()),
        layers: &wanted,
        reinit,
        seed,
        hits: HashSet::new(),
        error: None,
    };
    let randomized = model.clone().map(&mut mapper);
    if let Some(e) = mapper.error {
        return Err(e);
    }
    if let Some(missing) = layers.iter().find(|l| !mapper.hits.contains(*l)) {
        return Err(XaiError::UnknownNode(format!(
            "no parameters under layer `{missing}`; layers are {:?}",
            parameter_layers(model)
        )));
    }
    Ok(randomized)
}

/// The spatial layout of maps for [`compare_maps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapShape {
    /// Channels, summed away.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
}

impl MapShape {
    fn features(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// How similar two maps of the same input are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MapSimilarity {
    /// Spearman rank correlation of the absolute maps.
    pub spearman_abs: f64,
    /// Spearman rank correlation of the signed maps.
    pub spearman: f64,
    /// SSIM of the absolute maps scaled to `[0, 1]` (window 7, or the largest odd size that fits).
    pub ssim: f64,
    /// HOG similarity of the absolute maps scaled to `[0, 1]` (cells of a quarter side).
    pub hog: f64,
}

impl MapSimilarity {
    /// The mean of several similarities.
    pub fn mean(all: &[MapSimilarity]) -> MapSimilarity {
        let n = all.len().max(1) as f64;
        all.iter()
            .fold(MapSimilarity::default(), |m, s| MapSimilarity {
                spearman_abs: m.spearman_abs + s.spearman_abs / n,
                spearman: m.spearman + s.spearman / n,
                ssim: m.ssim + s.ssim / n,
                hog: m.hog + s.hog / n,
            })
    }
}

/// Reduce one input's `C·H·W` map to signed and absolute `H·W` maps.
fn reduce(map: &[f64], shape: MapShape) -> (Vec<f64>, Vec<f64>) {
    let hw = shape.height * shape.width;
    let mut signed = vec![0.0; hw];
    let mut abs = vec![0.0; hw];
    for c in 0..shape.channels {
        for p in 0..hw {
            signed[p] += map[c * hw + p];
            abs[p] += map[c * hw + p].abs();
        }
    }
    (signed, abs)
}

fn unit_scaled(v: &[f64]) -> Vec<f64> {
    let m = v.iter().copied().fold(0.0, f64::max);
    if m > 0.0 {
        v.iter().map(|x| x / m).collect()
    } else {
        v.to_vec()
    }
}

/// Compare two sets of `n` maps input by input (see [`MapSimilarity`]).
pub fn compare_maps(a: &[f64], b: &[f64], shape: MapShape) -> Result<Vec<MapSimilarity>> {
    let f = shape.features();
    if f == 0 || a.len() != b.len() || a.is_empty() || !a.len().is_multiple_of(f) {
        return Err(XaiError::shape(
            "maps compared",
            format!("two equal non-empty multiples of {f} values"),
            &[a.len(), b.len()],
        ));
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("maps compared".into()));
    }
    let (h, w) = (shape.height, shape.width);
    let side = h.min(w);
    let win = if side >= 7 {
        7
    } else if side.is_multiple_of(2) {
        side - 1
    } else {
        side
    };
    let cell = (side / 4).max(1);
    a.chunks(f)
        .zip(b.chunks(f))
        .map(|(ma, mb)| {
            let (sa, aa) = reduce(ma, shape);
            let (sb, ab) = reduce(mb, shape);
            let (ua, ub) = (unit_scaled(&aa), unit_scaled(&ab));
            Ok(MapSimilarity {
                spearman_abs: spearman(&aa, &ab),
                spearman: spearman(&sa, &sb),
                ssim: if win >= 3 {
                    ssim(&ua, &ub, h, w, win)?
                } else {
                    0.0
                },
                hog: if side >= 2 * cell && side >= 2 {
                    hog_similarity(&ua, &ub, h, w, cell)?
                } else {
                    0.0
                },
            })
        })
        .collect()
}

/// Whether layers are randomised cumulatively or one at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cascade {
    /// Step `k` randomises the top `k` layers.
    #[default]
    Cascading,
    /// Step `k` randomises layer `k` only.
    Independent,
}

/// Settings of [`model_parameter_randomization`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RandomizationConfig {
    /// Cascading or independent.
    pub mode: Cascade,
    /// How parameters are re-initialised.
    pub reinit: Reinit,
    /// Seed of the re-initialisation.
    pub seed: u64,
    /// Layout of the maps.
    pub shape: MapShape,
}

/// One method's maps and similarities along the randomisation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodTrace {
    /// The method's name, as the explain closure returned it.
    pub method: String,
    /// The trained model's maps, `n × F`.
    pub original: Vec<f64>,
    /// Maps after each step, `n × F` each.
    pub maps: Vec<Vec<f64>>,
    /// Mean similarity to the original after each step.
    pub similarity: Vec<MapSimilarity>,
    /// Per-input similarity after each step.
    pub per_input: Vec<Vec<MapSimilarity>>,
}

/// The result of [`model_parameter_randomization`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RandomizationReport {
    /// The settings.
    pub config: RandomizationConfig,
    /// The layer randomised at each step (top down).
    pub steps: Vec<String>,
    /// Every method's trace.
    pub methods: Vec<MethodTrace>,
}

/// Run the model-parameter randomisation test. `layers_top_down` lists layers from the output
/// towards the input; `explain(model)` explains the same inputs with every method under test and
/// returns `(method, n × F map)` pairs, in the same order on every call.
pub fn model_parameter_randomization<M, E>(
    model: &M,
    layers_top_down: &[String],
    config: &RandomizationConfig,
    mut explain: E,
) -> Result<RandomizationReport>
where
    M: Module + Clone,
    E: FnMut(&M) -> Result<Vec<(String, Vec<f64>)>>,
{
    if layers_top_down.is_empty() {
        return Err(XaiError::Config("no layers to randomise".into()));
    }
    let original = explain(model)?;
    let mut methods: Vec<MethodTrace> = original
        .into_iter()
        .map(|(method, map)| MethodTrace {
            method,
            original: map,
            maps: Vec::new(),
            similarity: Vec::new(),
            per_input: Vec::new(),
        })
        .collect();
    for k in 0..layers_top_down.len() {
        let chosen = match config.mode {
            Cascade::Cascading => &layers_top_down[..=k],
            Cascade::Independent => &layers_top_down[k..=k],
        };
        let randomized = randomize_layers(model, chosen, config.reinit, config.seed)?;
        let maps = explain(&randomized)?;
        if maps.len() != methods.len() {
            return Err(XaiError::Config(
                "the explain closure returned a different number of methods".into(),
            ));
        }
        for (trace, (name, map)) in methods.iter_mut().zip(maps) {
            if name != trace.method {
                return Err(XaiError::Config(format!(
                    "the explain closure returned `{name}` where `{}` was expected",
                    trace.method
                )));
            }
            let per = compare_maps(&trace.original, &map, config.shape)?;
            trace.similarity.push(MapSimilarity::mean(&per));
            trace.per_input.push(per);
            trace.maps.push(map);
        }
    }
    Ok(RandomizationReport {
        config: config.clone(),
        steps: layers_top_down.to_vec(),
        methods,
    })
}

/// Labels permuted by a seeded shuffle (the data-randomisation test's training labels).
pub fn permuted_labels(labels: &[usize], seed: u64) -> Vec<usize> {
    let mut out = labels.to_vec();
    out.shuffle(&mut StdRng::seed_from_u64(seed));
    out
}
