//! Clever Hans benchmark: can TCAV, prototypes and nearest neighbours expose a shortcut, and
//! does removing the shortcut's prototypes repair the model?
//!
//! Data: PartShapes with a corner watermark on 90 % of class-0 training images and on no other
//! training image; test images carry it with probability ½ whatever their class (`shuffled`).
//!
//! 1. A CNN ([`HansCnn`]) is trained on the confounded set; `reliance_gap` is its accuracy on
//!    an i.i.d. (confounded) test set minus its accuracy on the shuffled test set.
//! 2. **TCAV** at the CNN's `encoder.fc` layer (64 units) for class 0: the concept "watermark" (clean
//!    images with the watermark stamped in, a pool of 150 resampled per run) against 10 random
//!    counter-sets of 50 clean images;
//!    `tcav_watermark_p` (target < 0.05) and the same test for a random concept (another set of
//!    clean images), `tcav_random_p` (target ≥ 0.05); the null distribution is 20 random
//!    concepts of clean images ([`xai_proto::tcav`]).
//! 3. **Deep kNN** on the CNN's feature layers: for watermarked shuffled-test images of the other
//!    classes, the fraction of their nearest training neighbours that carry the watermark
//!    (`knn_watermark_share`, against the base rate in training), and the mean credibility of
//!    watermarked vs clean test images.
//! 4. **ProtoPNet** on the confounded set: the prototypes whose source patch lies on the
//!    watermark, and those whose similarity jumps when the watermark is stamped onto clean
//!    images (`watermark_response`, the mean rise per prototype; flagged when above the median
//!    by more than ten median absolute deviations) are `watermark_prototypes`. Two ways to act
//!    on them, each compared with a ProtoPNet trained without the watermark on the shuffled
//!    test:
//!    - **pruning** (ProtoPNet's own tool): the flagged prototypes removed and the last layer
//!      refitted on the same confounded set; `pruned_accuracy_gap` = clean − pruned accuracy.
//!      It cannot repair a model whose class-0 prototypes are all flagged (the class is gone) or
//!      whose other prototypes answer the watermark below the flagging threshold.
//!    - **repair** (prune, re-learn and fine-tune, as ProtoPDebug and explanatory interactive
//!      learning do): the flagged slots get fresh prototypes and the whole network is
//!      fine-tuned for [`REPAIR_EPOCHS`] joint epochs on counterexamples — the training set
//!      with the watermark stamped onto a seeded share of every other class, at the confounded
//!      class's rate, so it no longer predicts the class — then pushed and its last layer
//!      refitted; `repaired_accuracy_gap` (target ≤ 0.02), and the repaired network's
//!      `repaired_watermark_response` (the shortcut's trace: near 0 when it is gone).
//!
//! Writes `OUT/cleverhans_prototypes.png`, `OUT/cleverhans_neighbours.png` and
//! `OUT/cleverhans.json`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde_json::{Value, json};

use super::{BenchOptions, ensure_dir, median, save_png, write_json};
use xai_core::fixture::{LayerSpec, NdArray, fixture_json};
use xai_core::{Result, tensor_to_vec_f64};
use xai_grad::methods::attack_comparator::{
    ExplanationShift, Perturbation, compare_attacks, explanation_under_attack,
};
use xai_grad::methods::attacks::{Norm, PgdConfig};
use xai_grad::methods::{Explainable, input_gradients};
use xai_proto::cbm::Encoder;
use xai_proto::data::ImageSet;
use xai_proto::data::clever_hans::{CleverHans, Variant, on_watermark, stamp};
use xai_proto::data::part_shapes::CLASSES;
use xai_proto::knn::DeepKnn;
use xai_proto::protopnet::{ProtoPNetConfig, ProtoTrainConfig, accuracy, cell_centre, train};
use xai_proto::render::{draw_box, grid, to_rgb};
use xai_proto::tcav::{TcavResult, TcavSets, tcav};
use xai_proto::train::{FitConfig, cross_entropy, fit, set_accuracy};

/// The black-box CNN: [`Encoder`] (conv 16, conv 32, fc 64) and a linear head.
#[derive(Module, Debug)]
pub struct HansCnn {
    encoder: Encoder,
    head: Linear,
}

impl HansCnn {
    /// A fresh network.
    pub fn new(channels: usize, side: usize, classes: usize, device: &Device) -> HansCnn {
        HansCnn {
            encoder: Encoder::new(channels, side, device),
            head: LinearConfig::new(xai_proto::cbm::FEATURES, classes).init(device),
        }
    }

    /// Logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.encoder.forward(x))
    }

    /// Penultimate features `[N, 64]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.encoder.forward(x)
    }

    /// The network in the fixture format (`scripts/pgd_reference.py` runs it with Captum).
    pub fn layer_specs(&self) -> Result<Vec<LayerSpec>> {
        let mut layers = self.encoder.layer_specs()?;
        layers.push(LayerSpec::from_linear(&self.head)?);
        Ok(layers)
    }
}

fn forward_fn(m: &HansCnn, x: Tensor<4>) -> Tensor<2> {
    m.forward(x)
}

fn features(model: &HansCnn, set: &ImageSet, device: &Device) -> Result<Vec<Vec<f64>>> {
    let idx: Vec<usize> = (0..set.len()).collect();
    let mut out = Vec::new();
    for chunk in idx.chunks(256) {
        let f = tensor_to_vec_f64(model.features(set.batch(chunk, device)?))?;
        out.extend(f.chunks(xai_proto::cbm::FEATURES).map(|c| c.to_vec()));
    }
    Ok(out)
}

/// The data of one run: the confounded training set, an i.i.d. test set, the shuffled test set
/// (watermark independent of the class) and a clean training set.
pub struct HansData {
    /// Confounded training images (watermark on 90 % of class 0).
    pub train_set: CleverHans,
    /// Test images drawn like the training set.
    pub iid_test: CleverHans,
    /// Test images carrying the watermark with probability ½ whatever their class.
    pub shuffled: CleverHans,
    /// Training images without any watermark.
    pub clean_train: CleverHans,
}

/// Training and test images (2,000 / 800) and training epochs of the CNN.
const SIZES: (usize, usize, usize) = (2000, 800, 12);

/// Share of class-0 training images carrying the watermark.
const RHO: f64 = 0.9;

/// Generate the run's data from `seed`.
pub fn hans_data(seed: u64) -> HansData {
    let (n_train, n_test, _) = SIZES;
    HansData {
        train_set: CleverHans::generate(n_train, Variant::Train { rho: RHO }, 0, seed),
        iid_test: CleverHans::generate(
            n_test,
            Variant::Train { rho: RHO },
            0,
            seed.wrapping_add(1_000_003),
        ),
        shuffled: CleverHans::generate(n_test, Variant::Shuffled, 0, seed.wrapping_add(2_000_003)),
        clean_train: CleverHans::generate(n_train, Variant::Clean, 0, seed),
    }
}

/// Train the black-box CNN on the confounded set. `quick` does not shorten it: the CNN needs
/// its full training to have learnt the shortcut at all.
pub fn train_cnn(data: &HansData, opts: &BenchOptions) -> Result<HansCnn> {
    let ad = opts.device.clone().autodiff();
    let ts = &data.train_set.shapes.images;
    let fc = FitConfig {
        epochs: SIZES.2,
        batch: 64,
        lr: 3e-3,
        seed: opts.seed,
        progress: opts.progress,
    };
    let (cnn, _) = fit(
        HansCnn::new(1, ts.side, CLASSES, &ad),
        ts.len(),
        &fc,
        "Clever Hans CNN",
        |m, idx| {
            Ok(cross_entropy(
                m.forward(ts.batch(idx, &ad)?),
                ts.label_tensor(idx, &ad),
            ))
        },
    )?;
    Ok(cnn.valid().to_device(&opts.device))
}

/// Test images attacked in the robustness section.
const ATTACKED: usize = 400;

/// PGD in L∞ at ε = 8/255 (steps of 2/255, ten of them, no random start, pixels kept in
/// [0, 1]): the setting `scripts/pgd_reference.py` repeats with Captum on the same network and
/// images.
pub fn pgd_8_255() -> PgdConfig {
    PgdConfig {
        norm: Norm::Linf,
        eps: 8.0 / 255.0,
        step: 2.0 / 255.0,
        steps: 10,
        random_start: None,
        bounds: Some((0.0, 1.0)),
        targeted: false,
    }
}

/// The CNN under attack on the first [`ATTACKED`] images of `set`: accuracy per perturbation
/// family, how far saliency moves under small perturbations that keep the class, and the
/// network and images written as a fixture (`cleverhans_cnn_fixture.json`) for the Captum run.
pub fn robustness(cnn: &HansCnn, set: &ImageSet, opts: &BenchOptions) -> Result<Value> {
    let idx: Vec<usize> = (0..ATTACKED.min(set.len())).collect();
    let x = set.batch(&idx, &opts.device)?;
    let labels: Vec<usize> = idx.iter().map(|&i| set.labels[i]).collect();
    let ex = Explainable::new(cnn.clone(), forward_fn, opts.device.clone());
    let bounds = Some((0.0, 1.0));
    let l2 = PgdConfig {
        norm: Norm::L2,
        eps: 1.0,
        step: 0.25,
        ..pgd_8_255()
    };
    let attacks = [
        Perturbation::Fgsm { eps: 8.0 / 255.0 },
        Perturbation::Pgd(pgd_8_255()),
        Perturbation::Pgd(l2),
        Perturbation::Gaussian {
            std: 0.1,
            draws: 4,
            seed: opts.seed,
        },
    ];
    let families = compare_attacks(&ex, &x, &labels, &attacks, bounds)?;
    // Saliency's top 10 % of pixels under perturbations of 2/255 that keep the class.
    let saliency = |t: &Tensor<4>, c: &[usize]| input_gradients(&ex, t, c);
    let k = set.side * set.side / 10;
    let small = [
        Perturbation::Pgd(PgdConfig {
            eps: 2.0 / 255.0,
            step: 0.5 / 255.0,
            ..pgd_8_255()
        }),
        Perturbation::Uniform {
            eps: 2.0 / 255.0,
            draws: 4,
            seed: opts.seed,
        },
    ];
    let shifts = small
        .iter()
        .map(|p| explanation_under_attack(&ex, &x, &labels, p, bounds, k, saliency))
        .collect::<Result<Vec<_>>>()?;
    ensure_dir(&opts.out)?;
    let fixture = opts.out.join("cleverhans_cnn_fixture.json");
    let inputs = NdArray::from_tensor(x)?;
    write_json(
        &fixture,
        &fixture_json("cleverhans_cnn", &cnn.layer_specs()?, &inputs, &labels),
    )?;
    let summary = |s: &ExplanationShift| {
        json!({"perturbation": s.name, "k": s.k, "flipped": s.flipped, "degenerate": s.degenerate,
               "mean_relative_change": s.mean_relative_change,
               "mean_top_k_overlap": s.mean_top_k_overlap})
    };
    let pgd_flip = families
        .iter()
        .find(|f| f.name == Perturbation::Pgd(pgd_8_255()).name())
        .map(|f| f.flip_rate);
    Ok(json!({
        "images": idx.len(),
        "families": families,
        "pgd_linf_8_255_flip_rate": pgd_flip,
        "saliency_shift": shifts.iter().map(summary).collect::<Vec<_>>(),
        "fixture": fixture.display().to_string(),
    }))
}

/// Examples per TCAV set (counter-sets; concepts hold three times as many).
const PER_SET: usize = 50;

/// Random counter-sets: one TCAV run each.
const COUNTER_SETS: usize = 10;

/// Random concepts in TCAV's null distribution.
const NULL_CONCEPTS: usize = 20;

/// The TCAV layer.
const TCAV_LAYER: &str = "encoder.fc";

/// TCAV at `encoder.fc` for class 0 (on clean class-0 images of the shuffled test set): the
/// watermark concept, then `random_tests` random concepts of clean images (controls, drawn
/// apart from the null's), all against the same counter-sets and null distribution.
pub fn tcav_tests(
    cnn: &HansCnn,
    data: &HansData,
    seed: u64,
    random_tests: usize,
    device: &Device,
) -> Result<(TcavResult, Vec<TcavResult>)> {
    let ex = Explainable::new(cnn.clone(), forward_fn, device.clone());
    let batch = |s: &CleverHans| -> Result<Tensor<4>> {
        let idx: Vec<usize> = (0..s.shapes.images.len()).collect();
        s.shapes.images.batch(&idx, device)
    };
    let pool = |watermark: bool, tag: u64| {
        batch(&CleverHans::concept_images(
            3 * PER_SET,
            watermark,
            seed ^ tag,
        ))
    };
    let concept = pool(true, 0xC0C0)?;
    let counter_sets: Vec<Tensor<4>> = (0..COUNTER_SETS)
        .map(|r| {
            batch(&CleverHans::concept_images(
                PER_SET,
                false,
                seed ^ (0xA000 + r as u64),
            ))
        })
        .collect::<Result<_>>()?;
    let random_concepts: Vec<Tensor<4>> = (0..NULL_CONCEPTS)
        .map(|m| pool(false, 0xB000 + m as u64))
        .collect::<Result<_>>()?;
    let shuffled = &data.shuffled;
    let class0: Vec<usize> = (0..shuffled.shapes.images.len())
        .filter(|&i| shuffled.shapes.images.labels[i] == 0 && !shuffled.watermarked[i])
        .collect();
    let class_inputs = shuffled.shapes.images.batch(&class0, device)?;
    let test = |c: &Tensor<4>| {
        let sets = TcavSets {
            class_inputs: &class_inputs,
            concept: c,
            counter_sets: &counter_sets,
            random_concepts: &random_concepts,
        };
        tcav(&ex, TCAV_LAYER, 0, &sets, seed)
    };
    let watermark = test(&concept)?;
    // The first control keeps the tag the benchmark has always used; further ones follow it.
    let controls = (0..random_tests)
        .map(|k| test(&pool(false, 0xBEEF + 0x1_0000 * k as u64)?))
        .collect::<Result<_>>()?;
    Ok((watermark, controls))
}

/// How much each prototype's similarity rises when the watermark is stamped onto clean images:
/// `mean_x [sim_p(stamp(x)) − sim_p(x)]` over 200 clean images.
fn watermark_response(
    proto: &xai_proto::protopnet::ProtoPNet,
    device: &Device,
    seed: u64,
) -> Result<Vec<f64>> {
    let clean = CleverHans::concept_images(200, false, seed ^ 0x5A5A)
        .shapes
        .images;
    let mut marked = clean.clone();
    for i in 0..marked.len() {
        stamp(marked.image_mut(i));
    }
    let sims = |s: &ImageSet| -> Result<Vec<f64>> {
        let idx: Vec<usize> = (0..s.len()).collect();
        tensor_to_vec_f64(proto.forward(s.batch(&idx, device)?).similarities)
    };
    let (a, b) = (sims(&clean)?, sims(&marked)?);
    let p = proto.prototypes();
    Ok((0..p)
        .map(|j| (0..200).map(|i| b[i * p + j] - a[i * p + j]).sum::<f64>() / 200.0)
        .collect())
}

/// Prototypes whose watermark response is above the median by more than ten median absolute
/// deviations.
fn response_outliers(response: &[f64]) -> Vec<usize> {
    if response.is_empty() {
        return Vec::new();
    }
    let m = median(&mut response.to_vec());
    let mad = median(&mut response.iter().map(|r| (r - m).abs()).collect::<Vec<f64>>());
    (0..response.len())
        .filter(|&j| response[j] > m + 10.0 * mad)
        .collect()
}

/// The training set with the shortcut made uninformative (the counterexamples of explanatory
/// interactive learning, Teso & Kersting 2019): every class carries the watermark at the rate
/// the confounded class does, by stamping a seeded random share of the other classes' images.
fn counterexamples(train: &CleverHans, seed: u64) -> ImageSet {
    use rand::{Rng, SeedableRng};
    let images = &train.shapes.images;
    let of_class = |c: usize| (0..images.len()).filter(move |&i| images.labels[i] == c);
    let confounded = of_class(train.confounded_class).count().max(1);
    let marked = of_class(train.confounded_class)
        .filter(|&i| train.watermarked[i])
        .count();
    let rate = marked as f64 / confounded as f64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xC0DE_E8A3);
    let mut out = images.clone();
    for i in 0..out.len() {
        if !train.watermarked[i]
            && images.labels[i] != train.confounded_class
            && rng.random_bool(rate)
        {
            stamp(out.image_mut(i));
        }
    }
    out
}

/// Joint epochs of the repair's fine-tuning on the counterexamples.
const REPAIR_EPOCHS: usize = 20;

/// Run the benchmark.
pub fn run(opts: &BenchOptions) -> Result<Value> {
    let start = std::time::Instant::now();
    let (n_train, n_test, cnn_epochs) = SIZES;
    let rho = RHO;
    let device = &opts.device;
    let data = hans_data(opts.seed);
    let HansData {
        train_set,
        iid_test,
        shuffled,
        clean_train,
    } = &data;

    // 1. the black box
    let ts = &train_set.shapes.images;
    let cnn = train_cnn(&data, opts)?;
    let iid_accuracy = set_accuracy(&iid_test.shapes.images, device, |x| cnn.forward(x))?;
    let shuffled_accuracy = set_accuracy(&shuffled.shapes.images, device, |x| cnn.forward(x))?;

    let robust = robustness(&cnn, &iid_test.shapes.images, opts)?;

    // 2. TCAV
    let (watermark_tcav, mut controls) = tcav_tests(&cnn, &data, opts.seed, 1, device)?;
    let random_tcav = controls.remove(0);
    let (per_set, random_sets, layer) = (PER_SET, COUNTER_SETS, TCAV_LAYER);

    // 3. deep kNN on the CNN's features
    let k = 10;
    let train_feats = features(&cnn, ts, device)?;
    let mut knn = DeepKnn::fit(vec![train_feats], ts.labels.clone(), CLASSES, k)?;
    let cal = CleverHans::generate(
        n_test / 2,
        Variant::Train { rho },
        0,
        opts.seed.wrapping_add(3_000_003),
    );
    let cal_feats = features(&cnn, &cal.shapes.images, device)?;
    knn.calibrate(
        &cal_feats.into_iter().map(|f| vec![f]).collect::<Vec<_>>(),
        &cal.shapes.images.labels,
    )?;
    let test_feats = features(&cnn, &shuffled.shapes.images, device)?;
    let (mut share, mut counted) = (0.0, 0usize);
    let (mut cred_mark, mut cred_clean, mut n_mark, mut n_clean) = (0.0, 0.0, 0usize, 0usize);
    let mut example = None;
    for (i, f) in test_feats.iter().enumerate() {
        let p = knn.predict(std::slice::from_ref(f))?;
        if shuffled.watermarked[i] {
            cred_mark += p.credibility;
            n_mark += 1;
            if shuffled.shapes.images.labels[i] != 0 {
                let marked = p.neighbours[0]
                    .iter()
                    .filter(|&&j| train_set.watermarked[j])
                    .count();
                share += marked as f64 / k as f64;
                counted += 1;
                if example.is_none() {
                    example = Some((i, p.neighbours[0].clone()));
                }
            }
        } else {
            cred_clean += p.credibility;
            n_clean += 1;
        }
    }
    let base_rate = train_set.watermarked.iter().filter(|&&w| w).count() as f64 / n_train as f64;

    // 4. ProtoPNet: find, prune and repair
    let schedule = super::protopnet_schedule(opts);
    let config = ProtoPNetConfig::default();
    let (proto, log) = train(&config, &schedule, ts, device)?;
    let confounded_accuracy = accuracy(&proto, &shuffled.shapes.images, device)?;
    // Flagged: prototypes pushed onto a watermark, and those whose similarity jumps when the
    // watermark is stamped onto clean images (an outlier of the response: above the median by
    // more than ten median absolute deviations).
    let response = watermark_response(&proto, device, opts.seed)?;
    let outliers = response_outliers(&response);
    let mut flagged: Vec<usize> = log
        .push
        .iter()
        .filter(|r| {
            let (cr, cc) = cell_centre(r.row, r.col);
            train_set.watermarked[r.image] && on_watermark(cr, cc, 2.0)
        })
        .map(|r| r.prototype)
        .chain(outliers.iter().copied())
        .collect();
    flagged.sort_unstable();
    flagged.dedup();
    // Pruning: the flagged prototypes removed, the last layer refitted on the same data.
    let mut pruned = proto.clone();
    pruned.prune(&flagged);
    pruned.fit_last_layer(ts, &schedule.last_layer, device)?;
    let pruned_accuracy = accuracy(&pruned, &shuffled.shapes.images, device)?;
    // Repair: the flagged slots re-learnt, the whole network fine-tuned on counterexamples.
    let mut repaired = proto.clone();
    repaired.reinitialise(&flagged, opts.seed)?;
    let repair = ProtoTrainConfig {
        warm_epochs: 0,
        // not shortened by `quick`: a shorter fine-tuning leaves prototypes that answer the stamp
        joint_epochs: REPAIR_EPOCHS,
        ..schedule.clone()
    };
    let counter = counterexamples(train_set, opts.seed);
    let (repaired, _) = repaired.fine_tune(&counter, &repair, device)?;
    let repaired_accuracy = accuracy(&repaired, &shuffled.shapes.images, device)?;
    let repaired_response = watermark_response(&repaired, device, opts.seed)?;
    let (clean_proto, _) = train(&config, &schedule, &clean_train.shapes.images, device)?;
    let clean_accuracy = accuracy(&clean_proto, &shuffled.shapes.images, device)?;

    // pictures
    ensure_dir(&opts.out)?;
    let scale = 4;
    let side = ts.side;
    let gallery: Vec<Vec<_>> = log
        .push
        .chunks(config.per_class)
        .map(|row| {
            row.iter()
                .map(|r| {
                    let mut img = to_rgb(ts.image(r.image), 1, side, scale);
                    let colour = if flagged.contains(&r.prototype) {
                        [240, 40, 40]
                    } else {
                        [40, 200, 40]
                    };
                    draw_box(&mut img, r.receptive_field, scale, colour);
                    img
                })
                .collect()
        })
        .collect();
    let proto_png = opts.out.join("cleverhans_prototypes.png");
    save_png(&proto_png, &grid(&gallery, 4))?;
    let neigh_png = opts.out.join("cleverhans_neighbours.png");
    if let Some((i, neigh)) = &example {
        let mut row = vec![to_rgb(shuffled.shapes.images.image(*i), 1, side, scale)];
        row.extend(
            neigh
                .iter()
                .take(6)
                .map(|&j| to_rgb(ts.image(j), 1, side, scale)),
        );
        save_png(&neigh_png, &grid(&[row], 4))?;
    }
    let value = json!({
        "benchmark": "cleverhans",
        "seed": opts.seed,
        "quick": opts.quick,
        "train_images": n_train,
        "test_images": n_test,
        "settings": {"rho": rho, "confounded_class": 0, "cnn_epochs": cnn_epochs, "tcav_layer": layer,
                      "tcav_examples_per_set": per_set, "tcav_random_sets": random_sets,
                      "tcav_random_concepts": NULL_CONCEPTS, "knn_k": k,
                      "protopnet_joint_epochs": schedule.joint_epochs,
                      "repair_epochs": repair.joint_epochs},
        "cnn_iid_accuracy": iid_accuracy,
        "cnn_robustness": robust,
        "cnn_shuffled_accuracy": shuffled_accuracy,
        "reliance_gap": iid_accuracy - shuffled_accuracy,
        "tcav_watermark_p": watermark_tcav.p_value,
        "tcav_watermark_score": watermark_tcav.mean_score,
        "tcav_random_p": random_tcav.p_value,
        "tcav_random_score": random_tcav.mean_score,
        "tcav_watermark": watermark_tcav,
        "tcav_random": random_tcav,
        "knn_watermark_share": if counted > 0 { share / counted as f64 } else { 0.0 },
        "knn_watermark_base_rate": base_rate,
        "knn_credibility_watermarked": cred_mark / n_mark.max(1) as f64,
        "knn_credibility_clean": cred_clean / n_clean.max(1) as f64,
        "watermark_prototypes": flagged,
        "watermark_response": response,
        "protopnet_confounded_shuffled_accuracy": confounded_accuracy,
        "protopnet_pruned_shuffled_accuracy": pruned_accuracy,
        "protopnet_repaired_shuffled_accuracy": repaired_accuracy,
        "repaired_watermark_response": repaired_response,
        "repaired_max_watermark_response": repaired_response.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "max_watermark_response": response.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "protopnet_clean_shuffled_accuracy": clean_accuracy,
        "pruned_accuracy_gap": clean_accuracy - pruned_accuracy,
        "repaired_accuracy_gap": clean_accuracy - repaired_accuracy,
        "figures": {"prototypes": proto_png.display().to_string(), "neighbours": neigh_png.display().to_string()},
        "seconds": start.elapsed().as_secs_f64(),
    });
    write_json(&opts.out.join("cleverhans.json"), &value)?;
    Ok(value)
}
