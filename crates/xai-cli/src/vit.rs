//! `xai vit …`: explaining a vision transformer that learned a shortcut.

#[derive(clap::Subcommand)]
pub enum Action {
    /// Train the tiny ViT on the two-shape Clever Hans images from the seed, explain watermarked
    /// squares it calls "plus" with AttnLRP, CP-LRP, rollout, token Grad-CAM, gradient × input
    /// and IG, and report how much of each method's relevance lies in the watermark's patch.
    Bench {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Seed of the data, the initialisation and the training order.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Images to explain.
        #[arg(long, default_value_t = 32)]
        images: usize,
    },
}

pub fn run(action: Action) -> anyhow::Result<bool> {
    let Action::Bench { json, seed, images } = action;
    let r = xai_bench::vit::run(seed, images, !json)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(true);
    }
    println!(
        "tiny ViT (seed {seed}, {:.1} s): train accuracy {:.3}, clean test {:.3}, swapped test {:.3}; \
         {} watermarked squares called \"plus\" explained (uniform share of the watermark's patch: 0.0625)",
        r.training.seconds,
        r.training.train_accuracy,
        r.clean_accuracy,
        r.swapped_accuracy,
        r.explained
    );
    println!(
        "{:<22} {:>16} {:>18} {:>13} {:>11}",
        "method", "watermark patch", "top patch = mark", "conservation", "s / image"
    );
    for row in &r.rows {
        let c = row
            .conservation
            .map_or_else(|| "–".to_string(), |c| format!("{c:.3}"));
        println!(
            "{:<22} {:>16.3} {:>18.3} {:>13} {:>11.5}",
            row.method,
            row.watermark_patch_share,
            row.top_patch_is_watermark,
            c,
            row.seconds_per_image
        );
    }
    Ok(true)
}
