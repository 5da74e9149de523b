//! `xai lm …`: explaining a causal language model's generation.

#[derive(clap::Subcommand)]
pub enum Action {
    /// Train the recall language model from the seed, explain its answers to held-out prompts
    /// with every generation method, and report how often each finds the answer's source, its
    /// deletion AUC, its conservation and its time.
    Bench {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Seed of training and of the prompts.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Held-out prompts to explain.
        #[arg(long, default_value_t = 50)]
        prompts: usize,
    },
}

pub fn run(action: Action) -> anyhow::Result<bool> {
    let Action::Bench {
        json,
        seed,
        prompts,
    } = action;
    let r = xai_bench::lm::run(seed, prompts, !json)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(true);
    }
    println!(
        "recall LM (seed {seed}): trained in {:.1} s, held-out accuracy {:.3}; {} prompts of {} pairs",
        r.training.seconds, r.training.accuracy, r.prompts, r.training.config.pairs
    );
    println!(
        "{:<28} {:>14} {:>13} {:>13} {:>12}",
        "method", "top-1 source", "deletion AUC", "conservation", "s / prompt"
    );
    for row in &r.rows {
        let c = row
            .conservation
            .map_or("—".to_string(), |c| format!("{c:.3}"));
        println!(
            "{:<28} {:>14.3} {:>13.3} {:>13} {:>12.4}",
            row.method, row.top1_at_source, row.deletion_auc, c, row.seconds_per_prompt
        );
    }
    for (l, heads) in r.head_importance.iter().enumerate() {
        let v: Vec<String> = heads.iter().map(|h| format!("{h:.2}")).collect();
        println!("layer {l} head ablation (nats lost): {}", v.join(" "));
    }
    Ok(true)
}
