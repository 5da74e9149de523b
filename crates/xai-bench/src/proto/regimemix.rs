//! RegimeMix benchmark: does a mixture of linear experts route by the hidden regime?
//!
//! Trains [`Moe`](xai_proto::moe::Moe) (4 linear experts, noisy top-2 gate, importance and load
//! losses at 0.1 each) on 4,000 rows, and reports on 2,000 test rows: the NMI between the
//! routes and the true regime (target ≥ 0.9), the expert load and its max/mean (target ≤ 1.2),
//! CV of importance and load, routing entropy, the test MSE and R², and each expert's
//! coefficients with their cosine to the true rule of the regime it serves. Writes
//! `OUT/regimemix_routing.png` (test rows on the `(x₀, x₁)` plane coloured by expert).

use burn::tensor::{Tensor, TensorData};
use image::{Rgb, RgbImage};
use serde_json::{Value, json};

use super::{BenchOptions, ensure_dir, palette, save_png, write_json};
use xai_core::{Result, tensor_to_vec_f64};
use xai_proto::data::regime_mix::{FEATURES, REGIMES, RegimeMix};
use xai_proto::moe::{MoeConfig, MoeTrainConfig, routing_report, train_regression};
use xai_proto::stats::cosine;

/// Run the benchmark.
pub fn run(opts: &BenchOptions) -> Result<Value> {
    let start = std::time::Instant::now();
    let (n_train, n_test, epochs) = if opts.quick {
        (1200, 600, 15)
    } else {
        (4000, 2000, 200)
    };
    let train = RegimeMix::generate(n_train, 0.05, opts.seed);
    let test = RegimeMix::generate(n_test, 0.05, opts.seed.wrapping_add(1_000_003));
    let config = MoeConfig {
        inputs: FEATURES,
        outputs: 1,
        experts: REGIMES,
        k: 2,
        w_importance: 0.1,
        w_load: 0.1,
    };
    let tc = MoeTrainConfig {
        epochs,
        batch: 128,
        lr: 1e-2,
        seed: opts.seed,
        progress: opts.progress,
        restarts: 3,
    };
    let (model, losses) = train_regression(&config, &tc, &train.x, &train.y, &opts.device)?;
    let xt = Tensor::<2>::from_data(
        TensorData::new(test.x.clone(), [n_test, FEATURES]),
        &opts.device,
    );
    let out = model.forward(xt.clone(), None);
    let pred = tensor_to_vec_f64(out.y)?;
    let importance_cv = tensor_to_vec_f64(out.importance_cv2)?[0].sqrt();
    let load_cv = tensor_to_vec_f64(out.load_cv2)?[0].sqrt();
    let mse = pred
        .iter()
        .zip(&test.y)
        .map(|(p, y)| (p - *y as f64).powi(2))
        .sum::<f64>()
        / n_test as f64;
    let mean_y = test.y.iter().map(|&v| v as f64).sum::<f64>() / n_test as f64;
    let var_y = test
        .y
        .iter()
        .map(|&v| (v as f64 - mean_y).powi(2))
        .sum::<f64>()
        / n_test as f64;
    let report = routing_report(&model, xt.clone(), Some(&test.regime))?;
    let routes = model.route(xt)?;
    let (coef, bias) = model.expert_coefficients(0)?;
    let mut experts = Vec::new();
    for (e, (c, b)) in coef.iter().zip(&bias).enumerate() {
        let mut counts = [0usize; REGIMES];
        for (r, &g) in routes.iter().zip(&test.regime) {
            if *r == e {
                counts[g] += 1;
            }
        }
        let served = (0..REGIMES).max_by_key(|&g| counts[g]).unwrap_or(0);
        let total: usize = counts.iter().sum();
        experts.push(json!({
            "expert": e,
            "coefficients": c,
            "intercept": b,
            "majority_regime": served,
            "purity": if total > 0 { counts[served] as f64 / total as f64 } else { 0.0 },
            "cosine_to_true_rule": cosine(c, &train.weights[served]),
        }));
    }
    ensure_dir(&opts.out)?;
    let side = 240u32;
    let mut img = RgbImage::from_pixel(side, side, Rgb([255, 255, 255]));
    for (i, &r) in routes.iter().enumerate() {
        let px = ((test.x[i * FEATURES] + 1.0) / 2.0 * (side - 3) as f32) as u32;
        let py = ((1.0 - test.x[i * FEATURES + 1]) / 2.0 * (side - 3) as f32) as u32;
        for dy in 0..3 {
            for dx in 0..3 {
                img.put_pixel(px + dx, py + dy, Rgb(palette(r)));
            }
        }
    }
    let png = opts.out.join("regimemix_routing.png");
    save_png(&png, &img)?;
    let value = json!({
        "benchmark": "regimemix",
        "seed": opts.seed,
        "quick": opts.quick,
        "train_rows": n_train,
        "test_rows": n_test,
        "settings": {"experts": config.experts, "k": config.k, "w_importance": config.w_importance,
                      "w_load": config.w_load, "epochs": epochs, "batch": tc.batch, "lr": tc.lr,
                      "restarts": tc.restarts},
        "nmi": report.nmi,
        "max_over_mean_load": report.max_over_mean_load,
        "load": report.load,
        "cv_importance": importance_cv,
        "cv_load": load_cv,
        "routing_entropy": report.routing_entropy,
        "mean_gate_entropy": report.mean_gate_entropy,
        "test_mse": mse,
        "test_r2": 1.0 - mse / var_y.max(1e-12),
        "experts": experts,
        "epoch_mse": losses,
        "figure": png.display().to_string(),
        "seconds": start.elapsed().as_secs_f64(),
    });
    write_json(&opts.out.join("regimemix.json"), &value)?;
    Ok(value)
}
