//! LIME (Ribeiro et al. 2016): explain one prediction by a weighted linear surrogate fitted on
//! perturbations around the input.
//!
//! For input `x`, draw samples `z_s`, label them with the model `f(z_s)`, weight them by a
//! proximity kernel `π(z_s) = sqrt(exp(−d(x, z_s)² / width²))` (the `lime` package's kernel), and
//! fit `g(z') = β₀ + βᵀz'` on an interpretable representation `z'` by weighted least squares,
//! weighted LASSO or forward selection to `K` features ([`FitMethod`]). Every explanation reports
//! the surrogate's local fidelity, the weighted R² of that fit.
//!
//! Two samplers:
//! - [`lime_tabular`]: continuous features are perturbed around the instance with the training
//!   standard deviation (`z_j = x_j + σ_j ε`), categorical features are redrawn from their
//!   training frequencies. The representation is `(z_j − x_j)/σ_j` for continuous features and
//!   `1[z_j = x_j]` for categorical ones; the distance is Euclidean in that space and the default
//!   width `0.75·√F`. Coefficients are reported per original unit (`β_j/σ_j`: for a linear model
//!   these are its weights) and per standard deviation (`β_j`, what `lime` prints).
//! - [`lime_groups`]: images (groups = superpixels) and text (groups = tokens): `z' ∈ {0,1}^G`
//!   switches groups on or off, off groups take the reference (a baseline colour, noise, a pad
//!   token); distance is cosine distance to the all-on vector, default width 0.25.
//!
//! The first sample is always the unperturbed input, as in `lime`. Samples of one input are
//! evaluated in budget-sized chunks; inputs are explained one after another.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::ablation::RowAttribution;
use super::linear::{FitMethod, LinearFit, fit};
use super::shapley::compose;
use super::{BlackBox, Evaluator, FeatureGroups, References, Rows, RunOptions, Scorer};
use crate::error::{Result, XaiError};
use crate::target::Target;

/// Training-set statistics LIME samples from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TabularStats {
    /// Standard deviation of each feature (ignored for categorical ones).
    pub std: Vec<f64>,
    /// For each categorical feature, its values and their frequencies; `None` for continuous.
    pub categories: Vec<Option<Vec<(f64, f64)>>>,
}

impl TabularStats {
    /// Statistics of `training` rows (`[m, f]` row-major); features listed in `categorical`
    /// are treated as categorical.
    pub fn from_training(training: &[f64], f: usize, categorical: &[usize]) -> Result<Self> {
        let rows = Rows::new(training, f)?;
        if let Some(&bad) = categorical.iter().find(|&&j| j >= f) {
            return Err(XaiError::Config(format!(
                "categorical feature {bad} out of range for {f} features"
            )));
        }
        let m = rows.n as f64;
        let mut std = Vec::with_capacity(f);
        let mut categories = Vec::with_capacity(f);
        for j in 0..f {
            let col: Vec<f64> = (0..rows.n).map(|i| rows.row(i)[j]).collect();
            let mean = col.iter().sum::<f64>() / m;
            std.push((col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m).sqrt());
            categories.push(if categorical.contains(&j) {
                let mut values: Vec<f64> = col.clone();
                values.sort_by(f64::total_cmp);
                values.dedup();
                Some(
                    values
                        .iter()
                        .map(|&v| (v, col.iter().filter(|&&c| c == v).count() as f64 / m))
                        .collect(),
                )
            } else {
                None
            });
        }
        Ok(TabularStats { std, categories })
    }
}

/// Settings of [`lime_tabular`] and [`lime_groups`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LimeTabular {
    /// Perturbed samples per input (the input itself included).
    pub samples: usize,
    /// Kernel width; `None`: `0.75·√F` (tabular) or `0.25` (groups), as in `lime`.
    pub kernel_width: Option<f64>,
    /// The surrogate's fitting method.
    pub fit: LimeFit,
    /// Seed of the sampler.
    pub seed: u64,
    /// Budget and progress.
    pub run: RunOptions,
}

/// The surrogate fit, re-exported under LIME's name.
pub type LimeFit = FitMethod;

impl Default for LimeTabular {
    fn default() -> Self {
        LimeTabular {
            samples: 5000,
            kernel_width: None,
            // `lime` fits Ridge(alpha = 1) on unnormalised weights; on normalised weights the
            // equivalent penalty is tiny, so the default is (almost) plain WLS.
            fit: FitMethod::Ridge { alpha: 1e-6 },
            seed: 0,
            run: RunOptions::default(),
        }
    }
}

/// What LIME returns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LimeResult {
    /// Local coefficients per feature in the input's units (tabular), or per group spread over
    /// its features (groups).
    pub attribution: RowAttribution,
    /// Tabular only: coefficients per training standard deviation (what `lime` prints), `n · F`.
    pub standardized: Option<Vec<f64>>,
    /// The surrogate of each input (intercept, coefficients in the fitted representation, R²).
    pub surrogates: Vec<LinearFit>,
    /// Local fidelity per input: the surrogate's weighted R².
    pub fidelity: Vec<f64>,
    /// The sampler's seed.
    pub seed: u64,
}

fn check_common<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    config: &LimeTabular,
) -> Result<()> {
    if model.features() != inputs.f {
        return Err(XaiError::shape(
            "inputs",
            format!("{} features", model.features()),
            &[inputs.n, inputs.f],
        ));
    }
    if config.samples < 2 {
        return Err(XaiError::Config(
            "LIME needs at least 2 samples per input".into(),
        ));
    }
    if let Some(w) = config.kernel_width
        && !(w.is_finite() && w > 0.0)
    {
        return Err(XaiError::Config(format!(
            "LIME kernel width must be positive, got {w}"
        )));
    }
    Ok(())
}

/// Tabular LIME of `inputs` for `target`, sampling from `stats`.
pub fn lime_tabular<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    target: &Target,
    stats: &TabularStats,
    config: &LimeTabular,
) -> Result<LimeResult> {
    check_common(model, inputs, config)?;
    let (n, f, s) = (inputs.n, inputs.f, config.samples);
    if stats.std.len() != f || stats.categories.len() != f {
        return Err(XaiError::shape(
            "LIME training statistics",
            format!("{f} features"),
            &[stats.std.len()],
        ));
    }
    let width = config.kernel_width.unwrap_or(0.75 * (f as f64).sqrt());
    let scorer = Scorer::resolve(model, inputs, target)?;
    let eval = Evaluator::new(model, &config.run, "LIME");
    let mut rng = StdRng::seed_from_u64(config.seed);
    let (mut values, mut standardized, mut surrogates, mut fidelity) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let x = inputs.row(i);
        let mut z = vec![0.0; s * f]; // model-space samples
        let mut zr = vec![0.0; s * f]; // interpretable representation
        z[..f].copy_from_slice(x);
        for (j, c) in stats.categories.iter().enumerate() {
            if c.is_some() {
                zr[j] = 1.0;
            }
        }
        for t in 1..s {
            for j in 0..f {
                let (v, rep) = match &stats.categories[j] {
                    Some(cats) => {
                        let mut u: f64 = rng.random();
                        let mut v = cats[cats.len() - 1].0;
                        for &(value, freq) in cats {
                            if u < freq {
                                v = value;
                                break;
                            }
                            u -= freq;
                        }
                        (v, f64::from(u8::from(v == x[j])))
                    }
                    None if stats.std[j] > 0.0 => {
                        let e: f64 = StandardNormal.sample(&mut rng);
                        (x[j] + stats.std[j] * e, e)
                    }
                    None => (x[j], 0.0),
                };
                z[t * f + j] = v;
                zr[t * f + j] = rep;
            }
        }
        let y = eval.scores(
            s,
            &scorer,
            |t, row| row.copy_from_slice(&z[t * f..(t + 1) * f]),
            |_| i,
        )?;
        let w: Vec<f64> = (0..s)
            .map(|t| {
                let d2: f64 = (0..f)
                    .map(|j| match stats.categories[j] {
                        Some(_) => (1.0 - zr[t * f + j]).powi(2),
                        None => zr[t * f + j].powi(2),
                    })
                    .sum();
                (-d2 / (width * width)).exp().sqrt()
            })
            .collect();
        let sur = fit(&zr, &y, &w, f, &config.fit)?;
        for j in 0..f {
            let per_unit = match stats.categories[j] {
                Some(_) => sur.coef[j],
                None if stats.std[j] > 0.0 => sur.coef[j] / stats.std[j],
                None => 0.0,
            };
            values.push(per_unit);
            standardized.push(sur.coef[j]);
        }
        fidelity.push(sur.r2);
        surrogates.push(sur);
    }
    Ok(LimeResult {
        attribution: RowAttribution {
            method: "lime_tabular".into(),
            values,
            n,
            features: f,
            targets: scorer.classes().map(|c| c.to_vec()),
        },
        standardized: Some(standardized),
        surrogates,
        fidelity,
        seed: config.seed,
    })
}

/// LIME over feature groups switched on and off (images with superpixels, text with tokens):
/// off groups take their values from `references` (first reference row per input).
pub fn lime_groups<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    target: &Target,
    groups: &FeatureGroups,
    references: &References,
    config: &LimeTabular,
) -> Result<LimeResult> {
    check_common(model, inputs, config)?;
    let (n, f, s) = (inputs.n, inputs.f, config.samples);
    super::prepare(model, inputs, references, Some(groups))?;
    let g = groups.count();
    let width = config.kernel_width.unwrap_or(0.25);
    let scorer = Scorer::resolve(model, inputs, target)?;
    let eval = Evaluator::new(model, &config.run, "LIME");
    let mut rng = StdRng::seed_from_u64(config.seed);
    let (mut values, mut surrogates, mut fidelity) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        // As in `lime`: pick how many groups to switch off uniformly, then which ones.
        let mut zr = vec![1.0; s * g];
        for t in 1..s {
            let off = rng.random_range(1..=g);
            for k in rand::seq::index::sample(&mut rng, g, off) {
                zr[t * g + k] = 0.0;
            }
        }
        let y = eval.scores(
            s,
            &scorer,
            |t, row| {
                compose(row, inputs.row(i), references.row(i, 0, f), groups, |k| {
                    zr[t * g + k] > 0.5
                })
            },
            |_| i,
        )?;
        let w: Vec<f64> = (0..s)
            .map(|t| {
                let on: f64 = zr[t * g..(t + 1) * g].iter().sum();
                // Cosine distance between z' and the all-on vector.
                let d = 1.0 - on / ((on.max(1e-12)).sqrt() * (g as f64).sqrt());
                (-(d * d) / (width * width)).exp().sqrt()
            })
            .collect();
        let sur = fit(&zr, &y, &w, g, &config.fit)?;
        values.extend(groups.expand(&sur.coef));
        fidelity.push(sur.r2);
        surrogates.push(sur);
    }
    Ok(LimeResult {
        attribution: RowAttribution {
            method: "lime_groups".into(),
            values,
            n,
            features: f,
            targets: scorer.classes().map(|c| c.to_vec()),
        },
        standardized: None,
        surrogates,
        fidelity,
        seed: config.seed,
    })
}

/// Text LIME over a token-id sequence (one row of `tokens` per input is not needed: one text at
/// a time). With `bag_of_words`, every occurrence of a word is removed together (one group per
/// distinct token id, as `lime`'s default); otherwise each position is its own group. Removed
/// tokens are replaced by `mask_token` (a pad/unk id). Returns the explanation with one value
/// per position (positions of one word share its value) and the group of each position.
pub fn lime_text<M: BlackBox + ?Sized>(
    model: &M,
    tokens: &[f64],
    target: &Target,
    mask_token: f64,
    bag_of_words: bool,
    config: &LimeTabular,
) -> Result<(LimeResult, FeatureGroups)> {
    if tokens.is_empty() {
        return Err(XaiError::EmptyBatch("text with no tokens".into()));
    }
    let groups = if bag_of_words {
        let mut ids: Vec<u64> = Vec::new();
        let mask = tokens
            .iter()
            .map(|t| {
                let key = t.to_bits();
                ids.iter().position(|&k| k == key).unwrap_or_else(|| {
                    ids.push(key);
                    ids.len() - 1
                })
            })
            .collect();
        FeatureGroups::from_mask(mask)?
    } else {
        FeatureGroups::singletons(tokens.len())
    };
    let rows = Rows::new(tokens, tokens.len())?;
    let refs = References::PerInput(vec![mask_token; tokens.len()]);
    let mut res = lime_groups(model, &rows, target, &groups, &refs, config)?;
    res.attribution.method = "lime_text".into();
    Ok((res, groups))
}
