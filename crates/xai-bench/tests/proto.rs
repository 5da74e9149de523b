//! Invariants of the interpretable-by-design models, checked exactly, and the benchmarks' claims
//! at a size that runs in CI.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Device, Tensor, TensorData};

use xai_bench::proto::{BenchOptions, cleverhans, regimemix};
use xai_proto::cbm::{Cbm, CbmTraining, ConceptData, Intervenable, train_cbm};
use xai_proto::data::concept_sprites::{CONCEPTS, ConceptSprites};
use xai_proto::data::part_shapes::{PartShapes, PartShapesConfig};
use xai_proto::protopnet::{LastLayerConfig, ProtoPNet, ProtoPNetConfig, ProtoTrainConfig, train};
use xai_proto::train::FitConfig;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

fn small_protopnet() -> (ProtoPNet, xai_proto::protopnet::ProtoTrainLog, PartShapes) {
    let set = PartShapes::generate(
        &PartShapesConfig {
            images: 160,
            ..Default::default()
        },
        11,
    );
    let schedule = ProtoTrainConfig {
        warm_epochs: 1,
        joint_epochs: 2,
        last_layer: LastLayerConfig {
            epochs: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let (m, log) = train(
        &ProtoPNetConfig::default(),
        &schedule,
        &set.images,
        &Device::flex(),
    )
    .unwrap();
    (m, log, set)
}

#[test]
fn protopnet_push_is_bit_exact_points_sum_to_the_logit_and_pruning_removes_prototypes() {
    let device = Device::flex();
    let (mut model, log, set) = small_protopnet();
    // every prototype is a latent patch of a training image of its own class, bit for bit
    assert!(
        model
            .push_is_exact(&set.images, &log.push, &device)
            .unwrap()
    );
    for r in &log.push {
        assert_eq!(set.images.labels[r.image], r.class);
        assert_eq!(model.prototype_class(r.prototype), r.class);
        // its source image is at (numerically) zero distance
        let out = model.forward(set.images.batch(&[r.image], &device).unwrap());
        let d = values(out.min_distances)[r.prototype];
        assert!(d < 1e-4, "prototype {} is {d} from its source", r.prototype);
    }
    // the scoring sheet's points add up to the logit, for every class
    let x = set.images.batch(&[3], &device).unwrap();
    for class in 0..model.classes() {
        let sheet = model.explain(x.clone(), class).unwrap();
        assert!((sheet.total_points - sheet.logit).abs() <= 1e-4 * (1.0 + sheet.logit.abs()));
        assert_eq!(sheet.rows.len(), model.prototypes());
    }
    // pruning: similarities of pruned prototypes are zero and they leave the sheet
    model.prune(&[0, 5]);
    let out = model.forward(x.clone());
    let s = values(out.similarities);
    assert_eq!((s[0], s[5]), (0.0, 0.0));
    let sheet = model.explain(x, 0).unwrap();
    assert!(
        sheet
            .rows
            .iter()
            .all(|r| r.prototype != 0 && r.prototype != 5)
    );
    assert!((sheet.total_points - sheet.logit).abs() <= 1e-4 * (1.0 + sheet.logit.abs()));
}

/// Every float parameter of a module, in visiting order.
fn parameters<M: burn::module::Module>(m: &M) -> Vec<Vec<f64>> {
    struct All(Vec<Vec<f64>>);
    impl burn::module::ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            self.0.push(values(p.val()));
        }
    }
    let mut all = All(Vec::new());
    m.visit(&mut all);
    all.0
}

#[test]
fn protopnet_reinitialised_slots_and_fine_tuning_train_the_whole_network() {
    let device = Device::flex();
    let (mut model, _, set) = small_protopnet();
    let before = parameters(&model);
    let protos = |m: &ProtoPNet| parameters(m)[before.len() - 2].clone();
    let d = protos(&model).len() / model.prototypes();
    // re-initialised slots: new values in [0, 1], active, last-layer rows at the identity
    model.prune(&[0, 1, 5]);
    model.reinitialise(&[1, 5], 3).unwrap();
    let (old, new) = (&before[before.len() - 2], protos(&model));
    assert_ne!(old[d..2 * d], new[d..2 * d]);
    assert_eq!(
        old[2 * d..5 * d],
        new[2 * d..5 * d],
        "other prototypes untouched"
    );
    assert!(new.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(!model.is_active(0) && model.is_active(1) && model.is_active(5));
    let w = model.last_weights().unwrap();
    let c = model.classes();
    for j in [1usize, 5] {
        for k in 0..c {
            let expected = if k == model.prototype_class(j) {
                1.0
            } else {
                -0.5
            };
            assert_eq!(w[j * c + k], expected);
        }
    }
    assert!(model.reinitialise(&[model.prototypes()], 3).is_err());
    // fine-tuning moves every layer (backbone included), keeps pruned prototypes pruned and
    // ends with an exact push onto the fine-tuning set
    let schedule = ProtoTrainConfig {
        warm_epochs: 0,
        joint_epochs: 1,
        last_layer: LastLayerConfig {
            epochs: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let (tuned, log) = model.fine_tune(&set.images, &schedule, &device).unwrap();
    let after = parameters(&tuned);
    assert_eq!(after.len(), before.len());
    for (i, (a, b)) in parameters(&model).iter().zip(&after).enumerate() {
        assert_ne!(a, b, "parameter {i} did not move");
    }
    assert!(!tuned.is_active(0));
    let s = values(
        tuned
            .forward(set.images.batch(&[0, 1], &device).unwrap())
            .similarities,
    );
    let p = tuned.prototypes();
    assert_eq!((s[0], s[p]), (0.0, 0.0));
    assert!(
        tuned
            .push_is_exact(&set.images, &log.push, &device)
            .unwrap()
    );
    // a set the network cannot read is an error, not a panic
    let mut rgb = set.images.clone();
    rgb.channels = 3;
    rgb.pixels = rgb.pixels.iter().flat_map(|&v| [v; 3]).collect();
    assert!(model.fine_tune(&rgb, &schedule, &device).is_err());
    let mut more_classes = set.images.clone();
    more_classes.classes += 1;
    assert!(model.fine_tune(&more_classes, &schedule, &device).is_err());
}

#[test]
fn protopnet_starts_at_the_class_identity_pattern_and_rejects_bad_input() {
    let device = Device::flex();
    let m = ProtoPNet::new(
        &ProtoPNetConfig {
            classes: 3,
            per_class: 2,
            ..Default::default()
        },
        0,
        &device,
    )
    .unwrap();
    let w = m.last_weights().unwrap();
    for j in 0..6 {
        for c in 0..3 {
            let expected = if j / 2 == c { 1.0 } else { -0.5 };
            assert_eq!(w[j * 3 + c], expected);
        }
    }
    assert!(
        m.explain(Tensor::<4>::zeros([2, 1, 24, 24], &device), 0)
            .is_err()
    );
    assert!(
        m.explain(Tensor::<4>::zeros([1, 1, 24, 24], &device), 7)
            .is_err()
    );
    assert!(
        ProtoPNet::new(
            &ProtoPNetConfig {
                classes: 1,
                ..Default::default()
            },
            0,
            &device
        )
        .is_err()
    );
}

#[test]
fn cbm_intervention_replaces_exactly_the_chosen_groups() {
    let device = Device::flex();
    let s = ConceptSprites::generate(8, 3);
    let model = xai_core::init::seeded(Cbm::new(3, 24, CONCEPTS, 6, &device), 0).unwrap();
    let idx: Vec<usize> = (0..8).collect();
    let x = s.images.batch(&idx, &device).unwrap();
    let truth = Tensor::<2>::from_data(TensorData::new(s.concepts.clone(), [8, CONCEPTS]), &device);
    // intervene on the colour group (columns 3..6) only
    let mask_v: Vec<bool> = (0..8 * CONCEPTS)
        .map(|i| (3..6).contains(&(i % CONCEPTS)))
        .collect();
    let mask =
        Tensor::<2, Bool>::from_data(TensorData::new(mask_v.clone(), [8, CONCEPTS]), &device);
    let got = values(model.intervened_logits(x.clone(), mask, truth.clone()));
    let mut p = values(sigmoid(model.concept_logits(x.clone())));
    for (i, v) in p.iter_mut().enumerate() {
        if mask_v[i] {
            *v = s.concepts[i] as f64;
        }
    }
    let p = Tensor::<2>::from_data(
        TensorData::new(
            p.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            [8, CONCEPTS],
        ),
        &device,
    );
    let want = values(model.task_logits(p));
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6);
    }
    // all groups: the task model sees the true concepts
    let all = Tensor::<2, Bool>::from_data(
        TensorData::new(vec![true; 8 * CONCEPTS], [8, CONCEPTS]),
        &device,
    );
    let got = values(model.intervened_logits(x, all, truth.clone()));
    let want = values(model.task_logits(truth));
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn cbm_training_rejects_a_concept_table_of_the_wrong_size() {
    let s = ConceptSprites::generate(10, 0);
    let data = ConceptData {
        images: &s.images,
        concepts: &s.concepts[..20],
        stride: CONCEPTS,
        k: CONCEPTS,
    };
    let fc = FitConfig {
        epochs: 1,
        batch: 4,
        lr: 1e-3,
        seed: 0,
        progress: false,
    };
    assert!(train_cbm(data, CbmTraining::Independent, &fc, &Device::flex()).is_err());
}

#[test]
fn regimemix_routes_by_regime_with_balanced_load_and_is_reproducible() {
    let dir = std::env::temp_dir().join("xai-proto-test-regimemix");
    let opts = BenchOptions {
        out: dir,
        ..Default::default()
    };
    let a = regimemix::run(&opts).unwrap();
    let nmi = a["nmi"].as_f64().unwrap();
    let load = a["max_over_mean_load"].as_f64().unwrap();
    assert!(nmi >= 0.9, "NMI {nmi}");
    assert!(load <= 1.2, "max/mean load {load}");
    for e in a["experts"].as_array().unwrap() {
        assert!(e["cosine_to_true_rule"].as_f64().unwrap() > 0.95, "{e}");
    }
    let b = regimemix::run(&opts).unwrap();
    assert_eq!(a["nmi"], b["nmi"]);
    assert_eq!(a["test_mse"], b["test_mse"]);
}

#[test]
fn clever_hans_quick_run_exposes_the_watermark() {
    let dir = std::env::temp_dir().join("xai-proto-test-cleverhans");
    let opts = BenchOptions {
        out: dir.clone(),
        quick: true,
        ..Default::default()
    };
    let v = cleverhans::run(&opts).unwrap();
    // the nearest training neighbours of watermarked test images carry the watermark far above
    // its base rate in training
    let share = v["knn_watermark_share"].as_f64().unwrap();
    let base = v["knn_watermark_base_rate"].as_f64().unwrap();
    assert!(share > 3.0 * base, "share {share} base {base}");
    assert!(
        v["tcav_watermark_p"].as_f64().unwrap() < 0.05,
        "{}",
        v["tcav_watermark_p"]
    );
    assert!(
        v["tcav_random_p"].as_f64().unwrap() >= 0.05,
        "{}",
        v["tcav_random_p"]
    );
    // the repair (flagged slots re-learnt on counterexamples) leaves no prototype that answers
    // the watermark the way the flagged ones did
    let (before, after) = (
        v["max_watermark_response"].as_f64().unwrap(),
        v["repaired_max_watermark_response"].as_f64().unwrap(),
    );
    assert!(
        after < 0.25 * before,
        "watermark response {before} → {after}"
    );
    let repaired = v["protopnet_repaired_shuffled_accuracy"].as_f64().unwrap();
    assert!(repaired > 0.95, "repaired shuffled accuracy {repaired}");
    assert!(dir.join("cleverhans_prototypes.png").exists());
}

/// With the null hypothesis true by construction (random concepts drawn as the null's are),
/// TCAV's test calls at most about α of them significant. 40 random concepts on a network at
/// its seeded initialisation: at α = 0.05 a calibrated test flags 2 on average, and 7 or more
/// has probability 0.003; testing each concept's runs against random-vs-random runs as if they
/// were independent flags far more.
#[test]
fn tcav_is_calibrated_on_random_concepts() {
    let device = Device::flex();
    let data = cleverhans::hans_data(7);
    let side = data.train_set.shapes.images.side;
    let cnn = xai_core::init::seeded(
        cleverhans::HansCnn::new(1, side, xai_proto::data::part_shapes::CLASSES, &device),
        7,
    )
    .unwrap();
    let (_, controls) = cleverhans::tcav_tests(&cnn, &data, 7, 40, &device).unwrap();
    let flagged = controls.iter().filter(|c| c.p_value < 0.05).count();
    let flagged_rank = controls.iter().filter(|c| c.p_rank < 0.05).count();
    assert!(
        flagged <= 6,
        "t-test: {flagged} of 40 random concepts significant"
    );
    assert!(flagged_rank <= 6, "rank test: {flagged_rank} of 40");
    // The p-values spread over (0, 1]: not all stuck near 1 either (a test that never rejects).
    let median = {
        let mut p: Vec<f64> = controls.iter().map(|c| c.p_value).collect();
        p.sort_by(f64::total_cmp);
        p[20]
    };
    assert!((0.2..0.8).contains(&median), "median p {median}");
}

#[test]
fn partshapes_protopnet_is_accurate_and_its_prototypes_sit_on_defining_glyphs() {
    let dir = std::env::temp_dir().join("xai-proto-test-partshapes");
    let opts = BenchOptions {
        out: dir.clone(),
        ..Default::default()
    };
    let v = xai_bench::proto::partshapes::run(&opts).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() >= 0.97, "{}", v["accuracy"]);
    // 14 of 16 prototypes at seed 0 (PartShapes depends on the seed: duplicates on a shared
    // glyph or on a distractor happen, the known ProtoPNet failure)
    assert!(
        v["prototypes_on_glyph"].as_f64().unwrap() >= 0.85,
        "{}",
        v["prototypes_on_glyph"]
    );
    assert_eq!(v["push_exact"], true);
    assert!(v["points_sum_max_error"].as_f64().unwrap() < 1e-3);
    // erasing the top prototype's glyph changes the prediction far more often than erasing an
    // empty box of the same size
    let flip = v["erase_flip_rate"].as_f64().unwrap();
    let control = v["random_erase_flip_rate"].as_f64().unwrap();
    assert!(
        flip >= 0.7 && flip > 5.0 * control + 0.1,
        "flip {flip} control {control}"
    );
    assert!(
        v["pointing_game"].as_f64().unwrap() >= 0.9,
        "{}",
        v["pointing_game"]
    );
    assert!(dir.join("partshapes.html").exists());
}

#[cfg(feature = "wgpu")]
#[test]
fn models_agree_on_flex_and_wgpu_and_train_on_wgpu() {
    use burn::module::Module;
    use xai_proto::moe::{Moe, MoeConfig};
    let flex = Device::flex();
    let wgpu = xai_core::parse_device("wgpu-cpu").unwrap();
    let set = PartShapes::generate(
        &PartShapesConfig {
            images: 16,
            ..Default::default()
        },
        2,
    );
    let idx: Vec<usize> = (0..16).collect();
    // same weights, both backends
    let m = ProtoPNet::new(&ProtoPNetConfig::default(), 0, &flex).unwrap();
    let a = values(m.forward(set.images.batch(&idx, &flex).unwrap()).logits);
    let mw = m.clone().to_device(&wgpu);
    let b = values(mw.forward(set.images.batch(&idx, &wgpu).unwrap()).logits);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-3 * (1.0 + x.abs()), "{x} vs {y}");
    }
    let moe = Moe::new(
        &MoeConfig {
            inputs: 6,
            experts: 4,
            ..Default::default()
        },
        0,
        &flex,
    )
    .unwrap();
    let x = Tensor::<2>::from_data(
        TensorData::new((0..24).map(|v| v as f32 / 24.0).collect::<Vec<_>>(), [4, 6]),
        &flex,
    );
    let ya = values(moe.forward(x.clone(), None).y);
    let yb = values(
        moe.clone()
            .to_device(&wgpu)
            .forward(x.to_device(&wgpu), None)
            .y,
    );
    for (p, q) in ya.iter().zip(&yb) {
        assert!((p - q).abs() < 1e-4 * (1.0 + p.abs()));
    }
    // a short ProtoPNet schedule runs entirely on wgpu, push included
    let schedule = ProtoTrainConfig {
        warm_epochs: 1,
        joint_epochs: 1,
        batch: 16,
        last_layer: LastLayerConfig {
            epochs: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let (trained, log) = train(&ProtoPNetConfig::default(), &schedule, &set.images, &wgpu).unwrap();
    assert!(log.epoch_loss.iter().all(|l| l.is_finite()));
    assert_eq!(log.push.len(), trained.prototypes());
}

#[test]
fn conceptsprites_quick_run_interventions_fix_the_task_and_cem_beats_cbm() {
    // the quick scale (1,500 training sprites, 10 epochs); the full benchmark's figures are in
    // the README
    let dir = std::env::temp_dir().join("xai-proto-test-conceptsprites");
    let opts = BenchOptions {
        out: dir.clone(),
        quick: true,
        ..Default::default()
    };
    let v = xai_bench::proto::conceptsprites::run(&opts).unwrap();
    assert!(
        v["concept_accuracy"].as_f64().unwrap() >= 0.97,
        "{}",
        v["concept_accuracy"]
    );
    assert!(
        v["intervened_task_accuracy"].as_f64().unwrap() >= 0.995,
        "{}",
        v["intervened_task_accuracy"]
    );
    assert!(
        v["cem_minus_cbm"].as_f64().unwrap() > 0.0,
        "{}",
        v["cem_minus_cbm"]
    );
    // the independent CBM's intervention curve ends at the top
    let curve = v["complete"]["independent"]["intervention_curve"]
        .as_array()
        .unwrap();
    assert!(curve.last().unwrap().as_f64().unwrap() >= curve[0].as_f64().unwrap());
    assert!(dir.join("conceptsprites_interventions.svg").exists());
}
