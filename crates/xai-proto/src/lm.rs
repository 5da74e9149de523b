//! A small causal language model in burn, trained in-process on the key–value recall corpus
//! ([`crate::data::recall`]), for explaining generation with a known answer source.
//!
//! Architecture (GPT-style): token + learned position embeddings; `layers` pre-LN blocks of
//! causal multi-head self-attention ([`crate::transformer`], written out so heads can be switched off one by one)
//! and a GELU MLP, each added to the residual stream; a final LayerNorm; the unembedding is the
//! token embedding transposed (weight tying). Every parameter is initialised from the model's
//! seed ([`xai_core::init::seeded`]) and training draws batches from its own `StdRng`, so a
//! trained model is a function of its seed.
//!
//! Shapes: ids `[N, T]` (`T ≤ max_len`), logits `[N, T, V]`; [`TinyLm::next_token_logits`]
//! gives the logits at the last position, `[N, V]` — the form the generation explainers
//! ([`xai_grad::methods::generation`]) take, with the answer token as the target class.
//!
//! ```no_run
//! use xai_proto::lm::{LmConfig, TinyLm};
//! let (lm, log) = TinyLm::train_recall(&LmConfig::default(), 0, false).unwrap();
//! assert!(log.accuracy > 0.9);
//! ```

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use xai_core::{Result, XaiError};

use crate::data::recall::{Recall, Vocab};
use crate::transformer::Block;

/// Sizes of a [`TinyLm`] and its training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Attention heads per layer (divides `d_model`).
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden width of each MLP.
    pub d_ff: usize,
    /// Longest sequence.
    pub max_len: usize,
    /// Key–value pairs per training prompt.
    pub pairs: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Prompts per step.
    pub batch: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            d_model: 32,
            heads: 4,
            layers: 2,
            d_ff: 64,
            max_len: 32,
            pairs: 5,
            steps: 1000,
            batch: 64,
            learning_rate: 3e-3,
        }
    }
}

/// The model (see the module docs).
#[derive(Module, Debug)]
pub struct TinyLm {
    tok: Embedding,
    pos: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// Per layer, per head: 1 keeps a head, 0 switches it off ([`TinyLm::with_heads`]).
    #[module(skip)]
    gates: Vec<Vec<f64>>,
}

/// What training reached.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LmTrainLog {
    /// Mean loss of the last 100 steps.
    pub final_loss: f64,
    /// Answer accuracy on 500 held-out prompts (another seed).
    pub accuracy: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The configuration.
    pub config: LmConfig,
    /// The seed.
    pub seed: u64,
}

impl TinyLm {
    /// A fresh model with parameters drawn from `seed`.
    pub fn new(config: &LmConfig, device: &Device, seed: u64) -> Result<TinyLm> {
        let (d, v) = (config.d_model, Vocab::SIZE);
        if config.heads == 0 || d % config.heads != 0 || config.layers == 0 || config.max_len == 0 {
            return Err(XaiError::Config(format!(
                "language model: d_model {d} must split into {} heads, with at least one layer and \
                 position",
                config.heads
            )));
        }
        let block = || Block::new(d, config.heads, config.d_ff, true, device);
        let model = TinyLm {
            tok: EmbeddingConfig::new(v, d).init(device),
            pos: EmbeddingConfig::new(config.max_len, d).init(device),
            blocks: (0..config.layers).map(|_| block()).collect(),
            ln_f: LayerNormConfig::new(d).init(device),
            gates: vec![vec![1.0; config.heads]; config.layers],
        };
        xai_core::init::seeded(model, seed)
    }

    /// Layers and heads per layer.
    pub fn shape(&self) -> (usize, usize) {
        (self.blocks.len(), self.gates.first().map_or(0, Vec::len))
    }

    /// The same model with head `head` of layer `layer` scaled by `factor` (0: ablated).
    pub fn with_head(mut self, layer: usize, head: usize, factor: f64) -> Result<TinyLm> {
        let (l, h) = self.shape();
        if layer >= l || head >= h {
            return Err(XaiError::Config(format!(
                "head {head} of layer {layer}: the model has {l} layers of {h} heads"
            )));
        }
        self.gates[layer][head] = factor;
        Ok(self)
    }

    /// The residual stream before the first block and after each block, `layers + 1` tensors
    /// `[N, T, D]`.
    pub fn residuals(&self, ids: Tensor<2, Int>) -> Vec<Tensor<3>> {
        let t = ids.dims()[1];
        let pos = self.pos.weight.val().narrow(0, 0, t).unsqueeze::<3>();
        let mut x = self.tok.forward(ids) + pos;
        let mut out = vec![x.clone()];
        for (block, gate) in self.blocks.iter().zip(&self.gates) {
            let gate = gate.iter().any(|&g| g != 1.0).then_some(gate.as_slice());
            x = block.forward(x, gate);
            out.push(x.clone());
        }
        out
    }

    /// Every layer's attention weights, `layers` tensors `[N, H, T, T]` (row `i` of a head: how
    /// position `i` spreads its attention over positions `≤ i`). Head gates scale a head's
    /// output, not its weights, so an ablated head still reports them.
    pub fn attention_maps(&self, ids: Tensor<2, Int>) -> Vec<Tensor<4>> {
        self.residuals(ids)
            .into_iter()
            .zip(&self.blocks)
            .map(|(x, block)| block.attention(x))
            .collect()
    }

    /// The final LayerNorm and the tied unembedding of a residual stream `[N, T, D]`: logits
    /// `[N, T, V]` (the logit lens applies it to every layer's stream).
    pub fn unembed(&self, x: Tensor<3>) -> Tensor<3> {
        // `[1, D, V]`, broadcast over the batch (no batch size baked into the graph, so a
        // captured forward replays on any batch).
        let w = self.tok.weight.val().transpose().unsqueeze::<3>();
        self.ln_f.forward(x).matmul(w)
    }

    /// Logits `[N, T, V]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let x = self.residuals(ids).pop().expect("at least the embeddings");
        self.unembed(x)
    }

    /// The next-token logits at the last position, `[N, V]` (what the generation explainers
    /// take: [`xai_grad::methods::generation`]).
    pub fn next_token_logits(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let [n, t] = ids.dims();
        self.forward(ids)
            .narrow(1, t - 1, 1)
            .reshape([n, Vocab::SIZE])
    }

    /// The model prepared for the token and generation explainers (its forward is
    /// [`TinyLm::next_token_logits`]), replayed on `device`.
    pub fn into_explainer(self, device: Device) -> xai_grad::methods::text::TokenExplainable<2> {
        xai_grad::methods::text::TokenExplainable::new(self, TinyLm::next_token_logits, device)
    }

    /// `log p(next token | ids)` at the last position, `[N, V]`.
    pub fn next_token_logprobs(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        log_softmax(self.next_token_logits(ids), 1)
    }

    /// The logit lens (nostalgebraist 2020): every layer's residual stream (the embeddings
    /// first, the last block's output last) through the final LayerNorm and the unembedding,
    /// `layers + 1` logit tensors `[N, T, V]`. The last one is the model's own output.
    pub fn logit_lens(&self, ids: Tensor<2, Int>) -> Vec<Tensor<3>> {
        self.residuals(ids)
            .into_iter()
            .map(|x| self.unembed(x))
            .collect()
    }

    /// Head ablation importance: for every head of every layer, the mean drop of the answer's
    /// log-probability over `set` when that head's output is switched off (`[layer][head]`).
    pub fn head_importance(&self, set: &Recall) -> Result<Vec<Vec<f64>>> {
        let base = self.answer_logprob(set)?;
        let (layers, heads) = self.shape();
        (0..layers)
            .map(|l| {
                (0..heads)
                    .map(|h| {
                        let ablated = self.clone().with_head(l, h, 0.0)?;
                        Ok(base - ablated.answer_logprob(set)?)
                    })
                    .collect()
            })
            .collect()
    }

    /// Next-token log-probabilities of every prompt of `set`, `[n · V]` row-major.
    fn set_logprobs(&self, set: &Recall) -> Result<Vec<f64>> {
        let n = set.prompts.len();
        if n == 0 {
            return Err(XaiError::EmptyBatch("no prompts".into()));
        }
        let device = self.tok.weight.device();
        let lp = self.next_token_logprobs(ids_tensor(&set.token_rows(), n, &device));
        xai_core::tensor_to_vec_f64(lp)
    }

    /// Mean log-probability of the answers of `set`.
    pub fn answer_logprob(&self, set: &Recall) -> Result<f64> {
        let n = set.prompts.len();
        Ok(self
            .set_logprobs(set)?
            .chunks(Vocab::SIZE)
            .zip(set.answers())
            .map(|(row, a)| row[a])
            .sum::<f64>()
            / n as f64)
    }

    /// Greedy continuation of `prompt` by `tokens` tokens.
    pub fn generate(&self, prompt: &[usize], tokens: usize, device: &Device) -> Vec<usize> {
        let mut seq = prompt.to_vec();
        for _ in 0..tokens {
            let ids = ids_tensor(&seq, 1, device);
            let lp = xai_core::tensor_to_vec_f64(self.next_token_logprobs(ids)).unwrap_or_default();
            seq.push(xai_core::agnostic::argmax(&lp));
        }
        seq[prompt.len()..].to_vec()
    }

    /// Train a fresh model from `seed` on recall prompts (the loss is the answer's
    /// cross-entropy at the last position); returns it on plain flex with its log.
    pub fn train_recall(
        config: &LmConfig,
        seed: u64,
        progress: bool,
    ) -> Result<(TinyLm, LmTrainLog)> {
        let start = std::time::Instant::now();
        let len = Recall::prompt_len(config.pairs);
        if len > config.max_len {
            return Err(XaiError::Config(format!(
                "prompts of {} pairs take {len} positions, more than max_len {}",
                config.pairs, config.max_len
            )));
        }
        let device = Device::flex().autodiff();
        let mut model = TinyLm::new(config, &device, seed)?;
        let mut optim = AdamConfig::new().init();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_1a11);
        let bar = crate::train::progress("training the LM", config.steps, progress);
        let mut recent = Vec::new();
        for _ in 0..config.steps {
            let batch = Recall::generate(config.batch, config.pairs, rand::Rng::random(&mut rng));
            let ids = ids_tensor(&batch.token_rows(), config.batch, &device);
            let answers = batch.answers();
            let n = ids.dims()[0];
            let logits = model.next_token_logits(ids);
            let labels: Vec<i64> = answers.iter().map(|&a| a as i64).collect();
            let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);
            let loss = crate::train::cross_entropy(logits, labels);
            recent.push(crate::train::finite_loss(&loss, "language model")?);
            if recent.len() > 100 {
                recent.remove(0);
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
            bar.inc(1);
        }
        bar.finish_and_clear();
        let model = model.valid().to_device(&Device::flex());
        let accuracy = model.recall_accuracy(&Recall::generate(500, config.pairs, seed ^ 0xacc))?;
        let final_loss = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
        Ok((
            model,
            LmTrainLog {
                final_loss,
                accuracy,
                seconds: start.elapsed().as_secs_f64(),
                config: config.clone(),
                seed,
            },
        ))
    }

    /// Write the weights to `path` as a burnpack file (burn's `Module::save_file`), atomically
    /// (a partial file next to it, then a rename); the configuration is not stored:
    /// [`TinyLm::load`] takes it.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let name = path
            .file_name()
            .ok_or_else(|| XaiError::Config(format!("{} is not a file path", path.display())))?;
        let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
        self.clone()
            .save_file(&partial)
            .map_err(|e| XaiError::writing(path, e))?;
        std::fs::rename(&partial, path).map_err(XaiError::io(path))
    }

    /// A model of `config` with the weights [`TinyLm::save`] wrote to `path`, on flex.
    pub fn load(config: &LmConfig, path: &std::path::Path) -> Result<TinyLm> {
        if !path.is_file() {
            return Err(XaiError::Config(format!(
                "language model file {} not found",
                path.display()
            )));
        }
        TinyLm::new(config, &Device::flex(), 0)?
            .try_load_file(path)
            .map_err(|e| {
                XaiError::Config(format!(
                    "cannot load {} as a language model of this configuration: {}",
                    path.display(),
                    e.to_string().lines().next().unwrap_or_default()
                ))
            })
    }

    /// Share of `set`'s prompts whose most likely next token is the answer.
    pub fn recall_accuracy(&self, set: &Recall) -> Result<f64> {
        let n = set.prompts.len();
        let hits = self
            .set_logprobs(set)?
            .chunks(Vocab::SIZE)
            .zip(set.answers())
            .filter(|(row, a)| xai_core::agnostic::argmax(row) == *a)
            .count();
        Ok(hits as f64 / n as f64)
    }
}

/// Token ids `[n, len]` (row-major `tokens`) on `device`.
pub fn ids_tensor(tokens: &[usize], n: usize, device: &Device) -> Tensor<2, Int> {
    let len = tokens.len() / n.max(1);
    let v: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    Tensor::<2, Int>::from_data(TensorData::new(v, [n, len]), device)
}
