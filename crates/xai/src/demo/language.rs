//! The report's language-model section: the recall LM (`xai_proto::lm::TinyLm`, trained from
//! the demo's seed) answers a few held-out prompts, and every generation method says which
//! prompt token decided the answer (`xai_grad::methods::generation`).

use burn::tensor::Device;
use serde::Serialize;

use xai_core::Result;
use xai_grad::methods::generation::{GenerationMethod, generation_attribution, greedy};
use xai_proto::data::recall::{Recall, Vocab};
use xai_proto::lm::{LmConfig, LmTrainLog, TinyLm};

/// One explained prompt.
#[derive(Clone, Debug, Serialize)]
pub struct DemoPrompt {
    /// The prompt's tokens, readable.
    pub tokens: Vec<String>,
    /// The right answer.
    pub answer: String,
    /// What the model generated.
    pub generated: String,
    /// Position of the pair that holds the answer.
    pub source: usize,
    /// Per method, one score per prompt token.
    pub scores: Vec<(String, Vec<f64>)>,
}

/// The section's results.
#[derive(Clone, Debug, Serialize)]
pub struct DemoLanguageModel {
    /// Training.
    pub training: LmTrainLog,
    /// The explained prompts.
    pub prompts: Vec<DemoPrompt>,
    /// Per method, the share of the prompts whose highest-scoring pair holds the answer.
    pub top1_at_source: Vec<(String, f64)>,
}

/// Train the LM from `seed` and explain `count` held-out prompts with every method.
pub fn language_model_of(seed: u64, count: usize, progress: bool) -> Result<DemoLanguageModel> {
    let config = LmConfig::default();
    let (lm, training) = TinyLm::train_recall(&config, seed, progress)?;
    let ex = lm.into_explainer(Device::flex());
    let set = Recall::generate(count, config.pairs, seed.wrapping_add(1));
    let methods = GenerationMethod::all(seed);
    let mut hits = vec![0usize; methods.len()];
    let mut prompts = Vec::with_capacity(count);
    for p in &set.prompts {
        let generated = greedy(&ex, &p.tokens, 1)?;
        let mut scores = Vec::with_capacity(methods.len());
        for (m, method) in methods.iter().enumerate() {
            let r = generation_attribution(&ex, &p.tokens, &[p.answer], None, method, Vocab::PAD)?;
            let row = r.matrix[0].clone();
            let top = (0..config.pairs).max_by(|&a, &b| row[a].total_cmp(&row[b]));
            hits[m] += usize::from(top == Some(p.source));
            scores.push((method.name().to_string(), row));
        }
        prompts.push(DemoPrompt {
            tokens: p.tokens.iter().map(|&t| Vocab::name(t)).collect(),
            answer: Vocab::name(p.answer),
            generated: Vocab::name(generated[0]),
            source: p.source,
            scores,
        });
    }
    let top1_at_source = methods
        .iter()
        .zip(&hits)
        .map(|(m, &h)| (m.name().to_string(), h as f64 / count.max(1) as f64))
        .collect();
    Ok(DemoLanguageModel {
        training,
        prompts,
        top1_at_source,
    })
}
