//! TCAV's calibration on the Clever Hans benchmark: does its test keep its error rates at every
//! seed?
//!
//! For each of `seeds` seeds, a fresh data set and CNN ([`super::cleverhans`]), then TCAV at
//! `encoder.fc` for class 0 of the watermark and of [`CONTROLS`] random concepts of clean
//! images, all against the same counter-sets and the null of 20 random concepts
//! ([`xai_proto::tcav`]). A random concept is drawn exactly as the null's concepts are, so the
//! null hypothesis holds for it by construction:
//!
//! - `false_positive_rate`: share of random-concept tests with `p < 0.05` (a calibrated test
//!   keeps it near 0.05; the Clopper–Pearson 95 % interval is reported with it), for the t-test
//!   and for the exact rank test;
//! - `power`: share of seeds at which the watermark is significant;
//! - the spread over seeds of the CNN's reliance on the shortcut and of the watermark's score.
//!
//! Writes `OUT/tcav-calibration.json`.

use serde_json::{Value, json};
use statrs::distribution::{Beta, ContinuousCDF};

use super::cleverhans::{hans_data, tcav_tests, train_cnn};
use super::{BenchOptions, ensure_dir, write_json};
use xai_core::Result;
use xai_proto::train::set_accuracy;

/// Random concepts tested per seed.
pub const CONTROLS: usize = 5;

/// Run the calibration over seeds `opts.seed, opts.seed + 1, …` (`seeds` of them).
pub fn run(opts: &BenchOptions, seeds: usize) -> Result<Value> {
    let start = std::time::Instant::now();
    ensure_dir(&opts.out)?;
    let mut per_seed = Vec::with_capacity(seeds);
    let (mut fp_t, mut fp_rank, mut tests, mut detected) = (0usize, 0usize, 0usize, 0usize);
    let (mut gaps, mut scores) = (Vec::new(), Vec::new());
    for seed in (0..seeds as u64).map(|k| opts.seed.wrapping_add(k)) {
        let seed_opts = BenchOptions {
            seed,
            ..opts.clone()
        };
        let data = hans_data(seed);
        let cnn = train_cnn(&data, &seed_opts)?;
        let device = &opts.device;
        let iid = set_accuracy(&data.iid_test.shapes.images, device, |x| cnn.forward(x))?;
        let shuffled = set_accuracy(&data.shuffled.shapes.images, device, |x| cnn.forward(x))?;
        let (watermark, controls) = tcav_tests(&cnn, &data, seed, CONTROLS, device)?;
        fp_t += controls.iter().filter(|c| c.p_value < 0.05).count();
        fp_rank += controls.iter().filter(|c| c.p_rank < 0.05).count();
        tests += controls.len();
        detected += usize::from(watermark.p_value < 0.05);
        gaps.push(iid - shuffled);
        scores.push(watermark.mean_score);
        per_seed.push(json!({
            "seed": seed,
            "reliance_gap": iid - shuffled,
            "watermark_p": watermark.p_value,
            "watermark_p_rank": watermark.p_rank,
            "watermark_score": watermark.mean_score,
            "control_p": controls.iter().map(|c| c.p_value).collect::<Vec<_>>(),
            "control_p_rank": controls.iter().map(|c| c.p_rank).collect::<Vec<_>>(),
            "null_scores": watermark.null_scores,
        }));
    }
    let value = json!({
        "benchmark": "tcav-calibration",
        "seeds": seeds,
        "first_seed": opts.seed,
        "controls_per_seed": CONTROLS,
        "alpha": 0.05,
        "false_positive_rate": rate(fp_t, tests),
        "false_positive_rate_ci95": clopper_pearson(fp_t, tests),
        "false_positive_rate_rank": rate(fp_rank, tests),
        "false_positive_rate_rank_ci95": clopper_pearson(fp_rank, tests),
        "power": rate(detected, seeds),
        "power_ci95": clopper_pearson(detected, seeds),
        "reliance_gap": spread(&gaps),
        "watermark_score": spread(&scores),
        "per_seed": per_seed,
        "seconds": start.elapsed().as_secs_f64(),
    });
    write_json(&opts.out.join("tcav-calibration.json"), &value)?;
    Ok(value)
}

fn rate(k: usize, n: usize) -> f64 {
    k as f64 / n.max(1) as f64
}

/// Mean, standard deviation, minimum and maximum.
fn spread(v: &[f64]) -> Value {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    json!({"mean": mean, "sd": sd, "min": min, "max": max})
}

/// The exact (Clopper–Pearson) 95 % interval of a binomial proportion `k / n`.
fn clopper_pearson(k: usize, n: usize) -> [f64; 2] {
    let (k, n) = (k as f64, n as f64);
    let lower = if k == 0.0 {
        0.0
    } else {
        Beta::new(k, n - k + 1.0).map_or(0.0, |b| b.inverse_cdf(0.025))
    };
    let upper = if k == n {
        1.0
    } else {
        Beta::new(k + 1.0, n - k).map_or(1.0, |b| b.inverse_cdf(0.975))
    };
    [lower, upper]
}
