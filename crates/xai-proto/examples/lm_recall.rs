//! Train the recall language model and show a few answers.
//!
//! `cargo run --release -p xai-proto --example lm_recall -- [SEED [STEPS [D_MODEL [LR]]]]`

use burn::tensor::Device;
use xai_proto::data::recall::{Recall, Vocab};
use xai_proto::lm::{LmConfig, TinyLm};

fn main() -> xai_core::Result<()> {
    let arg = |i: usize| std::env::args().nth(i);
    let seed: u64 = arg(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut config = LmConfig::default();
    if let Some(s) = arg(2).and_then(|s| s.parse().ok()) {
        config.steps = s;
    }
    if let Some(d) = arg(3).and_then(|s| s.parse().ok()) {
        config.d_model = d;
        config.d_ff = 2 * d;
    }
    if let Some(lr) = arg(4).and_then(|s| s.parse().ok()) {
        config.learning_rate = lr;
    }
    let (lm, log) = TinyLm::train_recall(&config, seed, true)?;
    println!(
        "trained in {:.1} s: final loss {:.3}, held-out accuracy {:.3}",
        log.seconds, log.final_loss, log.accuracy
    );
    for p in Recall::generate(3, config.pairs, seed + 1).prompts {
        let text: Vec<String> = p.tokens.iter().map(|&t| Vocab::name(t)).collect();
        let out = lm.generate(&p.tokens, 1, &Device::flex());
        println!(
            "{} {}   (answer {})",
            text.join(" "),
            Vocab::name(out[0]),
            Vocab::name(p.answer)
        );
    }
    Ok(())
}
