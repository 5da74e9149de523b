//! Model-agnostic explanations: methods that only evaluate the model, never differentiate it.
//!
//! Everything here sees a model as a [`BlackBox`]: flattened rows `[n, F]` in, outputs `[n, K]`
//! out, on the host in `f64`. Perturbation methods expand each explained input into many rows
//! (ablated features, occlusion windows, coalitions, permutations, LIME samples); [`Evaluator`]
//! generates those rows lazily, chunk by chunk against a [`MemoryBudget`], so a million
//! coalitions never sit in memory at once, and shows a progress bar on long runs.
//!
//! A burn model plugs in through [`BurnModel`] (any `Fn(Tensor<2>) -> Tensor<2>` on any device);
//! any other function through [`FnModel`].

pub mod ablation;
pub mod anchors;
pub mod counterfactual;
pub mod global;
pub mod group_anchors;
pub mod kernel_shap;
pub mod lime;
pub mod linear;
pub mod occlusion;
pub mod sampling_shapley;
pub mod segmentation;
pub mod shapley;
pub mod surrogate;
pub mod trust_score;

use std::sync::Arc;

use burn::tensor::{DType, Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};

use crate::batch::MemoryBudget;
use crate::error::{Result, XaiError};
use crate::target::{CustomTarget, Target};

pub use ablation::RowAttribution;
pub use ablation::{FeatureAblation, feature_ablation};
pub use counterfactual::{
    Counterfactual, CounterfactualConfig, CounterfactualSet, FeatureSpec, Monotone, counterfactuals,
};
pub use kernel_shap::{KernelShap, KernelShapResult, kernel_shap};
pub use lime::{
    LimeFit, LimeResult, LimeTabular, TabularStats, lime_groups, lime_tabular, lime_text,
};
pub use linear::{FitMethod, LinearFit};
pub use occlusion::{Occlusion, occlusion};
pub use sampling_shapley::{SamplingShapley, SamplingShapleyResult, sampling_shapley};
pub use shapley::{exact_shapley, shapley_from_values};

/// A model seen only through its outputs.
pub trait BlackBox {
    /// Number of input features per row (the flattened input shape).
    fn features(&self) -> usize;
    /// Evaluate `n` rows (`rows.len() == n · features`, row-major) and return `n · K` outputs,
    /// row-major, for some number of outputs `K ≥ 1`.
    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>>;
    /// Bytes one row costs while it is evaluated (inputs plus activations), for chunking.
    /// The default guesses 64 `f32` activations per input feature.
    fn bytes_per_row(&self) -> usize {
        self.features() * 4 * 64
    }
}

/// A burn forward function on flattened rows, evaluated on one device in one dtype.
pub struct BurnModel<F> {
    forward: F,
    features: usize,
    device: Device,
    dtype: DType,
}

impl<F: Fn(Tensor<2>) -> Tensor<2>> BurnModel<F> {
    /// Wrap `forward`, which maps rows `[n, features]` to outputs `[n, K]`.
    pub fn new(forward: F, features: usize, device: Device, dtype: DType) -> Self {
        BurnModel {
            forward,
            features,
            device,
            dtype,
        }
    }
}

impl<F: Fn(Tensor<2>) -> Tensor<2>> BurnModel<F> {
    fn predict_one(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        let x =
            crate::fixture::tensor_from_f64(rows, vec![n, self.features], &self.device, self.dtype);
        let y = (self.forward)(x);
        if y.dims()[0] != n {
            return Err(XaiError::shape(
                "model output",
                format!("[{n}, K]"),
                &y.dims(),
            ));
        }
        crate::tensor_to_vec_f64(y)
    }
}

impl<F: Fn(Tensor<2>) -> Tensor<2> + Sync> BlackBox for BurnModel<F> {
    fn features(&self) -> usize {
        self.features
    }

    /// On flex, which runs one forward on about one core, large batches are split over worker
    /// threads (outputs concatenated in order, so results do not depend on timing); GPU devices
    /// get the whole batch at once.
    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        let workers = if self.device == Device::flex() && n >= 64 {
            std::thread::available_parallelism()
                .map_or(1, |p| p.get())
                .min(n / 32)
        } else {
            1
        };
        if workers <= 1 {
            return self.predict_one(rows, n);
        }
        let per = n.div_ceil(workers);
        let f = self.features;
        let parts: Vec<Result<Vec<f64>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = rows
                .chunks(per * f)
                .map(|part| scope.spawn(move || self.predict_one(part, part.len() / f)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(XaiError::Numerical("a model worker thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut out = Vec::new();
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }
}

/// A plain function on host rows as a [`BlackBox`].
pub struct FnModel<F> {
    f: F,
    features: usize,
}

impl<F: Fn(&[f64], usize) -> Vec<f64>> FnModel<F> {
    /// Wrap `f(rows, n) -> n · K outputs`.
    pub fn new(features: usize, f: F) -> Self {
        FnModel { f, features }
    }
}

impl<F: Fn(&[f64], usize) -> Vec<f64>> BlackBox for FnModel<F> {
    fn features(&self) -> usize {
        self.features
    }
    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        Ok((self.f)(rows, n))
    }
}

/// Settings every perturbation method shares.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct RunOptions {
    /// Memory budget for one chunk of perturbed rows.
    pub budget: MemoryBudget,
    /// Show a progress bar (on a terminal) when a run needs more than one chunk.
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            budget: MemoryBudget::default(),
            progress: true,
        }
    }
}

/// Which features move together: `group[j]` is the group of feature `j`, groups numbered
/// `0..G` with none empty. Perturbation methods perturb and score whole groups (superpixels,
/// words, one-hot blocks).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureGroups {
    group: Vec<usize>,
    count: usize,
}

impl FeatureGroups {
    /// Every feature its own group.
    pub fn singletons(features: usize) -> Self {
        FeatureGroups {
            group: (0..features).collect(),
            count: features,
        }
    }

    /// Square patches of `patch × patch` pixels of an image `[C, H, W]`, each spanning every
    /// channel (row-major patch order; patches at the right and bottom edges may be smaller).
    ///
    /// ```
    /// use xai_core::agnostic::FeatureGroups;
    /// let g = FeatureGroups::image_patches([3, 4, 6], 2).unwrap();
    /// assert_eq!(g.count(), 2 * 3);
    /// assert_eq!(g.of(0), g.of(4 * 6)); // pixel (0, 0) in channels 0 and 1
    /// assert_eq!(g.of(5), 2); // column 5 of row 0 is in the third patch
    /// ```
    pub fn image_patches([c, h, w]: [usize; 3], patch: usize) -> Result<Self> {
        if patch == 0 || c == 0 || h == 0 || w == 0 {
            return Err(XaiError::Config(format!(
                "image patches need a positive patch size and image shape (got {patch}, [{c}, {h}, {w}])"
            )));
        }
        let across = w.div_ceil(patch);
        let group = (0..c * h * w)
            .map(|k| {
                let (y, x) = ((k / w) % h, k % w);
                (y / patch) * across + x / patch
            })
            .collect();
        Self::from_mask(group)
    }

    /// From a group id per feature; ids must cover `0..G` with every group non-empty.
    pub fn from_mask(group: Vec<usize>) -> Result<Self> {
        let count = group.iter().max().map_or(0, |m| m + 1);
        let mut seen = vec![false; count];
        for &g in &group {
            seen[g] = true;
        }
        if group.is_empty() || seen.iter().any(|s| !s) {
            return Err(XaiError::Config(format!(
                "feature mask must use every group id 0..{count} at least once"
            )));
        }
        Ok(FeatureGroups { group, count })
    }

    /// Number of groups `G`.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Number of features `F`.
    pub fn features(&self) -> usize {
        self.group.len()
    }

    /// The group of feature `j`.
    pub fn of(&self, j: usize) -> usize {
        self.group[j]
    }

    /// Spread one value per group over the features: `out[j] = per_group[group(j)]`.
    pub fn expand(&self, per_group: &[f64]) -> Vec<f64> {
        self.group.iter().map(|&g| per_group[g]).collect()
    }
}

/// References for perturbation: what a removed feature is replaced by.
#[derive(Clone, Debug)]
pub enum References {
    /// One reference row per explained input (`n · F` values).
    PerInput(Vec<f64>),
    /// A background set of `m` rows shared by all inputs (`m · F` values): the interventional
    /// value of a coalition is the mean over the background.
    Background {
        /// Row-major background rows.
        rows: Vec<f64>,
        /// Number of rows.
        m: usize,
    },
}

impl References {
    /// Number of reference rows used for each input.
    pub fn per_input(&self) -> usize {
        match self {
            References::PerInput(_) => 1,
            References::Background { m, .. } => *m,
        }
    }

    /// Reference row `r` for input `i`.
    pub fn row(&self, i: usize, r: usize, f: usize) -> &[f64] {
        match self {
            References::PerInput(v) => &v[i * f..(i + 1) * f],
            References::Background { rows, .. } => &rows[r * f..(r + 1) * f],
        }
    }

    fn check(&self, n: usize, f: usize) -> Result<()> {
        match self {
            References::PerInput(v) if v.len() != n * f => Err(XaiError::shape(
                "references",
                format!("{n}·{f} values"),
                &[v.len()],
            )),
            References::Background { rows, m } if *m == 0 || rows.len() != m * f => {
                Err(XaiError::shape(
                    "background set",
                    format!("{m}·{f} values, m > 0"),
                    &[rows.len()],
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The explained inputs: `n` rows of `f` features, checked for shape and finiteness.
#[derive(Clone, Debug)]
pub struct Rows<'a> {
    /// Row-major values.
    pub data: &'a [f64],
    /// Number of rows.
    pub n: usize,
    /// Features per row.
    pub f: usize,
}

impl<'a> Rows<'a> {
    /// View `data` as rows of `f` features.
    pub fn new(data: &'a [f64], f: usize) -> Result<Self> {
        if f == 0 || data.is_empty() || !data.len().is_multiple_of(f) {
            return Err(XaiError::shape(
                "inputs",
                format!("a non-empty multiple of {f} values"),
                &[data.len()],
            ));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(XaiError::NonFinite("inputs".into()));
        }
        Ok(Rows {
            data,
            n: data.len() / f,
            f,
        })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.f..(i + 1) * self.f]
    }
}

/// The index of the largest value (the first one on ties; 0 for an empty slice).
pub fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Checks every per-input perturbation method starts with: the rows have the model's number
/// of features and the references fit the rows.
pub(crate) fn check_rows<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    references: &References,
) -> Result<()> {
    let (n, f) = (inputs.n, inputs.f);
    if model.features() != f {
        return Err(XaiError::shape(
            "inputs",
            format!("{} features", model.features()),
            &[n, f],
        ));
    }
    references.check(n, f)
}

/// [`check_rows`], then the feature groups (every feature alone when `None`), checked to cover
/// exactly the input's features.
pub(crate) fn prepare<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    references: &References,
    groups: Option<&FeatureGroups>,
) -> Result<FeatureGroups> {
    check_rows(model, inputs, references)?;
    let f = inputs.f;
    let groups = groups
        .cloned()
        .unwrap_or_else(|| FeatureGroups::singletons(f));
    if groups.features() != f {
        return Err(XaiError::shape(
            "feature mask",
            format!("{f} entries"),
            &[groups.features()],
        ));
    }
    Ok(groups)
}

/// Turns model outputs into the explained scalar per row.
#[derive(Clone)]
pub enum Scorer {
    /// The output at one class per explained input.
    Classes(Vec<usize>),
    /// A custom function of the outputs `[n, K] -> [n]` (evaluated on flex in f64).
    Custom(CustomTarget),
}

impl Scorer {
    /// Resolve `target` for `inputs`, evaluating the model once on them (needed for
    /// [`Target::Predicted`] and to validate class indices).
    pub fn resolve<M: BlackBox + ?Sized>(
        model: &M,
        inputs: &Rows,
        target: &Target,
    ) -> Result<Self> {
        let out = model.predict(inputs.data, inputs.n)?;
        let k = out.len() / inputs.n;
        if k == 0 || out.len() != k * inputs.n {
            return Err(XaiError::shape(
                "model output",
                format!("[{}, K]", inputs.n),
                &[out.len()],
            ));
        }
        let classes = match target {
            Target::Custom(f) => return Ok(Scorer::Custom(f.clone())),
            Target::Classes(c) => {
                if c.len() != inputs.n {
                    return Err(XaiError::shape(
                        "target classes",
                        format!("{} entries", inputs.n),
                        &[c.len()],
                    ));
                }
                c.clone()
            }
            Target::Class(c) => vec![*c; inputs.n],
            Target::Predicted => out.chunks(k).map(argmax).collect(),
        };
        if let Some(&bad) = classes.iter().find(|&&c| c >= k) {
            return Err(XaiError::TargetOutOfRange {
                index: bad,
                classes: k,
            });
        }
        Ok(Scorer::Classes(classes))
    }

    /// The explained classes, when the target is a class.
    pub fn classes(&self) -> Option<&[usize]> {
        match self {
            Scorer::Classes(c) => Some(c),
            Scorer::Custom(_) => None,
        }
    }

    /// Scores of `outputs` (`len/k` rows) where row `r` explains input `input_of(r)`.
    fn score(
        &self,
        outputs: &[f64],
        k: usize,
        input_of: impl Fn(usize) -> usize,
    ) -> Result<Vec<f64>> {
        let n = outputs.len() / k;
        match self {
            Scorer::Classes(c) => Ok((0..n).map(|r| outputs[r * k + c[input_of(r)]]).collect()),
            Scorer::Custom(f) => {
                let t: Tensor<2> =
                    Tensor::from_data(TensorData::new(outputs.to_vec(), [n, k]), &Device::flex());
                let s = f(t);
                if s.dims() != [n] {
                    return Err(XaiError::shape(
                        "custom target",
                        format!("[{n}]"),
                        &s.dims(),
                    ));
                }
                crate::tensor_to_vec_f64(s)
            }
        }
    }
}

/// Evaluates lazily generated perturbed rows in budget-sized chunks.
pub struct Evaluator<'m, M: BlackBox + ?Sized> {
    model: &'m M,
    options: RunOptions,
    label: &'static str,
}

impl<'m, M: BlackBox + ?Sized> Evaluator<'m, M> {
    /// An evaluator for `model`; `label` names the method on the progress bar.
    pub fn new(model: &'m M, options: &RunOptions, label: &'static str) -> Self {
        Evaluator {
            model,
            options: options.clone(),
            label,
        }
    }

    /// Evaluate `total` rows, row `r` written by `fill(r, &mut row)`, handing each chunk's
    /// outputs (`[rows, K]` row-major, finite) to `sink(first_row, outputs, K)`.
    pub fn run(
        &self,
        total: usize,
        fill: impl Fn(usize, &mut [f64]),
        mut sink: impl FnMut(usize, &[f64], usize) -> Result<()>,
    ) -> Result<()> {
        let f = self.model.features();
        let chunks = self
            .options
            .budget
            .chunks(total, self.model.bytes_per_row())?;
        let bar = if self.options.progress && chunks.len() > 1 {
            let pb = ProgressBar::new(total as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} rows, eta {eta}")
            {
                pb.set_style(style);
            }
            pb.set_message(self.label);
            Some(pb)
        } else {
            None
        };
        let mut buf = Vec::new();
        for range in chunks {
            buf.clear();
            buf.resize(range.len() * f, 0.0);
            for (slot, r) in range.clone().enumerate() {
                fill(r, &mut buf[slot * f..(slot + 1) * f]);
            }
            let out = self.model.predict(&buf, range.len())?;
            let k = out.len() / range.len();
            if k == 0 || out.len() != k * range.len() {
                return Err(XaiError::shape(
                    "model output",
                    format!("[{}, K]", range.len()),
                    &[out.len()],
                ));
            }
            if out.iter().any(|v| !v.is_finite()) {
                return Err(XaiError::NonFinite(format!(
                    "model outputs during {}",
                    self.label
                )));
            }
            sink(range.start, &out, k)?;
            if let Some(pb) = &bar {
                pb.inc(range.len() as u64);
            }
        }
        if let Some(pb) = bar {
            pb.finish_and_clear();
        }
        Ok(())
    }

    /// Evaluate `total` rows, row `r` written by `fill(r, &mut row)`, and score row `r` against
    /// input `input_of(r)`. Returns one scalar per row; non-finite outputs are an error.
    pub fn scores(
        &self,
        total: usize,
        scorer: &Scorer,
        fill: impl Fn(usize, &mut [f64]),
        input_of: impl Fn(usize) -> usize,
    ) -> Result<Vec<f64>> {
        let mut scores = Vec::with_capacity(total);
        self.run(total, fill, |start, out, k| {
            scores.extend(scorer.score(out, k, |s| input_of(start + s))?);
            Ok(())
        })?;
        Ok(scores)
    }

    /// Evaluate `total` rows and return all outputs `[total, K]` row-major, and `K`.
    pub fn outputs(
        &self,
        total: usize,
        fill: impl Fn(usize, &mut [f64]),
    ) -> Result<(Vec<f64>, usize)> {
        let mut all = Vec::new();
        let mut classes = 0;
        self.run(total, fill, |_, out, k| {
            classes = k;
            all.extend_from_slice(out);
            Ok(())
        })?;
        Ok((all, classes))
    }
}

/// Shared handle used by the tests and the `xai` program: a boxed black box.
pub type SharedBlackBox = Arc<dyn BlackBox + Send + Sync>;
