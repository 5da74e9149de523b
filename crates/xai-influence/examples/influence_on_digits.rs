//! Which training digits made this prediction? Influence functions on the bundled 8×8 digits.
//!
//! `cargo run -p xai-influence --example influence_on_digits`
//!
//! Trains a logistic regression (64 pixels → 10 classes, L2 λ = 1e-3) on the 1,000 training
//! digits, then for one test digit lists the most helpful and most harmful training examples by
//! the exact influence `I_up,loss` (Koh & Liang 2017), checks the top ones against actually
//! retraining without them, and lists the training digits with the largest self-influence (the
//! unusual or mislabelled ones). Everything is deterministic: no seed is involved.

use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, FloatDType};
use xai_grad::{CapturedGraph, Precision};
use xai_influence::data::digits_split;
use xai_influence::eval::{TrainOptions, loo_test_loss_change, train, train_preconditioned};
use xai_influence::{Data, Influence, Loss, Objective, Solver};

/// A digit as 8 rows of ASCII shades.
fn ascii(pixels: &[f64]) -> Vec<String> {
    pixels
        .chunks(8)
        .map(|row| {
            row.iter()
                .map(|&p| [' ', '.', ':', '*', '#'][((p * 4.0).round() as usize).min(4)])
                .collect()
        })
        .collect()
}

fn main() -> xai_core::Result<()> {
    let dev = Device::flex();
    let (train_d, test_d) = digits_split()?;
    let train_set = Data::from_rows(&train_d.x, 64, train_d.y.clone(), &dev, Precision::F64)?;
    // the initial weights only give the graph its shapes: training starts from θ = 0
    let model: Linear =
        xai_core::init::seeded(LinearConfig::new(64, 10).with_bias(false).init(&dev), 0)?;
    let example = train_set
        .x
        .clone()
        .into_tensor::<2>()?
        .cast(FloatDType::F32);
    let graph = CapturedGraph::capture(&model, example, |m, x| m.forward(x))?;
    let objective = Objective::new(
        graph,
        train_set,
        Loss::CrossEntropy,
        1e-3,
        &dev,
        Precision::F64,
    )?;

    // Train to a tight optimum: influence functions assume one.
    let zero = objective.theta() * 0.0;
    let loose = TrainOptions {
        grad_tol: 1e-6,
        ..Default::default()
    };
    let (rough, _) = train(&objective, &zero, None, &loose)?;
    let pre = Solver::exact(0.0).build(&objective, &rough)?;
    let tight = TrainOptions {
        grad_tol: 1e-11,
        ..Default::default()
    };
    let (theta, _) = train_preconditioned(&objective, &rough, None, pre.as_ref(), &tight)?;

    let influence = Influence::new(&objective, &theta, &Solver::exact(0.0))?;
    let t = 3; // the test digit to explain
    let test = Data::from_rows(
        &test_d.x[t * 64..(t + 1) * 64],
        64,
        vec![test_d.y[t]],
        &dev,
        Precision::F64,
    )?;
    let loss = objective.losses(&theta, &test)?[0];
    println!("test digit {t}: label {}, test loss {loss:.4}", test_d.y[t]);
    for line in ascii(&test_d.x[t * 64..(t + 1) * 64]) {
        println!("  |{line}|");
    }

    // Scores are "predicted increase of the test loss if the example were removed":
    // positive = helpful, negative = harmful (see the crate docs for the sign convention).
    let helpful = influence.top_helpful(&test, 5)?;
    let harmful = influence.top_harmful(&test, 5)?;
    let show = |title: &str, ranked: &[xai_influence::Ranked]| {
        println!("{title}");
        for r in ranked {
            println!(
                "  train #{:<4} label {}  predicted Δloss if removed {:+.2e}",
                r.index, train_d.y[r.index], r.score
            );
        }
    };
    show("most helpful training digits:", &helpful);
    show("most harmful training digits:", &harmful);

    // Check the top two of each list against retraining without them (warm-started).
    let check: Vec<usize> = helpful
        .iter()
        .take(2)
        .chain(harmful.iter().take(2))
        .map(|r| r.index)
        .collect();
    let actual = loo_test_loss_change(
        &objective,
        &theta,
        &test,
        &check,
        Some(influence.solver()),
        &tight,
    )?;
    println!("retrained without each (leave-one-out):");
    for (k, &i) in check.iter().enumerate() {
        let predicted = helpful
            .iter()
            .chain(&harmful)
            .find(|r| r.index == i)
            .map_or(0.0, |r| r.score);
        println!(
            "  train #{i:<4} predicted {predicted:+.2e}  actual {:+.2e}",
            actual[0][k]
        );
    }

    // Self-influence: how much each example's own loss depends on itself.
    let own = influence.self_influence()?;
    let top = xai_influence::influence::rank(&own, 3, true);
    println!("largest self-influence (unusual training digits):");
    for r in &top {
        println!(
            "  train #{:<4} label {}  self-influence {:.3}",
            r.index, train_d.y[r.index], r.score
        );
        for line in ascii(&train_d.x[r.index * 64..(r.index + 1) * 64]) {
            println!("    |{line}|");
        }
    }
    Ok(())
}
