//! Generation attribution for causal language models: which prompt segments drove each token of
//! a continuation (what Captum's `LLMAttribution` offers, with gradient and relevance methods
//! beside the perturbation ones).
//!
//! The model is a [`TokenExplainable`] whose forward maps ids `[N, T]` to the next-token logits
//! at the last position, `[N, V]` (`logits[:, T−1, :]`). For a prompt `p` (length `P`) and a
//! target continuation `y` (given, or generated greedily), target token `j` is explained on the
//! sequence `p ++ y[..j]` with `y_j` as the class. The perturbation methods explain
//! `log p(y_j | p, y_<j)` (the softmax taken here, as Captum's `LLMAttribution` does); the
//! gradient and relevance methods explain the target's logit, the quantity AttnLRP conserves
//! (a log-probability near 0 has vanishing gradients, and CP-LRP would stop all relevance at
//! its softmax). Segments are ranges of prompt positions (one per token by
//! default, or words and user spans); a segment's score is the sum over its positions, and
//! relevance on earlier generated tokens is left out of the matrix. Methods:
//!
//! - **Ablation**: `φ_s = log p(y_j | …) − log p(y_j | segment s replaced by the pad token)`; all
//!   segments of a row in one batch.
//! - **KernelSHAP** over segments (a segment present or replaced by the pad token), with
//!   [`xai_core::agnostic::kernel_shap`]; exact Shapley values when `2^S − 2` coalitions fit the
//!   sample count. Complete: `Σ_s φ_s = log p(y_j | p) − log p(y_j | all segments padded)`.
//! - **Gradient × embedding** and **layer integrated gradients** at the token embedding (pad
//!   baseline; complete up to the quadrature error), from [`super::text`].
//! - **AttnLRP** and **CP-LRP** at the token embedding, from [`super::attnlrp`].
//!
//! Shapes: `matrix` is `[target tokens × segments]`; `target_logprobs[j] = log p(y_j | …)`, and
//! `total_logprob` their sum (the sequence's log-likelihood).
//!
//! Validation happens first: an empty prompt or target, a segment outside the prompt or empty,
//! and ids outside the vocabulary are errors before any pass.

use std::ops::Range;

use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use xai_core::agnostic::{BlackBox, KernelShap, References, Rows, RunOptions, kernel_shap};
use xai_core::{Result, Target, XaiError};

use super::attnlrp::{TransformerRules, token_attnlrp};
use super::integrated_gradients::IgConfig;
use super::text::{
    TokenExplainable, padding_baseline, token_gradient_x_embedding, token_integrated_gradients,
};

/// How each target token is attributed to the prompt segments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum GenerationMethod {
    /// Leave one segment out (replaced by the pad token).
    Ablation,
    /// KernelSHAP over segments.
    KernelShap {
        /// Coalitions per target token.
        samples: usize,
        /// Seed of the coalition sampler.
        seed: u64,
    },
    /// Gradient × embedding.
    GradientXEmbedding,
    /// Layer integrated gradients at the embedding, pad baseline.
    IntegratedGradients(IgConfig),
    /// AttnLRP relevance at the embedding.
    AttnLrp,
    /// CP-LRP relevance at the embedding.
    CpLrp,
}

impl GenerationMethod {
    /// Every method with its default settings (KernelSHAP: 512 coalitions per target token,
    /// drawn from `seed`; layer IG: [`IgConfig::default`]), in a fixed order.
    pub fn all(seed: u64) -> Vec<GenerationMethod> {
        vec![
            GenerationMethod::Ablation,
            GenerationMethod::KernelShap { samples: 512, seed },
            GenerationMethod::GradientXEmbedding,
            GenerationMethod::IntegratedGradients(IgConfig::default()),
            GenerationMethod::AttnLrp,
            GenerationMethod::CpLrp,
        ]
    }

    /// Canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            GenerationMethod::Ablation => "ablation",
            GenerationMethod::KernelShap { .. } => "kernel_shap",
            GenerationMethod::GradientXEmbedding => "gradient_x_embedding",
            GenerationMethod::IntegratedGradients(_) => "layer_integrated_gradients",
            GenerationMethod::AttnLrp => "attnlrp",
            GenerationMethod::CpLrp => "cp_lrp",
        }
    }
}

/// The attribution of a continuation to prompt segments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationAttribution {
    /// The method's name.
    pub method: String,
    /// The prompt's ids.
    pub prompt: Vec<usize>,
    /// The continuation's ids.
    pub target: Vec<usize>,
    /// Prompt positions of each segment.
    pub segments: Vec<Range<usize>>,
    /// `[target token][segment]`.
    pub matrix: Vec<Vec<f64>>,
    /// `log p(y_j | prompt, y_<j)` per target token.
    pub target_logprobs: Vec<f64>,
    /// The target token's logit per target token (what the gradient and relevance methods
    /// explain).
    pub target_logits: Vec<f64>,
    /// The sum of `target_logprobs`.
    pub total_logprob: f64,
}

/// One segment per prompt token.
pub fn token_segments(prompt_len: usize) -> Vec<Range<usize>> {
    (0..prompt_len).map(|i| i..i + 1).collect()
}

fn ids(tokens: &[usize], n: usize, ex: &TokenExplainable<2>) -> Tensor<2, Int> {
    let len = tokens.len() / n.max(1);
    let v: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    Tensor::from_data(TensorData::new(v, [n, len]), &ex.device)
}

/// Next-token logits `[n, V]` of the rows `tokens` (`n` sequences of equal length), in f64.
fn logits(ex: &TokenExplainable<2>, tokens: &[usize], n: usize) -> Result<(Vec<f64>, usize)> {
    let out = xai_core::tensor_to_vec_f64(ex.forward(&ids(tokens, n, ex))?)?;
    let v = out.len() / n.max(1);
    Ok((out, v))
}

/// Log-softmax of every row of `values` (rows of `v`), in place.
fn log_softmax_rows(values: &mut [f64], v: usize) {
    for row in values.chunks_mut(v.max(1)) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z = row.iter().map(|x| (x - m).exp()).sum::<f64>().ln() + m;
        row.iter_mut().for_each(|x| *x -= z);
    }
}

/// Next-token log-probabilities `[n, V]` of the rows `tokens`: a log-softmax of the logits.
fn logprobs(ex: &TokenExplainable<2>, tokens: &[usize], n: usize) -> Result<(Vec<f64>, usize)> {
    let (mut lp, v) = logits(ex, tokens, n)?;
    log_softmax_rows(&mut lp, v);
    Ok((lp, v))
}

/// Greedy continuation of `prompt` by `tokens` tokens under the model.
pub fn greedy(ex: &TokenExplainable<2>, prompt: &[usize], tokens: usize) -> Result<Vec<usize>> {
    if prompt.is_empty() {
        return Err(XaiError::EmptyBatch("an empty prompt".into()));
    }
    let mut seq = prompt.to_vec();
    for _ in 0..tokens {
        let (lp, _) = logprobs(ex, &seq, 1)?;
        seq.push(xai_core::agnostic::argmax(&lp));
    }
    Ok(seq[prompt.len()..].to_vec())
}

/// Segment presence rows → the target token's log-probability.
struct Segmented<'a> {
    ex: &'a TokenExplainable<2>,
    sequence: &'a [usize],
    segments: &'a [Range<usize>],
    pad: usize,
    class: usize,
}

impl BlackBox for Segmented<'_> {
    fn features(&self) -> usize {
        self.segments.len()
    }

    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        let s = self.segments.len();
        let mut tokens = Vec::with_capacity(n * self.sequence.len());
        for row in rows.chunks(s) {
            let mut seq = self.sequence.to_vec();
            for (present, r) in row.iter().zip(self.segments) {
                if *present < 0.5 {
                    seq[r.clone()].iter_mut().for_each(|t| *t = self.pad);
                }
            }
            tokens.extend(seq);
        }
        let (lp, v) = logprobs(self.ex, &tokens, n)?;
        Ok(lp.chunks(v).map(|row| row[self.class]).collect())
    }

    fn bytes_per_row(&self) -> usize {
        // A sequence's activations, generously: the vocabulary-sized logits dominate small models.
        self.sequence.len() * 4 * 4096
    }
}

/// Attribute each token of `target` to the `segments` of `prompt` (see the module docs).
/// `segments`: `None` is one segment per prompt token; `pad`: the token that stands for
/// "absent" (the ablation value and the gradient methods' baseline).
pub fn generation_attribution(
    ex: &TokenExplainable<2>,
    prompt: &[usize],
    target: &[usize],
    segments: Option<&[Range<usize>]>,
    method: &GenerationMethod,
    pad: usize,
) -> Result<GenerationAttribution> {
    if prompt.is_empty() || target.is_empty() {
        return Err(XaiError::EmptyBatch(
            "generation attribution needs a prompt and at least one target token".into(),
        ));
    }
    let segments: Vec<Range<usize>> =
        segments.map_or_else(|| token_segments(prompt.len()), <[_]>::to_vec);
    if segments.is_empty() {
        return Err(XaiError::Config(
            "no prompt segments to attribute to".into(),
        ));
    }
    if let Some(r) = segments
        .iter()
        .find(|r| r.is_empty() || r.end > prompt.len())
    {
        return Err(XaiError::Config(format!(
            "segment {r:?} is empty or outside the prompt (0..{})",
            prompt.len()
        )));
    }
    let mut matrix = Vec::with_capacity(target.len());
    let mut target_logprobs = Vec::with_capacity(target.len());
    let mut target_logits = Vec::with_capacity(target.len());
    for (j, &class) in target.iter().enumerate() {
        let sequence: Vec<usize> = prompt.iter().chain(&target[..j]).copied().collect();
        let (mut out, v) = logits(ex, &sequence, 1)?;
        if class >= v {
            return Err(XaiError::TargetOutOfRange {
                index: class,
                classes: v,
            });
        }
        target_logits.push(out[class]);
        log_softmax_rows(&mut out, v);
        target_logprobs.push(out[class]);
        let per_position = |per_token: &[f64]| -> Vec<f64> {
            segments
                .iter()
                .map(|r| per_token[r.clone()].iter().sum())
                .collect()
        };
        let x = ids(&sequence, 1, ex);
        let t = Target::Class(class);
        // The perturbation methods' view: segment presence rows → log p(y_j).
        let model = Segmented {
            ex,
            sequence: &sequence,
            segments: &segments,
            pad,
            class,
        };
        let row = match method {
            GenerationMethod::Ablation => {
                let s = segments.len();
                let mut rows = vec![1.0; (s + 1) * s];
                for k in 0..s {
                    rows[(k + 1) * s + k] = 0.0;
                }
                let out = model.predict(&rows, s + 1)?;
                out[1..].iter().map(|o| out[0] - o).collect()
            }
            GenerationMethod::KernelShap { samples, seed } => {
                let s = segments.len();
                let ones = vec![1.0; s];
                let config = KernelShap {
                    samples: *samples,
                    seed: *seed,
                    run: RunOptions {
                        progress: false,
                        ..RunOptions::default()
                    },
                    ..KernelShap::default()
                };
                let r = kernel_shap(
                    &model,
                    &Rows::new(&ones, s)?,
                    &Target::Class(0),
                    &References::PerInput(vec![0.0; s]),
                    &config,
                )?;
                r.attribution.values
            }
            GenerationMethod::GradientXEmbedding => {
                per_position(&token_gradient_x_embedding(ex, &x, &t)?.per_token)
            }
            GenerationMethod::IntegratedGradients(cfg) => {
                let baseline = padding_baseline(&x, pad as i64, &[]);
                per_position(&token_integrated_gradients(ex, &x, &baseline, &t, cfg)?.per_token)
            }
            GenerationMethod::AttnLrp => {
                per_position(&token_attnlrp(ex, &x, &t, TransformerRules::AttnLrp)?.per_token)
            }
            GenerationMethod::CpLrp => {
                per_position(&token_attnlrp(ex, &x, &t, TransformerRules::CpLrp)?.per_token)
            }
        };
        if let Some(v) = row.iter().find(|v| !v.is_finite()) {
            return Err(XaiError::NonFinite(format!(
                "{} gave {v} for target token {j}",
                method.name()
            )));
        }
        matrix.push(row);
    }
    Ok(GenerationAttribution {
        method: method.name().into(),
        prompt: prompt.to_vec(),
        target: target.to_vec(),
        segments,
        matrix,
        total_logprob: target_logprobs.iter().sum(),
        target_logprobs,
        target_logits,
    })
}
