//! Trust scores: the ratio of nearest-neighbour distances by brute force, the density filter
//! removing a planted outlier, and Jiang et al.'s use: wrong predictions score lower than right
//! ones.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use xai_core::agnostic::trust_score::{TrustScore, TrustScoreConfig};

fn blobs(n: usize, seed: u64, spread: f64) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0, spread).unwrap();
    let centres = [[-1.0, 0.0], [1.0, 0.0], [0.0, 1.5]];
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = i % 3;
        x.push(vec![
            centres[c][0] + noise.sample(&mut rng),
            centres[c][1] + noise.sample(&mut rng),
        ]);
        y.push(c);
    }
    (x, y)
}

#[test]
fn without_filtering_the_score_is_the_nearest_neighbour_distance_ratio() {
    let (x, y) = blobs(60, 1, 0.6);
    let ts = TrustScore::fit(&x, &y, &TrustScoreConfig { alpha: 0.0, k: 3 }).unwrap();
    let (q, _) = blobs(20, 2, 0.8);
    let pred: Vec<usize> = (0..20).map(|i| (i * 7) % 3).collect();
    let s = ts.score(&q, &pred).unwrap();
    for (i, row) in q.iter().enumerate() {
        let nearest = |c: usize| {
            x.iter()
                .zip(&y)
                .filter(|&(_, &l)| l == c)
                .map(|(p, _)| ((p[0] - row[0]).powi(2) + (p[1] - row[1]).powi(2)).sqrt())
                .fold(f64::INFINITY, f64::min)
        };
        let other = (0..3)
            .filter(|&c| c != pred[i])
            .map(nearest)
            .fold(f64::INFINITY, f64::min);
        assert!((s[i] - other / nearest(pred[i])).abs() < 1e-12, "row {i}");
    }
}

#[test]
fn the_density_filter_drops_a_planted_outlier() {
    let (mut x, mut y) = blobs(90, 3, 0.3);
    // a class-0 point in the middle of class 1
    x.push(vec![1.0, 0.0]);
    y.push(0);
    let q = vec![vec![1.02, 0.01]];
    let raw = TrustScore::fit(&x, &y, &TrustScoreConfig { alpha: 0.0, k: 5 }).unwrap();
    let filtered = TrustScore::fit(&x, &y, &TrustScoreConfig { alpha: 0.1, k: 5 }).unwrap();
    assert!(
        raw.score(&q, &[0]).unwrap()[0] > 1.0,
        "the outlier vouches for class 0"
    );
    assert!(
        filtered.score(&q, &[0]).unwrap()[0] < 1.0,
        "filtered, class 1 is nearer"
    );
    assert!(filtered.sets[0].iter().all(|p| p != &vec![1.0, 0.0]));
}

#[test]
fn wrong_predictions_get_lower_trust() {
    let (x, y) = blobs(300, 4, 0.7);
    let ts = TrustScore::fit(&x, &y, &TrustScoreConfig::default()).unwrap();
    let (q, truth) = blobs(300, 5, 0.7);
    // a classifier that is wrong a third of the time at random
    let mut rng = StdRng::seed_from_u64(6);
    let pred: Vec<usize> = truth
        .iter()
        .map(|&t| {
            if rng.random::<f64>() < 0.33 {
                (t + 1 + rng.random_range(0..2)) % 3
            } else {
                t
            }
        })
        .collect();
    let s = ts.score(&q, &pred).unwrap();
    let right: Vec<f64> = (0..s.len())
        .filter(|&i| pred[i] == truth[i])
        .map(|i| s[i])
        .collect();
    let wrong: Vec<f64> = (0..s.len())
        .filter(|&i| pred[i] != truth[i])
        .map(|i| s[i])
        .collect();
    // AUROC of the score for telling right from wrong
    let mut wins = 0.0;
    for a in &right {
        for b in &wrong {
            wins += if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            };
        }
    }
    let auroc = wins / (right.len() * wrong.len()) as f64;
    assert!(auroc > 0.85, "{auroc}");
}

#[test]
fn bad_input_is_an_error() {
    let cfg = TrustScoreConfig::default();
    assert!(TrustScore::fit(&[], &[], &cfg).is_err());
    assert!(TrustScore::fit(&[vec![0.0], vec![1.0]], &[0, 0], &cfg).is_err());
    assert!(TrustScore::fit(&[vec![0.0], vec![f64::NAN]], &[0, 1], &cfg).is_err());
    let bad = TrustScoreConfig { alpha: 1.0, k: 1 };
    assert!(TrustScore::fit(&[vec![0.0], vec![1.0]], &[0, 1], &bad).is_err());
    let ts = TrustScore::fit(
        &[vec![0.0], vec![1.0]],
        &[0, 1],
        &TrustScoreConfig { alpha: 0.0, k: 1 },
    )
    .unwrap();
    assert!(ts.score(&[vec![0.5]], &[2]).is_err());
    assert!(ts.score(&[vec![0.5, 1.0]], &[0]).is_err());
}
