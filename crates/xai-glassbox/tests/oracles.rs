//! TreeSHAP against brute force: on random trees (repeated features on a path, every split
//! rule, missing values, several outputs), the exact Shapley values of each game computed by
//! enumerating all 2^F subsets, and the axioms (local accuracy, a feature no tree splits on
//! gets 0, interaction rows sum to the SHAP values and the matrices are symmetric).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xai_glassbox::trees::{Missing, Node, Objective, Rule, Tree, TreeEnsemble};
use xai_glassbox::treeshap::{tree_shap, tree_shap_interactions, tree_shap_interventional};

const F: usize = 5;

/// A random tree of depth ≤ `depth` over features `0..F-1` (feature F-1 is never split on).
fn random_tree(rng: &mut StdRng, depth: usize) -> Tree {
    fn grow(rng: &mut StdRng, nodes: &mut Vec<Node>, depth: usize) -> (usize, f64) {
        let at = nodes.len();
        nodes.push(Node::leaf(0.0, 0.0));
        if depth == 0 || rng.random::<f64>() < 0.2 {
            let cover = rng.random_range(1.0..10.0);
            nodes[at] = Node::leaf(rng.random_range(-3.0..3.0), cover);
            return (at, cover);
        }
        let feature = rng.random_range(0..F - 1);
        let rule = match rng.random_range(0..4) {
            0 => Rule::LessThan(rng.random_range(-1.0..1.0)),
            1 => Rule::LessOrEqual {
                threshold: rng.random_range(-1.0..1.0),
                missing: [Missing::None, Missing::Zero, Missing::NaN][rng.random_range(0..3)],
            },
            2 => Rule::Category {
                set: vec![0, 2],
                members_go_left: rng.random(),
            },
            _ => Rule::LessThan(0.0),
        };
        let default_left = rng.random();
        let (l, cl) = grow(rng, nodes, depth - 1);
        let (r, cr) = grow(rng, nodes, depth - 1);
        nodes[at] = Node::split(feature, rule, default_left, l, r, cl + cr);
        (at, cl + cr)
    }
    let mut nodes = Vec::new();
    grow(rng, &mut nodes, depth);
    Tree::new(nodes).unwrap()
}

fn random_model(seed: u64, outputs: usize) -> TreeEnsemble {
    let mut rng = StdRng::seed_from_u64(seed);
    let trees: Vec<Tree> = (0..4 * outputs).map(|_| random_tree(&mut rng, 5)).collect();
    let output_of = (0..trees.len()).map(|t| t % outputs).collect();
    let base = (0..outputs).map(|o| 0.1 * o as f64).collect();
    TreeEnsemble::new(trees, output_of, base, F, Objective::Regression).unwrap()
}

fn random_row(rng: &mut StdRng) -> Vec<f64> {
    (0..F)
        .map(|_| match rng.random_range(0..6) {
            0 => f64::NAN,
            1 => 0.0,
            2 => 2.0,
            _ => rng.random_range(-1.5..1.5),
        })
        .collect()
}

/// `E[f(x) | x_S]` along the tree (the path-dependent game): splits on features outside `S`
/// follow both children weighted by cover.
fn conditional(tree: &Tree, x: &[f64], s: u32, node: usize) -> f64 {
    let n = &tree.nodes()[node];
    if n.is_leaf() {
        return n.value;
    }
    if s >> n.feature & 1 == 1 {
        return conditional(tree, x, s, n.next(x[n.feature]));
    }
    let [l, r] = n.children;
    let (cl, cr) = (tree.nodes()[l].cover, tree.nodes()[r].cover);
    (cl * conditional(tree, x, s, l) + cr * conditional(tree, x, s, r)) / n.cover
}

/// Shapley values of the game `v` over `F` players by enumeration.
fn shapley(v: impl Fn(u32) -> f64) -> Vec<f64> {
    let fact = |k: usize| (1..=k).map(|i| i as f64).product::<f64>();
    let mut phi = vec![0.0; F];
    for (i, p) in phi.iter_mut().enumerate() {
        for s in 0u32..(1 << F) {
            if s >> i & 1 == 1 {
                continue;
            }
            let k = s.count_ones() as usize;
            let w = fact(k) * fact(F - k - 1) / fact(F);
            *p += w * (v(s | 1 << i) - v(s));
        }
    }
    phi
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    let e = xai_testkit::max_abs_diff(a, b);
    assert!(e < tol, "{what}: {e:.2e}\n ours {a:?}\n want {b:?}");
}

#[test]
fn path_dependent_values_are_the_shapley_values_of_the_conditional_game() {
    for seed in 0..20 {
        let outputs = 1 + seed as usize % 3;
        let model = random_model(seed, outputs);
        let mut rng = StdRng::seed_from_u64(100 + seed);
        let x = random_row(&mut rng);
        let got = tree_shap(&model, &x).unwrap();
        let margin = model.margin(&x).unwrap();
        for (o, &m) in margin.iter().enumerate() {
            let trees: Vec<&Tree> = model
                .trees()
                .iter()
                .zip(model.output_of())
                .filter(|&(_, &k)| k == o)
                .map(|(t, _)| t)
                .collect();
            let v = |s: u32| trees.iter().map(|t| conditional(t, &x, s, 0)).sum::<f64>();
            let want = shapley(v);
            close(
                got.row(0, o),
                &want,
                1e-9,
                &format!("seed {seed} output {o}"),
            );
            // Local accuracy, and the never-split feature gets exactly 0.
            let sum: f64 = got.row(0, o).iter().sum();
            assert!((sum - (m - got.expected_value[o])).abs() < 1e-9);
            assert_eq!(got.row(0, o)[F - 1], 0.0);
        }
    }
}

#[test]
fn interventional_values_are_the_shapley_values_of_the_background_game() {
    for seed in 0..12 {
        let model = random_model(seed, 2);
        let mut rng = StdRng::seed_from_u64(200 + seed);
        let x = random_row(&mut rng);
        let background: Vec<Vec<f64>> = (0..3).map(|_| random_row(&mut rng)).collect();
        let flat: Vec<f64> = background.iter().flatten().copied().collect();
        let got = tree_shap_interventional(&model, &x, &flat).unwrap();
        for o in 0..2 {
            let v = |s: u32| {
                background
                    .iter()
                    .map(|r| {
                        let z: Vec<f64> = (0..F)
                            .map(|j| if s >> j & 1 == 1 { x[j] } else { r[j] })
                            .collect();
                        model.margin(&z).unwrap()[o]
                    })
                    .sum::<f64>()
                    / background.len() as f64
            };
            close(
                got.row(0, o),
                &shapley(v),
                1e-9,
                &format!("seed {seed} output {o}"),
            );
            let mean_bg = v(0);
            assert!((got.expected_value[o] - mean_bg).abs() < 1e-12);
        }
    }
}

#[test]
fn interaction_values_are_symmetric_and_sum_to_the_shap_values() {
    for seed in 0..10 {
        let model = random_model(seed, 2);
        let mut rng = StdRng::seed_from_u64(300 + seed);
        let rows: Vec<f64> = (0..3).flat_map(|_| random_row(&mut rng)).collect();
        let phi = tree_shap(&model, &rows).unwrap();
        let inter = tree_shap_interactions(&model, &rows).unwrap();
        for r in 0..3 {
            for o in 0..2 {
                let m = &inter[(r * 2 + o) * F * F..(r * 2 + o + 1) * F * F];
                for i in 0..F {
                    let row_sum: f64 = m[i * F..(i + 1) * F].iter().sum();
                    assert!((row_sum - phi.row(r, o)[i]).abs() < 1e-9, "seed {seed}");
                    for j in 0..F {
                        assert!((m[i * F + j] - m[j * F + i]).abs() < 1e-9, "symmetry");
                    }
                }
                assert!(m[(F - 1) * F..].iter().all(|&v| v == 0.0));
            }
        }
    }
}

#[test]
fn split_rules_follow_their_libraries() {
    let split = |rule: Rule, default_left: bool| Node::split(0, rule, default_left, 1, 2, 2.0);
    let xgb = split(Rule::LessThan(0.5), true);
    assert_eq!(xgb.next(0.4), 1);
    assert_eq!(xgb.next(0.5), 2);
    assert_eq!(xgb.next(f64::NAN), 1);
    // f32 comparison: a value equal to the threshold in f32 goes right.
    let t = -0.9698954_f32 as f64;
    assert_eq!(split(Rule::LessThan(t), true).next(-0.9698954446531155), 2);
    let lgb = |missing| {
        split(
            Rule::LessOrEqual {
                threshold: 0.5,
                missing,
            },
            false,
        )
    };
    assert_eq!(lgb(Missing::None).next(0.5), 1);
    assert_eq!(lgb(Missing::None).next(f64::NAN), 1); // NaN → 0 ≤ 0.5
    assert_eq!(lgb(Missing::Zero).next(0.0), 2); // zero is missing → default (right)
    assert_eq!(lgb(Missing::NaN).next(f64::NAN), 2);
    assert_eq!(lgb(Missing::NaN).next(0.0), 1);
    let cat = |members_go_left| {
        split(
            Rule::Category {
                set: vec![1, 3],
                members_go_left,
            },
            true,
        )
    };
    assert_eq!(cat(true).next(3.0), 1);
    assert_eq!(cat(true).next(2.0), 2);
    assert_eq!(cat(true).next(f64::NAN), 2);
    assert_eq!(cat(false).next(3.0), 2);
    assert_eq!(cat(false).next(f64::NAN), 1);
}

#[test]
fn malformed_models_are_errors() {
    use xai_glassbox::trees::TreeEnsemble as E;
    assert!(Tree::new(vec![]).is_err());
    // A cycle.
    let cyc = vec![
        Node::split(0, Rule::LessThan(0.0), false, 0, 1, 1.0),
        Node::leaf(1.0, 1.0),
    ];
    assert!(Tree::new(cyc).is_err());
    // A child out of range.
    let out = vec![
        Node::split(0, Rule::LessThan(0.0), false, 1, 5, 1.0),
        Node::leaf(1.0, 1.0),
    ];
    assert!(Tree::new(out).is_err());
    let stump = Tree::new(vec![
        Node::split(3, Rule::LessThan(0.0), false, 1, 2, 2.0),
        Node::leaf(1.0, 1.0),
        Node::leaf(2.0, 1.0),
    ])
    .unwrap();
    // Feature 3 of a 2-feature model; output 1 of a 1-output model.
    assert!(
        E::new(
            vec![stump.clone()],
            vec![0],
            vec![0.0],
            2,
            Objective::Binary
        )
        .is_err()
    );
    assert!(
        E::new(
            vec![stump.clone()],
            vec![1],
            vec![0.0],
            4,
            Objective::Binary
        )
        .is_err()
    );
    let m = E::new(vec![stump], vec![0], vec![0.0], 4, Objective::Binary).unwrap();
    assert!(m.margin(&[0.0; 3]).is_err());
    assert!(tree_shap(&m, &[0.0; 7]).is_err());
    assert!(tree_shap(&m, &[f64::INFINITY, 0.0, 0.0, 0.0]).is_err());
    assert!(tree_shap_interventional(&m, &[0.0; 4], &[]).is_err());
    for text in [
        "",
        "{}",
        "{\"learner\": {}}",
        "not json",
        "tree\nversion=v4\n",
        "tree\nversion=v4\nnum_tree_per_iteration=1\nmax_feature_idx=1\nTree=0\nnum_leaves=2\n",
    ] {
        let xgb = E::from_xgboost_json(text);
        let lgb = E::from_lightgbm_text(text);
        assert!(xgb.is_err() && lgb.is_err(), "{text:?} was accepted");
    }
}

#[test]
fn unknown_objectives_and_versions_are_refused_with_the_reason() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/glassbox");
    let xgb = std::fs::read_to_string(dir.join("xgb_model.json")).unwrap();
    let lgb = std::fs::read_to_string(dir.join("lgbm_model.txt")).unwrap();
    let cases = [
        (
            TreeEnsemble::from_xgboost_json(&xgb.replace("binary:logistic", "rank:pairwise")),
            "objective `rank:pairwise`",
        ),
        (
            TreeEnsemble::from_xgboost_json(
                &xgb.replace("\"version\":[3,2,0]", "\"version\":[0,90,0]"),
            ),
            "version",
        ),
        (
            TreeEnsemble::from_lightgbm_text(
                &lgb.replace("objective=binary sigmoid:1", "objective=lambdarank"),
            ),
            "objective `lambdarank`",
        ),
        (
            TreeEnsemble::from_lightgbm_text(&lgb.replace("version=v4", "version=v1")),
            "v1",
        ),
    ];
    for (r, needle) in cases {
        let e = r.expect_err(needle).to_string();
        assert!(e.contains(needle), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    // The unmodified files load.
    assert!(TreeEnsemble::from_xgboost_json(&xgb).is_ok());
    assert!(TreeEnsemble::from_lightgbm_text(&lgb).is_ok());
}
