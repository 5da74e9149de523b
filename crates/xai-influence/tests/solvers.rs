//! Solvers against the exact inverse, axioms of the influence quantities, partition and batch
//! invariance, and backend agreement.

use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, FloatDType, Tensor};
use xai_grad::{CapturedGraph, Precision};
use xai_influence::eval::{TrainOptions, pearson, train};
use xai_influence::objective::to_f64;
use xai_influence::solvers::Fisher;
use xai_influence::solvers::lissa::LissaConfig;
use xai_influence::{Data, Influence, Loss, Objective, Solver};

#[derive(burn::module::Module, Debug)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2
            .forward(burn::tensor::activation::tanh(self.fc1.forward(x)))
    }
}

/// A trained 64-6-10 tanh MLP on 150 digits, and 5 test digits.
fn mlp_problem(device: &Device, precision: Precision) -> (Objective, Tensor<1>, Data) {
    let d = xai_influence::data::digits().unwrap();
    let tr = d.subset(&(0..150).collect::<Vec<_>>());
    let te = d.subset(&(1500..1505).collect::<Vec<_>>());
    let train_set = Data::from_rows(&tr.x, 64, tr.y.clone(), device, precision).unwrap();
    let test = Data::from_rows(&te.x, 64, te.y.clone(), device, precision).unwrap();
    let m = Mlp {
        fc1: LinearConfig::new(64, 6).init(device),
        fc2: LinearConfig::new(6, 10).init(device),
    };
    let m = xai_core::init::seeded(m, 3).unwrap();
    let x = train_set
        .x
        .clone()
        .into_tensor::<2>()
        .unwrap()
        .cast(FloatDType::F32);
    let g = CapturedGraph::capture(&m, x, |m, x| m.forward(x)).unwrap();
    let obj = Objective::new(g, train_set, Loss::CrossEntropy, 1e-2, device, precision).unwrap();
    let (theta, rep) = train(
        &obj,
        &obj.theta(),
        None,
        &TrainOptions {
            grad_tol: 1e-8,
            max_iter: 3000,
            history: 20,
        },
    )
    .unwrap();
    assert!(rep.grad_norm < 1e-6, "training did not converge: {rep:?}");
    (obj, theta, test)
}

fn flat(m: &[Vec<f64>]) -> Vec<f64> {
    m.iter().flatten().copied().collect()
}

use xai_testkit::rel;

#[test]
fn dense_per_example_gradients_equal_one_backward_per_example() {
    let dev = Device::flex();
    let (obj, theta, _) = mlp_problem(&dev, Precision::F64);
    let batched = to_f64(obj.per_example_grads(&theta, obj.train(), 64).unwrap()).unwrap();
    let p = obj.num_params();
    for i in [0usize, 17, 149] {
        let one = obj.train().select(&[i]).unwrap();
        let w: Vec<f64> = (0..1).map(|_| 1.0).collect();
        let single = obj.with_train(one).unwrap();
        let (_, g) = single.value_grad(&theta, Some(&w)).unwrap();
        // value_grad adds λθ_R; remove it to get the bare loss gradient.
        let g = g - theta.clone() * single.l2_mask() * single.l2();
        let g = to_f64(g).unwrap();
        assert!(rel(&batched[i * p..(i + 1) * p], &g) < 1e-10, "row {i}");
    }
}

#[test]
fn every_solver_agrees_with_the_exact_inverse() {
    let dev = Device::flex();
    let (obj, theta, test) = mlp_problem(&dev, Precision::F64);
    let exact = Influence::new(&obj, &theta, &Solver::exact(1e-3))
        .unwrap()
        .up_loss(&test)
        .unwrap();
    let cg = Influence::new(
        &obj,
        &theta,
        &Solver::Cg {
            damping: 1e-3,
            max_iter: 500,
            tol: 1e-10,
            curvature: Default::default(),
        },
    )
    .unwrap()
    .up_loss(&test)
    .unwrap();
    assert!(rel(&flat(&cg), &flat(&exact)) < 1e-6, "CG");
    let p = obj.num_params();
    let arnoldi = Influence::new(
        &obj,
        &theta,
        &Solver::Arnoldi {
            dim: p,
            top_k: p,
            damping: 1e-3,
            seed: 1,
        },
    )
    .unwrap()
    .up_loss(&test)
    .unwrap();
    assert!(
        rel(&flat(&arnoldi), &flat(&exact)) < 1e-4,
        "Arnoldi with the full Krylov space"
    );
    let lissa = Influence::new(
        &obj,
        &theta,
        &Solver::Lissa(LissaConfig {
            batch_size: 150,
            depth: 4000,
            damping: 1e-3,
            ..Default::default()
        }),
    )
    .unwrap()
    .up_loss(&test)
    .unwrap();
    assert!(
        rel(&flat(&lissa), &flat(&exact)) < 0.05,
        "full-batch LiSSA: {}",
        rel(&flat(&lissa), &flat(&exact))
    );
    // Kronecker approximations: the same ranking, not the same numbers.
    let gn = Influence::new(
        &obj,
        &theta,
        &Solver::Exact {
            damping: 1e-3,
            curvature: xai_influence::solvers::Curvature::GaussNewton,
        },
    )
    .unwrap()
    .up_loss(&test)
    .unwrap();
    for solver in [
        Solver::Kfac {
            damping: 1e-3,
            fisher: Fisher::Sampled { seed: 0 },
        },
        Solver::Ekfac {
            damping: 1e-3,
            fisher: Fisher::Sampled { seed: 0 },
        },
        Solver::Kfac {
            damping: 1e-3,
            fisher: Fisher::Expected,
        },
        Solver::Ekfac {
            damping: 1e-3,
            fisher: Fisher::Expected,
        },
    ] {
        let s = Influence::new(&obj, &theta, &solver)
            .unwrap()
            .up_loss(&test)
            .unwrap();
        let r = pearson(&flat(&s), &flat(&gn));
        assert!(
            r > 0.8,
            "{solver:?}: Pearson {r:.3} with the exact Gauss-Newton influence"
        );
    }
}

#[test]
fn lissa_with_a_too_small_scale_is_reported_not_returned() {
    let dev = Device::flex();
    let (obj, theta, _) = mlp_problem(&dev, Precision::F64);
    let err = Solver::Lissa(LissaConfig {
        batch_size: 1,
        depth: 2000,
        scale: Some(1e-3),
        ..Default::default()
    })
    .build(&obj, &theta)
    .unwrap()
    .solve(
        &obj.per_example_grads(&theta, obj.train(), 8)
            .unwrap()
            .slice(0..1),
    )
    .expect_err("divergence must be an error");
    assert!(err.to_string().contains("diverged"), "{err}");
}

#[test]
fn scores_do_not_depend_on_the_partition_or_the_chunk_size() {
    let dev = Device::flex();
    let (obj, theta, test) = mlp_problem(&dev, Precision::F64);
    let inf = Influence::new(&obj, &theta, &Solver::exact(1e-3)).unwrap();
    let whole = inf.up_loss(&test).unwrap();
    let s = inf.s_test(&test).unwrap();
    // Three shards computed independently (as separate processes would), then concatenated.
    let mut merged = vec![Vec::new(); test.len()];
    for shard in [0..40usize, 40..41, 41..150] {
        let sub = obj
            .train()
            .select(&shard.clone().collect::<Vec<_>>())
            .unwrap();
        let g = obj.per_example_grads(&theta, &sub, 7).unwrap();
        for (t, row) in inf.up_loss_against(&s, &g).unwrap().into_iter().enumerate() {
            merged[t].extend(row);
        }
    }
    assert!(rel(&flat(&merged), &flat(&whole)) < 1e-12);
    // Test points asked one at a time (through the s_test cache) give the same rows.
    let one = inf.up_loss(&test.select(&[3]).unwrap()).unwrap();
    assert!(rel(&one[0], &whole[3]) < 1e-12);
}

#[test]
fn self_influence_is_the_diagonal_and_top_k_follow_the_sign_convention() {
    let dev = Device::flex();
    let (obj, theta, _) = mlp_problem(&dev, Precision::F64);
    let inf = Influence::new(&obj, &theta, &Solver::exact(1e-3)).unwrap();
    let si = inf.self_influence().unwrap();
    let as_test = obj.train().select(&[0, 5]).unwrap();
    let up = inf.up_loss(&as_test).unwrap();
    assert!((si[0] + up[0][0]).abs() < 1e-9 * si[0].abs().max(1.0));
    assert!((si[5] + up[1][5]).abs() < 1e-9 * si[5].abs().max(1.0));
    assert!(
        si.iter().all(|&v| v >= 0.0),
        "self-influence is non-negative for a PD curvature"
    );
    // A training point is its own most helpful example.
    let best = inf
        .top_helpful(&obj.train().select(&[5]).unwrap(), 1)
        .unwrap();
    assert_eq!(best[0].index, 5);
    let worst = inf
        .top_harmful(&obj.train().select(&[5]).unwrap(), 1)
        .unwrap();
    assert!(worst[0].score < 0.0);
}

#[test]
fn relative_influence_is_influence_over_the_root_of_self_influence() {
    let dev = Device::flex();
    let (obj, theta, test) = mlp_problem(&dev, Precision::F64);
    let inf = Influence::new(&obj, &theta, &Solver::exact(1e-3)).unwrap();
    let t = test.select(&[0, 1]).unwrap();
    let (rel_scores, up, si) = (
        inf.relative_up_loss(&t).unwrap(),
        inf.up_loss(&t).unwrap(),
        inf.self_influence().unwrap(),
    );
    for (r, u) in rel_scores.iter().zip(&up) {
        for i in 0..si.len() {
            let want = if si[i] > 0.0 {
                -u[i] / si[i].sqrt()
            } else {
                0.0
            };
            assert!((r[i] - want).abs() <= 1e-12 * want.abs().max(1.0));
        }
    }
    // As a test point, a training example is also its own most relatively-helpful one: its
    // score √(self-influence) bounds every other by Cauchy–Schwarz in the H⁻¹ inner product.
    let own = inf
        .relative_up_loss(&obj.train().select(&[5]).unwrap())
        .unwrap();
    let best = xai_influence::influence::rank(&own[0], 1, true);
    assert_eq!(best[0].index, 5);
}

#[test]
fn pert_loss_matches_finite_differences_of_up_loss() {
    let dev = Device::flex();
    let (obj, theta, test) = mlp_problem(&dev, Precision::F64);
    let inf = Influence::new(&obj, &theta, &Solver::exact(1e-3)).unwrap();
    let t = test.select(&[0]).unwrap();
    let i = 11;
    let ours = to_f64(inf.pert_loss(&t, &[i]).unwrap()).unwrap();
    let s = inf.s_test(&t).unwrap();
    let x = to_f64(obj.train().x.clone().into_rows().unwrap()).unwrap();
    let row: Vec<f64> = x[i * 64..(i + 1) * 64].to_vec();
    let up_at = |r: &[f64]| {
        let d = Data::from_rows(r, 64, vec![obj.train().y[i]], &dev, Precision::F64).unwrap();
        let g = obj.per_example_grads(&theta, &d, 1).unwrap();
        inf.up_loss_against(&s, &g).unwrap()[0][0]
    };
    let eps = 1e-5;
    for j in [10usize, 27, 44] {
        let (mut a, mut b) = (row.clone(), row.clone());
        a[j] += eps;
        b[j] -= eps;
        let fd = (up_at(&a) - up_at(&b)) / (2.0 * eps);
        assert!(
            (ours[j] - fd).abs() < 1e-6 * fd.abs().max(1e-3),
            "pixel {j}: {} vs {fd}",
            ours[j]
        );
    }
}

#[test]
fn attributors_are_oriented_like_influence() {
    let dev = Device::flex();
    let (obj, theta, test) = mlp_problem(&dev, Precision::F64);
    let inf = Influence::new(&obj, &theta, &Solver::exact(1e-3))
        .unwrap()
        .predicted_loo_change(&test)
        .unwrap();
    let dot = xai_influence::attributors::grad_dot(&obj, &theta, &test).unwrap();
    let last = xai_influence::attributors::tracin_last_layer(&obj, &theta, &test).unwrap();
    let rep = xai_influence::attributors::representer(&obj, &theta, &test).unwrap();
    let trak = xai_influence::attributors::trak(&obj, &theta, &test, 256, 2, 1e-3, 0).unwrap();
    for (name, s) in [
        ("grad_dot", &dot),
        ("tracin_last", &last),
        ("representer", &rep),
        ("trak", &trak),
    ] {
        let r = pearson(&flat(s), &flat(&inf));
        // Positive = same orientation; TRAK's 256-d projection of 460 parameters is noisier.
        let floor = if name == "trak" { 0.15 } else { 0.3 };
        assert!(
            r > floor,
            "{name}: Pearson {r:.3} with influence (orientation)"
        );
    }
    let knn = xai_influence::attributors::knn_candidates(
        &obj,
        &theta,
        &obj.train().select(&[9]).unwrap(),
        3,
    )
    .unwrap();
    assert_eq!(
        knn[0][0], 9,
        "a training point is its own nearest neighbour"
    );
}

#[cfg(feature = "wgpu")]
#[test]
fn hvp_and_cg_agree_on_flex_and_wgpu() {
    use xai_grad::DynTensor;
    let flex = Device::flex();
    // Train in f64, then compare f32 runs on both backends at the same parameters.
    let (obj64, theta64, test64) = mlp_problem(&flex, Precision::F64);
    let wgpu = xai_core::parse_device("wgpu-cpu").unwrap();
    let on = |dev: &Device, d: &Data| {
        let x =
            d.x.clone()
                .into_tensor::<2>()
                .unwrap()
                .cast(FloatDType::F32)
                .to_device(dev);
        Data::new(DynTensor::from_tensor(x), d.y.clone()).unwrap()
    };
    let make = |dev: &Device| {
        Objective::new(
            obj64.graph().clone(),
            on(dev, obj64.train()),
            Loss::CrossEntropy,
            obj64.l2(),
            dev,
            Precision::F32,
        )
        .unwrap()
    };
    let (obj, obj_w) = (make(&flex), make(&wgpu));
    let theta = theta64.clone().cast(FloatDType::F32);
    let theta_w = theta.clone().to_device(&wgpu);
    let test = on(&flex, &test64);
    let v = obj.per_example_grads(&theta, &test, 8).unwrap();
    let v1 = xai_influence::solvers::row(&v, 0);
    let a = to_f64(obj.hvp(&theta, None, &v1).unwrap()).unwrap();
    let b = to_f64(
        obj_w
            .hvp(&theta_w, None, &v1.clone().to_device(&wgpu))
            .unwrap(),
    )
    .unwrap();
    assert!(rel(&b, &a) < 1e-4, "HVP flex vs wgpu: {}", rel(&b, &a));
    let cg = Solver::Cg {
        damping: 1e-2,
        max_iter: 200,
        tol: 1e-5,
        curvature: Default::default(),
    };
    let sa = to_f64(cg.build(&obj, &theta).unwrap().solve(&v).unwrap()).unwrap();
    let sb = to_f64(
        cg.build(&obj_w, &theta_w)
            .unwrap()
            .solve(&v.to_device(&wgpu))
            .unwrap(),
    )
    .unwrap();
    assert!(rel(&sb, &sa) < 1e-3, "CG flex vs wgpu: {}", rel(&sb, &sa));
}
