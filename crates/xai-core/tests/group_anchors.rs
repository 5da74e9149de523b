//! Anchors over superpixels and tokens against exact enumeration: on models whose decision is a
//! known Boolean function of which groups are present, the anchor is a smallest set of groups
//! whose presence fixes the decision (precision 1 by enumeration), its coverage is the
//! presence probability of the set, held-out draws confirm its precision, and bad settings are
//! errors.

use xai_core::agnostic::group_anchors::{
    GroupAnchorsConfig, group_anchors, group_held_out_precision, text_anchors,
};
use xai_core::agnostic::{FeatureGroups, FnModel};

/// Two classes from a Boolean decision on a row.
fn classifier(
    f: usize,
    decide: impl Fn(&[f64]) -> bool,
) -> FnModel<impl Fn(&[f64], usize) -> Vec<f64>> {
    FnModel::new(f, move |rows: &[f64], n| {
        (0..n)
            .flat_map(|i| {
                let on = decide(&rows[i * f..(i + 1) * f]);
                [f64::from(u8::from(!on)), f64::from(u8::from(on))]
            })
            .collect()
    })
}

/// 8×8 image in 2×2 patches (16 groups); the mean brightness of patch `p`.
fn patch_mean(img: &[f64], p: usize) -> f64 {
    let (py, px) = (p / 4, p % 4);
    let mut s = 0.0;
    for dy in 0..2 {
        for dx in 0..2 {
            s += img[(2 * py + dy) * 8 + 2 * px + dx];
        }
    }
    s / 4.0
}

#[test]
fn image_anchor_is_the_conjunction_the_model_needs() {
    // Class 1 exactly when patches 5 and 10 are both bright.
    let model = classifier(64, |r| patch_mean(r, 5) > 0.5 && patch_mean(r, 10) > 0.5);
    let groups = FeatureGroups::image_patches([1, 8, 8], 2).unwrap();
    let image = vec![1.0; 64];
    let reference = vec![0.0; 64];
    let cfg = GroupAnchorsConfig::default();
    let a = group_anchors(&model, &image, &groups, &reference, &cfg).unwrap();
    assert!(a.is_anchor, "{a:?}");
    assert_eq!(a.prediction, 1);
    let mut got = a.groups.clone();
    got.sort_unstable();
    assert_eq!(got, vec![5, 10]);
    assert_eq!(a.precision, 1.0);
    // Both present with probability (1 − p_absent)² = 0.25.
    assert!((a.coverage - 0.25).abs() < 0.05, "{}", a.coverage);
    let held =
        group_held_out_precision(&model, &image, &groups, &reference, &a, 0.5, 2000, 9).unwrap();
    assert_eq!(held, 1.0);
    // The search is reproducible from its seed.
    assert_eq!(
        group_anchors(&model, &image, &groups, &reference, &cfg).unwrap(),
        a
    );
}

#[test]
fn any_two_of_three_is_anchored_by_a_pair_and_no_single_group_suffices() {
    // Class 1 when at least two of patches {0, 1, 2} are bright. Exact precision of one group:
    // P(at least one of the other two present) = 0.75 < τ; of any pair of them: 1.
    let model = classifier(64, |r| {
        (0..3).filter(|&p| patch_mean(r, p) > 0.5).count() >= 2
    });
    let groups = FeatureGroups::image_patches([1, 8, 8], 2).unwrap();
    let image = vec![1.0; 64];
    let reference = vec![0.0; 64];
    let a = group_anchors(
        &model,
        &image,
        &groups,
        &reference,
        &GroupAnchorsConfig::default(),
    )
    .unwrap();
    assert!(a.is_anchor && a.precision_low >= 0.95, "{a:?}");
    assert_eq!(a.groups.len(), 2, "{a:?}");
    assert!(a.groups.iter().all(|g| *g < 3), "{a:?}");
    assert!((a.coverage - 0.25).abs() < 0.05);
    // A single group's held-out precision is the enumerated 0.75.
    let mut single = a.clone();
    single.groups.truncate(1);
    let p1 = group_held_out_precision(&model, &image, &groups, &reference, &single, 0.5, 4000, 3)
        .unwrap();
    assert!((p1 - 0.75).abs() < 0.03, "{p1}");
}

#[test]
fn text_anchor_holds_the_negation_and_the_word_it_negates() {
    // Tokens: 1 = "not", 2 = "good", 0 = mask, others filler. Negative (class 1) exactly when
    // "not" is immediately followed by "good".
    let text = [5.0, 6.0, 1.0, 2.0, 7.0, 8.0, 9.0];
    let model = classifier(text.len(), |r| {
        r.windows(2).any(|w| w[0] == 1.0 && w[1] == 2.0)
    });
    let a = text_anchors(&model, &text, 0.0, &GroupAnchorsConfig::default()).unwrap();
    assert!(a.is_anchor);
    let mut got = a.groups.clone();
    got.sort_unstable();
    assert_eq!(got, vec![2, 3]);
    assert_eq!(a.precision, 1.0);
}

#[test]
fn a_constant_model_is_anchored_by_any_single_group() {
    // The model says class 0 whatever the input: every one-group rule has precision 1, and the
    // largest coverage of size one (≈ 0.5) wins.
    let model = classifier(4, |_| false);
    let a = text_anchors(
        &model,
        &[1.0, 2.0, 3.0, 4.0],
        0.0,
        &GroupAnchorsConfig::default(),
    )
    .unwrap();
    assert!(
        a.is_anchor && a.groups.len() == 1 && a.precision == 1.0,
        "{a:?}"
    );
    assert!((a.coverage - 0.5).abs() < 0.06, "{}", a.coverage);
}

#[test]
fn bad_settings_are_errors() {
    let model = classifier(4, |r| r[0] > 0.0);
    let groups = FeatureGroups::singletons(4);
    let x = [1.0; 4];
    for cfg in [
        GroupAnchorsConfig {
            p_absent: 0.0,
            ..GroupAnchorsConfig::default()
        },
        GroupAnchorsConfig {
            p_absent: 1.0,
            ..GroupAnchorsConfig::default()
        },
        GroupAnchorsConfig {
            draws: 0,
            ..GroupAnchorsConfig::default()
        },
    ] {
        assert!(group_anchors(&model, &x, &groups, &[0.0; 4], &cfg).is_err());
    }
    let cfg = GroupAnchorsConfig::default();
    assert!(group_anchors(&model, &x, &groups, &[0.0; 3], &cfg).is_err());
    assert!(group_anchors(&model, &[1.0, f64::NAN, 0.0, 0.0], &groups, &[0.0; 4], &cfg).is_err());
    assert!(text_anchors(&model, &[], 0.0, &cfg).is_err());
}
