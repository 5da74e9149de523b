//! Wachter counterfactuals against closed forms on a linear classifier (L2: the minimal-distance
//! direction; L1: only the cheapest mutable feature moves), exact constraints (immutable
//! features, bounds), rows already in the desired class, a nonlinear network on every device,
//! and clear errors for bad settings.

mod common;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{DType, Device, Tensor, TensorData};
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::counterfactual::{CfDistance, WachterConfig, wachter};

/// Two logits: `f_0 = 0`, `f_1 = Δw·x − c`.
const DW: [f64; 4] = [3.0, 0.3, -1.5, 0.2];
const C: f64 = 1.5;

fn linear_model(dev: &Device) -> Linear {
    let mut l: Linear = common::seeded(LinearConfig::new(4, 2).init(dev));
    let w: Vec<f64> = DW.iter().flat_map(|&d| [0.0, d]).collect(); // [in, out]
    l.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(w, [4, 2]),
        (dev, DType::F64),
    ));
    l.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![0.0, -C], [2]),
        (dev, DType::F64),
    )));
    l
}

fn explainable(dev: &Device) -> Explainable<2> {
    Explainable::new(linear_model(dev), |m: &Linear, x| m.forward(x), dev.clone())
        .with_precision(Precision::F64)
}

fn zeros(n: usize, dev: &Device) -> Tensor<2> {
    Tensor::zeros([n, 4], (dev, DType::F64))
}

fn vals(t: Tensor<2>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

#[test]
fn l2_counterfactual_of_a_linear_model_lies_on_the_minimal_distance_direction() {
    let dev = Device::flex();
    let ex = explainable(&dev);
    let cfg = WachterConfig {
        distance: CfDistance::L2,
        learning_rate: 0.01,
        ..WachterConfig::default()
    };
    let r = wachter(&ex, &zeros(1, &dev), &[1], &cfg).unwrap();
    assert!(r.found[0]);
    assert_eq!(r.classes, vec![1]);
    let d = vals(r.counterfactuals);
    let norm_dw = DW.iter().map(|v| v * v).sum::<f64>().sqrt();
    let norm_d = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    let cosine = d.iter().zip(&DW).map(|(a, b)| a * b).sum::<f64>() / (norm_d * norm_dw);
    assert!(cosine > 1.0 - 1e-9, "cosine {cosine}");
    // The closed form: the boundary is C / ‖Δw‖ away; the search stops just past it.
    let closest = C / norm_dw;
    assert!(
        norm_d >= closest && norm_d < closest * 1.05,
        "{norm_d} vs {closest}"
    );
    assert!((r.distance[0] - norm_d * norm_d).abs() < 1e-12);
}

#[test]
fn l1_moves_only_the_cheapest_mutable_feature_and_respects_constraints_exactly() {
    let dev = Device::flex();
    let ex = explainable(&dev);
    let r = wachter(&ex, &zeros(1, &dev), &[1], &WachterConfig::default()).unwrap();
    let d = vals(r.counterfactuals);
    assert!(r.found[0]);
    assert_eq!(r.changed, vec![1]);
    assert!(
        d[0] > 0.0 && d[1] == 0.0 && d[2] == 0.0 && d[3] == 0.0,
        "{d:?}"
    );
    assert!(d[0] >= C / DW[0] && d[0] < C / DW[0] * 1.1);

    // Feature 0 immutable: the next cheapest (feature 2, pushed down) carries the change.
    let cfg = WachterConfig {
        immutable: vec![0],
        ..WachterConfig::default()
    };
    let r = wachter(&ex, &zeros(1, &dev), &[1], &cfg).unwrap();
    let d = vals(r.counterfactuals);
    assert!(r.found[0]);
    assert_eq!(d[0], 0.0);
    assert_eq!(r.changed, vec![1]);
    assert!(d[2] < 0.0, "{d:?}");

    // Bounds: feature 0 may rise to 0.2 only; it stops exactly there and others make up the rest.
    let cfg = WachterConfig {
        upper: Some(vec![0.2, 10.0, 10.0, 10.0]),
        lower: Some(vec![-10.0, -10.0, -0.3, -10.0]),
        ..WachterConfig::default()
    };
    let r = wachter(&ex, &zeros(1, &dev), &[1], &cfg).unwrap();
    let d = vals(r.counterfactuals);
    assert!(r.found[0], "{d:?}");
    assert!(d[0] <= 0.2 && d[0] > 0.19, "{d:?}");
    assert!(d[2] >= -0.3);
    let margin: f64 = d.iter().zip(&DW).map(|(a, b)| a * b).sum::<f64>() - C;
    assert!(margin > 0.0);
}

#[test]
fn rows_already_in_the_desired_class_are_returned_unchanged_and_batches_are_independent() {
    let dev = Device::flex();
    let ex = explainable(&dev);
    let x = Tensor::<2>::from_data(
        TensorData::new(vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [2, 4]),
        (&dev, DType::F64),
    );
    // Row 1 is already class 1 (3 − 1.5 > 0).
    let r = wachter(&ex, &x, &[1, 1], &WachterConfig::default()).unwrap();
    assert_eq!(r.steps[1], 0);
    assert_eq!(r.distance[1], 0.0);
    let d = vals(r.counterfactuals);
    assert_eq!(&d[4..], &[1.0, 0.0, 0.0, 0.0]);
    let alone = wachter(&ex, &zeros(1, &dev), &[1], &WachterConfig::default()).unwrap();
    assert_eq!(&d[..4], vals(alone.counterfactuals).as_slice());
}

#[derive(Module, Debug)]
struct Mlp {
    a: Linear,
    relu: Relu,
    b: Linear,
}

/// A linear layer with fixed weights (burn's initialiser depends on a global seed).
fn seeded_linear(i: usize, o: usize, seed: u64, dev: &Device) -> Linear {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
    };
    let mut l: Linear = LinearConfig::new(i, o).init(dev);
    let w: Vec<f32> = (0..i * o).map(|_| next()).collect();
    let b: Vec<f32> = (0..o).map(|_| 0.2 * next()).collect();
    l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [i, o]), dev));
    l.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(b, [o]),
        dev,
    )));
    l
}

xai_testkit::test_device!(fn a_nonlinear_classifier_flips_on_every_device(dev) {
    let mlp = Mlp {
        a: seeded_linear(4, 16, 1, &dev),
        relu: Relu::new(),
        b: seeded_linear(16, 3, 2, &dev),
    };
    let ex = Explainable::new(
        mlp,
        |m: &Mlp, x| m.b.forward(m.relu.forward(m.a.forward(x))),
        dev.clone(),
    );
    // Rows spread over the box, with the immutable feature 3 equal in all of them, so
    // every other row's class is reachable (that row itself is a feasible point).
    let v: Vec<f32> = (0..8)
        .flat_map(|i| {
            let t = i as f32 / 7.0 * 5.0 - 2.5;
            [t, -0.7 * t + 0.3, (t * 1.3).sin() * 2.0, 0.5]
        })
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(v, [8, 4]), &dev);
    let logits = xai_core::tensor_to_vec_f64(ex.forward(&x).unwrap()).unwrap();
    let pred: Vec<usize> = logits
        .chunks(3)
        .map(|row| (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap())
        .collect();
    let desired: Vec<usize> = (0..8)
        .map(|r| {
            *pred
                .iter()
                .find(|&&p| p != pred[r])
                .expect("two classes in the box")
        })
        .collect();
    let cfg = WachterConfig {
        distance: CfDistance::L2,
        immutable: vec![3],
        lower: Some(vec![-3.0; 4]),
        upper: Some(vec![3.0; 4]),
        ..WachterConfig::default()
    };
    let r = wachter(&ex, &x, &desired, &cfg).unwrap();
    let x0 = xai_core::tensor_to_vec_f64(x.clone()).unwrap();
    let d = xai_core::tensor_to_vec_f64(r.counterfactuals.clone()).unwrap();
    for row in 0..8 {
        if r.found[row] {
            assert_eq!(r.classes[row], desired[row]);
        }
        assert_eq!(
            d[row * 4 + 3],
            x0[row * 4 + 3],
            "immutable feature moved"
        );
        assert!(
            d[row * 4..row * 4 + 4]
                .iter()
                .all(|v| (-3.0..=3.0).contains(v))
        );
    }
    assert!(
        r.found.iter().all(|&f| f),
        "{:?} vs {desired:?}",
        r.classes
    );
});

#[test]
fn bad_settings_are_clear_errors() {
    let dev = Device::flex();
    let ex = explainable(&dev);
    let x = zeros(1, &dev);
    let with = |f: fn(&mut WachterConfig)| {
        let mut c = WachterConfig::default();
        f(&mut c);
        wachter(&ex, &x, &[1], &c)
    };
    assert!(wachter(&ex, &x, &[2], &WachterConfig::default()).is_err());
    assert!(wachter(&ex, &x, &[1, 0], &WachterConfig::default()).is_err());
    assert!(with(|c| c.lower = Some(vec![0.0; 3])).is_err());
    assert!(
        with(|c| {
            c.lower = Some(vec![1.0; 4]);
            c.upper = Some(vec![0.0; 4]);
        })
        .is_err()
    );
    assert!(with(|c| c.lower = Some(vec![0.5; 4])).is_err()); // x outside its bounds
    assert!(with(|c| c.immutable = vec![4]).is_err());
    assert!(with(|c| c.scale = Some(vec![1.0, 0.0, 1.0, 1.0])).is_err());
    assert!(with(|c| c.learning_rate = f64::NAN).is_err());
}
