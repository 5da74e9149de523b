//! The Dombrowski et al. (2019) manipulation on a CNN trained on the bundled digits, alone in its
//! own test binary so that the model's initialisation (burn's process-global seed) is the same on
//! every run.

use burn::tensor::{Device, Tensor};
use xai::sanity_bench::{self, DigitsCnn};
use xai_influence::data::digits_split;

/// Dombrowski et al.: a small input change drags the gradient map of a trained CNN towards an
/// unrelated target map while every output probability moves by less than the stated bound.
#[test]
fn dombrowski_manipulation_moves_the_map_but_not_the_output() {
    use xai_grad::methods::Explainable;
    use xai_grad::methods::manipulation::{ManipulationConfig, manipulate};
    let (train, test) = digits_split().unwrap();
    let model = sanity_bench::train(&train, &train.y, 4, 1).unwrap();
    let device = Device::flex();
    let pick = |i: usize| {
        Tensor::<4>::from_data(
            burn::tensor::TensorData::new(
                test.x[i * 64..(i + 1) * 64]
                    .iter()
                    .map(|&v| v as f32)
                    .collect::<Vec<_>>(),
                [1, 1, 8, 8],
            ),
            &device,
        )
    };
    let other = (1..test.len()).find(|&i| test.y[i] != test.y[0]).unwrap();
    let ex = Explainable::new(model, |m: &DigitsCnn, x| m.forward(x), device.clone());
    let target = xai_grad::methods::input_gradients(&ex, &pick(other), &[test.y[other]]).unwrap();
    let cfg = ManipulationConfig {
        steps: 500,
        learning_rate: 5e-3,
        gamma: 1.0,
        beta: 10.0,
        clamp: Some((0.0, 1.0)),
    };
    let r = manipulate(&ex, &pick(0), &target, &[test.y[0]], &cfg).unwrap();
    eprintln!(
        "similarity {:.3} -> {:.3}, max dp {:.4}, max dx {:.4}, loss {:.4} -> {:.4}",
        r.similarity_before[0],
        r.similarity_after[0],
        r.max_probability_change,
        r.max_input_change,
        r.loss[0],
        r.loss.last().unwrap()
    );
    // This test has its own binary: burn's initialisation seed is global to the process, and
    // with other tests running beside it the model (and this result) changed from run to run
    // (Δp from 0.09 to 0.28 was seen). Alone, `train(…, seed 1)` is deterministic. On 64 clamped
    // pixels the map moves much less than on the paper's 224×224 images. The stated bound is 0.15.
    assert!(r.similarity_after[0] > r.similarity_before[0] + 0.03);
    assert!(r.max_probability_change < 0.15, "output change bound");
    assert!(r.loss.last().unwrap() < &r.loss[0]);
}
