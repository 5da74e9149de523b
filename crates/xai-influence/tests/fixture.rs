//! The logistic-regression fixture: exact and CG influence against numpy, retrained LOO.

use burn::tensor::Device;
use xai_grad::Precision;
use xai_influence::eval::{TrainOptions, loo_test_loss_change, pearson};
use xai_influence::fixture::load_logreg_fixture;
use xai_influence::{Influence, Solver};

fn fixture() -> xai_influence::fixture::LogregFixture {
    let path = format!(
        "{}/../../assets/fixtures/logreg_influence.json",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string())
    );
    let text = std::fs::read_to_string(path)
        .expect("assets/fixtures/logreg_influence.json (a copy of the shared fixture) present");
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    load_logreg_fixture(&raw, &Device::flex(), Precision::F64).unwrap()
}

fn max_err(a: &[Vec<f64>], b: &[Vec<f64>]) -> (f64, f64) {
    let err = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    let scale = b.iter().flatten().fold(0.0f64, |m, y| m.max(y.abs()));
    (err, scale)
}

#[test]
fn exact_and_cg_influence_match_the_fixture() {
    let fx = fixture();
    let theta = fx.objective.theta();
    for solver in [Solver::exact(0.0), Solver::cg(0.0, 100)] {
        let inf = Influence::new(&fx.objective, &theta, &solver).unwrap();
        let ours = inf.up_loss(&fx.test).unwrap();
        let (err, scale) = max_err(&ours, &fx.up_loss);
        assert!(
            err <= 1e-6 * scale,
            "{}: max error {err:.3e} (scale {scale:.3e})",
            inf.solver_name()
        );
    }
}

#[test]
fn retrained_loo_matches_the_fixture_and_influence_predicts_it() {
    let fx = fixture();
    let theta = fx.objective.theta();
    let n = fx.objective.num_train();
    // The fixture's optimum is the optimum: the gradient is (numerically) zero there.
    let (_, g) = fx.objective.value_grad(&theta, None).unwrap();
    let gn = xai_influence::objective::to_f64(g.powf_scalar(2.0).sum()).unwrap()[0].sqrt();
    assert!(gn < 1e-8, "gradient norm at the fixture optimum {gn:.2e}");
    let remove: Vec<usize> = (0..n).step_by(4).collect();
    let inf = Influence::new(&fx.objective, &theta, &Solver::exact(0.0)).unwrap();
    let loo = loo_test_loss_change(
        &fx.objective,
        &theta,
        &fx.test,
        &remove,
        Some(inf.solver()),
        &TrainOptions::default(),
    )
    .unwrap();
    let expected: Vec<Vec<f64>> = fx
        .loo
        .iter()
        .map(|r| remove.iter().map(|&i| r[i]).collect())
        .collect();
    let (err, scale) = max_err(&loo, &expected);
    assert!(
        err <= 1e-6 * scale + 1e-9,
        "LOO retraining differs: {err:.3e} (scale {scale:.3e})"
    );
    let predicted = inf.predicted_loo_change(&fx.test).unwrap();
    for (t, row) in fx.loo.iter().enumerate() {
        let r = pearson(&predicted[t], row);
        assert!(
            r >= 0.99,
            "test point {t}: Pearson {r:.4} between predicted and actual LOO"
        );
    }
}
