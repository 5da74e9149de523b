//! The main job end to end on a reduced data set: the CNN learns the Clever Hans shortcut, every
//! method returns finite values, the shortcut shows in the attributions, and the report's files
//! exist and reference each other.

use xai::demo::{DemoOptions, run};
use xai_grad::methods::cem::Pertinent;

#[test]
fn demo_writes_a_report_that_shows_the_shortcut() {
    let out = std::env::temp_dir().join(format!("xai-demo-test-{}", std::process::id()));
    let options = DemoOptions {
        out: out.clone(),
        progress: false,
        ..DemoOptions::default()
    };
    let r = run(&options).expect("demo runs");
    // The shortcut is learned: watermarked squares are mostly called plus signs.
    assert!(r.accuracy.train > 0.85, "{:?}", r.accuracy);
    assert!(
        r.accuracy.class0_flipped_by_watermark > 0.5,
        "{:?}",
        r.accuracy
    );
    // Attribution-based methods put far more than the watermark's 3.5% area share there.
    for m in &r.methods {
        assert!(
            m.values.iter().flatten().all(|v| v.is_finite()),
            "{}",
            m.method
        );
    }
    let strong = r
        .methods
        .iter()
        .filter(|m| m.watermark_share_marked > 4.0 * r.watermark_area_share)
        .count();
    assert!(
        strong >= r.methods.len() / 2,
        "{:#?}",
        r.methods
            .iter()
            .map(|m| (&m.method, m.watermark_share_marked))
            .collect::<Vec<_>>()
    );
    // Completeness where defined: KernelSHAP exact; IG within its quadrature error; DeepLIFT
    // within a bound too, since its default max-pool rule (Captum's: the gradient) is not
    // complete on this network's max-pools (the routed rule is; see `deeplift.rs`).
    for m in &r.methods {
        if let Some(d) = &m.completeness_delta {
            let bound = match m.method.as_str() {
                "integrated_gradients" | "deeplift" => 0.05,
                _ => 1e-3,
            };
            assert!(d.iter().all(|v| v.abs() < bound), "{}: {d:?}", m.method);
        }
    }
    // The counterfactuals edit the watermark, and nothing else of note.
    assert!(!r.counterfactuals.is_empty());
    for cf in &r.counterfactuals {
        assert_eq!(cf.set.validity, 1.0);
        assert!(
            cf.change_share_in_watermark > 0.5,
            "{}",
            cf.change_share_in_watermark
        );
        assert!(cf.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    // CEM: what the model needs to keep calling a watermarked square "plus" is the watermark;
    // every pertinent positive and negative meets its goal inside the pixel range.
    let pert = &r.contrastive.pertinents;
    assert!(pert.iter().any(|p| p.kind == Pertinent::Positive));
    assert!(pert.iter().any(|p| p.kind == Pertinent::Negative));
    for p in pert {
        assert!(p.found, "{:?} of image {} not found", p.kind, p.image);
        assert!(p.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
        if p.kind == Pertinent::Positive {
            assert!(p.share_in_watermark > 0.5, "{}", p.share_in_watermark);
        }
    }
    // Localisation against the watermark mask: LRP's top pixel lies in it on most watermarked
    // images and its 9 top pixels overlap it far above chance (9/256).
    let lrp = r.methods.iter().find(|m| m.method == "lrp").unwrap();
    assert!(
        lrp.localisation.pointing_game >= 0.5,
        "{:?}",
        lrp.localisation
    );
    assert!(
        lrp.localisation.relevance_rank_accuracy > 0.3,
        "{:?}",
        lrp.localisation
    );
    // Anchors: the watermark's patch alone keeps a watermarked square "plus".
    let anchors = &r.anchors.anchors;
    assert!(!anchors.is_empty());
    for a in anchors {
        let im = &r.images[a.image];
        assert!(a.precision >= 0.9, "{a:?}");
        if im.marked && im.predicted == 1 {
            assert!(a.is_anchor && a.patches == vec![0], "{a:?}");
        }
    }
    // TCAV (four tests, Holm-adjusted): the watermark concept is significant for "plus" at some
    // conv layer, the random-image control at none.
    assert!(
        r.tcav
            .iter()
            .any(|t| t.concept == "watermark" && t.result.significant),
        "{:?}",
        r.tcav
            .iter()
            .map(|t| t.result.p_adjusted)
            .collect::<Vec<_>>()
    );
    for t in r.tcav.iter().filter(|t| t.concept == "random images") {
        assert!(
            !t.result.significant && t.result.p_value >= 0.05,
            "{}: {}",
            t.result.layer,
            t.result.p_value
        );
    }
    // Training-data attribution: the watermarked squares called "plus" lean on watermarked
    // training images, more than their share of the training set.
    let e = &r.examples;
    assert_eq!(e.images.len(), r.images.len());
    assert!(
        e.helpful_marked_share > e.train_marked_share + 0.2,
        "helpful {} vs base {}",
        e.helpful_marked_share,
        e.train_marked_share
    );
    assert!(
        e.images
            .iter()
            .all(|g| g.helpful.len() == 5 && g.neighbours.len() == 5)
    );
    // Sanity check: after randomising every layer the gradient no longer resembles itself.
    let grad = &r
        .sanity
        .spearman
        .iter()
        .find(|(m, _)| m == "gradient")
        .unwrap()
        .1;
    assert_eq!(grad.len(), 3);
    assert!(grad[2].abs() < 0.5, "{grad:?}");
    // ProtoPNet: 3 prototypes per class, at least one pushed onto the watermark, and a scoring
    // sheet whose points sum to the logit.
    let p = &r.prototypes;
    assert_eq!(p.prototypes.len(), 6);
    assert!(
        p.prototypes.iter().any(|q| q.on_watermark),
        "{:?}",
        p.prototypes
    );
    let (_, sheet) = p.sheet.as_ref().expect("a watermarked square is explained");
    assert!((sheet.total_points - sheet.logit).abs() < 1e-3 * sheet.logit.abs().max(1.0));
    // The language model answers its prompts and ablation finds the fact that holds each answer.
    let lm = &r.language_model;
    assert!(lm.training.accuracy > 0.9, "{}", lm.training.accuracy);
    assert_eq!(lm.prompts.len(), 3);
    assert!(lm.prompts.iter().all(|p| p.generated == p.answer));
    assert_eq!(lm.top1_at_source[0], ("ablation".to_string(), 1.0));
    // The report: index.html, results.json, both charts and every image it references.
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("small language model"));
    for src in html.split("src=\"").skip(1) {
        let file = &src[..src.find('"').unwrap()];
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["methods"].as_array().unwrap().len(), r.methods.len());
    assert_eq!(json["options"]["seed"], 42);
    std::fs::remove_dir_all(&out).ok();
}
