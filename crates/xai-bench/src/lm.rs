//! `xai lm bench`: generation attribution on the recall language model, judged by the planted
//! answer source.
//!
//! Trains [`TinyLm`] from the seed (about ten seconds on two cores; or loads weights an earlier
//! run saved), then for each held-out recall
//! prompt explains the model's answer with every generation method, over all prompt tokens:
//!
//! - **top-1 at the source**: the share of prompts whose highest-scoring *pair* token is the pair
//!   that holds the answer (chance: one over the pairs);
//! - **deletion AUC**: pairs padded cumulatively in the method's order, the answer's
//!   log-probability after each step, trapezoid area over the removed fraction `[0, 1]` (lower:
//!   the method found what the answer needs first); a seeded random order is the reference row;
//! - **conservation**: `Σ_t φ_t` over every prompt token over what the method claims to
//!   distribute — the answer's logit for AttnLRP and CP-LRP (biases and the position embeddings
//!   keep the rest), the logit minus its value on the all-pad prompt for layer IG, and
//!   `log p(answer)` minus its all-pad value for KernelSHAP (exact Shapley values here); none for
//!   ablation and gradient × embedding, which claim none;
//! - **seconds** per prompt.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use xai_core::{Result, XaiError};
use xai_grad::methods::generation::{
    GenerationAttribution, GenerationMethod, generation_attribution,
};
use xai_proto::data::recall::{Recall, Vocab};
use xai_proto::lm::{LmConfig, LmTrainLog, TinyLm, ids_tensor};

/// One method's figures.
#[derive(Clone, Debug, Serialize)]
pub struct LmMethodFigures {
    /// Share of prompts whose top pair is the source.
    pub top1: f64,
    /// Mean deletion AUC of the answer's log-probability.
    pub deletion_auc: f64,
    /// Mean `Σ φ` over what the method distributes (see the module docs); `None` where the
    /// method claims no conservation.
    pub conservation: Option<f64>,
    /// Mean seconds per prompt.
    pub seconds: f64,
}

/// Where the benchmark's model comes from.
#[derive(Clone, Copy, Debug)]
pub enum LmSource<'a> {
    /// Trained from the seed; saved to the path when one is given.
    Train {
        /// Where to write the trained weights (burnpack).
        save: Option<&'a std::path::Path>,
    },
    /// Weights written by an earlier `--save`.
    Load(&'a std::path::Path),
}

/// The benchmark's result.
#[derive(Clone, Debug, Serialize)]
pub struct LmBench {
    /// Training (`None` for a loaded model).
    pub training: Option<LmTrainLog>,
    /// The weights file the model was loaded from.
    pub loaded_from: Option<String>,
    /// Answer accuracy on 500 held-out prompts.
    pub accuracy: f64,
    /// Prompts explained.
    pub prompts: usize,
    /// Per method (by name; `random` is a seeded random order of the pairs, the reference).
    pub methods: BTreeMap<String, LmMethodFigures>,
    /// Head ablation importance `[layer][head]` (nats of answer log-probability lost).
    pub head_importance: Vec<Vec<f64>>,
    /// Per layer and head, the mean attention of the last position (`->`, where the answer is
    /// predicted) on the pair that holds the answer (`[layer][head]`; uniform would be
    /// `1 / tokens`).
    pub attention_to_source: Vec<Vec<f64>>,
    /// The example prompt's attention maps: per layer and head, the last position's weights over
    /// the prompt (`[layer][head][token]`).
    pub example_attention: Vec<Vec<Vec<f64>>>,
    /// An example: the prompt's tokens, the answer and each method's scores per token.
    pub example: Vec<GenerationAttribution>,
}

/// The answer's log-probability after padding the pairs in `order` one by one (`pairs + 1`
/// values, the untouched prompt first).
fn deletion_curve(
    lm: &TinyLm,
    tokens: &[usize],
    answer: usize,
    order: &[usize],
) -> Result<Vec<f64>> {
    let mut rows = Vec::with_capacity((order.len() + 1) * tokens.len());
    let mut seq = tokens.to_vec();
    rows.extend_from_slice(&seq);
    for &p in order {
        seq[p] = Vocab::PAD;
        rows.extend_from_slice(&seq);
    }
    let n = order.len() + 1;
    let lp = lm.next_token_logprobs(ids_tensor(&rows, n, &Device::flex()));
    let lp = xai_core::tensor_to_vec_f64(lp)?;
    Ok(lp.chunks(Vocab::SIZE).map(|r| r[answer]).collect())
}

fn auc(curve: &[f64]) -> f64 {
    let steps = (curve.len() - 1).max(1) as f64;
    curve.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum::<f64>() / steps
}

/// Train from `seed` (or load) and run the benchmark on `prompts` held-out prompts.
pub fn run(seed: u64, prompts: usize, progress: bool, source: LmSource) -> Result<LmBench> {
    if prompts == 0 {
        return Err(XaiError::Config("--prompts must be at least 1".into()));
    }
    let config = LmConfig::default();
    let (lm, training, loaded_from) = match source {
        LmSource::Train { save } => {
            let (lm, log) = TinyLm::train_recall(&config, seed, progress)?;
            if let Some(path) = save {
                lm.save(path)?;
            }
            (lm, Some(log), None)
        }
        LmSource::Load(path) => (
            TinyLm::load(&config, path)?,
            None,
            Some(path.display().to_string()),
        ),
    };
    let accuracy = match &training {
        Some(log) => log.accuracy,
        None => lm.recall_accuracy(&Recall::generate(500, config.pairs, seed ^ 0xacc))?,
    };
    let ex = lm.clone().into_explainer(Device::flex());
    let set = Recall::generate(prompts, config.pairs, seed.wrapping_add(0x5e7));
    let pairs = config.pairs;
    let mut methods = BTreeMap::new();
    let mut example = Vec::new();
    let mut rng = StdRng::seed_from_u64(seed);
    for method in GenerationMethod::all(0) {
        let (mut hits, mut deletion, mut conserved, mut seconds) = (0usize, 0.0, 0.0, 0.0);
        for (i, p) in set.prompts.iter().enumerate() {
            let clock = Instant::now();
            let r = generation_attribution(&ex, &p.tokens, &[p.answer], None, &method, Vocab::PAD)?;
            seconds += clock.elapsed().as_secs_f64();
            let row = &r.matrix[0];
            let mut order: Vec<usize> = (0..pairs).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            hits += usize::from(order[0] == p.source);
            deletion += auc(&deletion_curve(&lm, &p.tokens, p.answer, &order)?);
            let total: f64 = row.iter().sum();
            let padded = vec![Vocab::PAD; p.tokens.len()];
            conserved += match method {
                GenerationMethod::Ablation | GenerationMethod::GradientXEmbedding => f64::NAN,
                GenerationMethod::KernelShap { .. } => {
                    let none = deletion_curve(&lm, &padded, p.answer, &[])?[0];
                    total / (r.total_logprob - none)
                }
                GenerationMethod::IntegratedGradients(_) => {
                    let none = lm.next_token_logits(ids_tensor(&padded, 1, &Device::flex()));
                    let none = xai_core::tensor_to_vec_f64(none)?[p.answer];
                    total / (r.target_logits[0] - none)
                }
                GenerationMethod::AttnLrp | GenerationMethod::CpLrp => total / r.target_logits[0],
            };
            if i == 0 {
                example.push(r);
            }
        }
        let n = prompts as f64;
        methods.insert(
            method.name().to_string(),
            LmMethodFigures {
                top1: hits as f64 / n,
                deletion_auc: deletion / n,
                conservation: (!conserved.is_nan()).then_some(conserved / n),
                seconds: seconds / n,
            },
        );
    }
    // The reference: a seeded random order of the pairs.
    let (mut hits, mut deletion) = (0usize, 0.0);
    for p in &set.prompts {
        let mut order: Vec<usize> = (0..pairs).collect();
        order.shuffle(&mut rng);
        hits += usize::from(order[0] == p.source);
        deletion += auc(&deletion_curve(&lm, &p.tokens, p.answer, &order)?);
    }
    methods.insert(
        "random".to_string(),
        LmMethodFigures {
            top1: hits as f64 / prompts as f64,
            deletion_auc: deletion / prompts as f64,
            conservation: None,
            seconds: 0.0,
        },
    );
    let head_importance = lm.head_importance(&set)?;
    let (attention_to_source, example_attention) = attention_at_answer(&lm, &set)?;
    Ok(LmBench {
        training,
        loaded_from,
        accuracy,
        prompts,
        methods,
        head_importance,
        attention_to_source,
        example_attention,
        example,
    })
}

/// One value per head of each layer, `[layer][head]`.
type PerHead<T> = Vec<Vec<T>>;

/// The attention of every prompt's last position per layer and head: its mean weight on the
/// answer's source pair, and the first prompt's whole row.
fn attention_at_answer(lm: &TinyLm, set: &Recall) -> Result<(PerHead<f64>, PerHead<Vec<f64>>)> {
    let n = set.prompts.len();
    let t = set.prompts[0].tokens.len();
    let maps = lm.attention_maps(ids_tensor(&set.token_rows(), n, &Device::flex()));
    let (mut to_source, mut example) = (Vec::new(), Vec::new());
    for map in maps {
        let [_, heads, _, _] = map.dims();
        // [N, H, T, T] → the last query row of each head: [N, H, T].
        let last = xai_core::tensor_to_vec_f64(map.narrow(2, t - 1, 1))?;
        let row = |i: usize, h: usize| &last[(i * heads + h) * t..(i * heads + h + 1) * t];
        to_source.push(
            (0..heads)
                .map(|h| {
                    set.prompts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| row(i, h)[p.source])
                        .sum::<f64>()
                        / n as f64
                })
                .collect(),
        );
        example.push((0..heads).map(|h| row(0, h).to_vec()).collect());
    }
    Ok((to_source, example))
}
