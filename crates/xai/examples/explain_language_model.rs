//! Explain a language model's answer: train the small recall LM from a seed (about ten seconds),
//! let it answer a held-out prompt, and ask every generation method which prompt token decided
//! the answer — the planted source is known, so each method can be checked. Then look inside:
//! the attention of the last position per head, and the logit lens (each layer's best guess).
//!
//! Run: `cargo run -p xai --example explain_language_model`

use burn::tensor::Device;
use xai::grad::methods::generation::{GenerationMethod, generation_attribution, greedy};
use xai::proto::data::recall::{Recall, Vocab};
use xai::proto::lm::{LmConfig, TinyLm, ids_tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = LmConfig::default();
    let (lm, log) = TinyLm::train_recall(&config, 0, false)?;
    println!(
        "recall LM trained from seed 0: held-out accuracy {:.3}",
        log.accuracy
    );
    let prompt = Recall::generate(1, config.pairs, 2026).prompts.remove(0);
    let names: Vec<String> = prompt.tokens.iter().map(|&t| Vocab::name(t)).collect();
    let ex = lm.clone().into_explainer(Device::flex());
    let answer = greedy(&ex, &prompt.tokens, 1)?[0];
    println!(
        "prompt: {}  → answer {} (right: {}; it comes from position {}, {})",
        names.join(" "),
        Vocab::name(answer),
        Vocab::name(prompt.answer),
        prompt.source,
        names[prompt.source]
    );
    println!("{:<26} {}", "method", names.join("  "));
    for method in GenerationMethod::all(0) {
        let r = generation_attribution(&ex, &prompt.tokens, &[answer], None, &method, Vocab::PAD)?;
        let row = &r.matrix[0];
        let top = (0..config.pairs)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0);
        let cells: Vec<String> = row.iter().map(|v| format!("{v:+.2}")).collect();
        println!(
            "{:<26} {}   top pair: {}{}",
            method.name(),
            cells.join(" "),
            names[top],
            if top == prompt.source {
                " (the source)"
            } else {
                ""
            }
        );
    }
    let ids = ids_tensor(&prompt.tokens, 1, &Device::flex());
    let t = prompt.tokens.len();
    for (layer, map) in lm.attention_maps(ids.clone()).into_iter().enumerate() {
        let [_, heads, _, _] = map.dims();
        let w = xai::core::tensor_to_vec_f64(map.narrow(2, t - 1, 1))?;
        let on_source: Vec<String> = (0..heads)
            .map(|h| format!("{:.2}", w[h * t + prompt.source]))
            .collect();
        println!(
            "layer {layer}: attention of `->` on {} per head: {}",
            names[prompt.source],
            on_source.join(" ")
        );
    }
    for (layer, logits) in lm.logit_lens(ids).into_iter().enumerate() {
        let v = xai::core::tensor_to_vec_f64(logits.narrow(1, t - 1, 1))?;
        let best = xai::core::agnostic::argmax(&v);
        println!("logit lens after {layer} block(s): {}", Vocab::name(best));
    }
    Ok(())
}
