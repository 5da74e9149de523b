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
        /// Write the trained model's weights here (burnpack).
        #[arg(long, conflicts_with = "load")]
        save: Option<std::path::PathBuf>,
        /// Explain the model saved at this path instead of training one.
        #[arg(long)]
        load: Option<std::path::PathBuf>,
    },
}

pub fn run(action: Action) -> anyhow::Result<bool> {
    let Action::Bench {
        json,
        seed,
        prompts,
        save,
        load,
    } = action;
    let source = match &load {
        Some(path) => xai_bench::lm::LmSource::Load(path),
        None => xai_bench::lm::LmSource::Train {
            save: save.as_deref(),
        },
    };
    let r = xai_bench::lm::run(seed, prompts, !json, source)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(true);
    }
    let origin = match (&r.training, &r.loaded_from) {
        (Some(t), _) => format!("trained from seed {seed} in {:.1} s", t.seconds),
        (None, Some(path)) => format!("loaded from {path}"),
        (None, None) => "untrained".into(),
    };
    println!(
        "recall LM ({origin}): held-out accuracy {:.3}; {} prompts of {} pairs",
        r.accuracy,
        r.prompts,
        xai_proto::lm::LmConfig::default().pairs
    );
    println!(
        "{:<28} {:>14} {:>13} {:>13} {:>12}",
        "method", "top-1 source", "deletion AUC", "conservation", "s / prompt"
    );
    let names: Vec<&str> = xai_grad::methods::generation::GenerationMethod::all(seed)
        .iter()
        .map(|m| m.name())
        .chain(["random"])
        .collect();
    for name in names {
        let Some(row) = r.methods.get(name) else {
            continue;
        };
        let c = row
            .conservation
            .map_or("—".to_string(), |c| format!("{c:.3}"));
        println!(
            "{:<28} {:>14.3} {:>13.3} {:>13} {:>12.4}",
            name, row.top1, row.deletion_auc, c, row.seconds
        );
    }
    for (l, heads) in r.head_importance.iter().enumerate() {
        let v: Vec<String> = heads.iter().map(|h| format!("{h:.2}")).collect();
        println!("layer {l} head ablation (nats lost): {}", v.join(" "));
    }
    for (l, heads) in r.attention_to_source.iter().enumerate() {
        let v: Vec<String> = heads.iter().map(|h| format!("{h:.2}")).collect();
        println!(
            "layer {l} attention of `->` on the answer's pair: {}",
            v.join(" ")
        );
    }
    Ok(true)
}
