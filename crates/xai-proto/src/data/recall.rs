//! Key–value recall: a token corpus with a planted dependency, for causal language models.
//!
//! A prompt lists `pairs` distinct keys with a value each — one token per pair, `k3:v7` — then
//! asks for one key:
//!
//! ```text
//! k3:v7 k1:v2 k6:v5 ; k1 ->        answer: v2
//! ```
//!
//! The answer is decided by exactly one prompt token, the pair of the queried key
//! ([`RecallPrompt::source`]); the queried key decides *which* pair. (With key and value as
//! separate tokens the recall needs a previous-token head and an induction step, which a
//! two-layer model of this size does not find within a few thousand steps; a pair token keeps
//! the dependency one attention hop long, so the model trains in seconds.) An
//! attribution method that explains the answer should put the most relevance on the source.
//! Keys and values are drawn uniformly from a seeded `StdRng` (the same stream on every
//! platform), so any split is reproducible from its seed.
//!
//! ```
//! use xai_proto::data::recall::{Recall, Vocab};
//! let set = Recall::generate(4, 3, 7);
//! let p = &set.prompts[0];
//! assert_eq!(p.tokens.len(), Recall::prompt_len(3));
//! assert_eq!(Vocab::pair_of(p.tokens[p.source]).map(|(_, v)| Vocab::value(v)), Some(p.answer));
//! ```

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

/// The vocabulary: four structural tokens, [`Vocab::KEYS`] keys, [`Vocab::VALUES`] values,
/// then one token per (key, value) pair.
pub struct Vocab;

impl Vocab {
    /// Padding (also the ablation token: "no information").
    pub const PAD: usize = 0;
    /// `=` (unused by the recall prompts; kept for hand-written ones).
    pub const EQ: usize = 1;
    /// `;` after the pairs.
    pub const SEP: usize = 2;
    /// `->` after the queried key.
    pub const ARROW: usize = 3;
    /// Number of keys.
    pub const KEYS: usize = 8;
    /// Number of values.
    pub const VALUES: usize = 8;
    /// Vocabulary size.
    pub const SIZE: usize = 4 + Self::KEYS + Self::VALUES + Self::KEYS * Self::VALUES;

    /// Token of the pair (key `k`, value `v`).
    pub fn pair(k: usize, v: usize) -> usize {
        4 + Self::KEYS + Self::VALUES + k * Self::VALUES + v
    }

    /// The (key, value) of a pair token.
    pub fn pair_of(token: usize) -> Option<(usize, usize)> {
        let first = 4 + Self::KEYS + Self::VALUES;
        (first..Self::SIZE).contains(&token).then(|| {
            (
                (token - first) / Self::VALUES,
                (token - first) % Self::VALUES,
            )
        })
    }

    /// Token of key `k`.
    pub fn key(k: usize) -> usize {
        4 + k
    }

    /// Token of value `v`.
    pub fn value(v: usize) -> usize {
        4 + Self::KEYS + v
    }

    /// The value index of a value token.
    pub fn value_of(token: usize) -> Option<usize> {
        (4 + Self::KEYS..4 + Self::KEYS + Self::VALUES)
            .contains(&token)
            .then(|| token - 4 - Self::KEYS)
    }

    /// A readable name of `token` (`k3`, `v7`, `=`, `;`, `->`, `<pad>`).
    pub fn name(token: usize) -> String {
        match token {
            Self::PAD => "<pad>".into(),
            Self::EQ => "=".into(),
            Self::SEP => ";".into(),
            Self::ARROW => "->".into(),
            t if t < 4 + Self::KEYS => format!("k{}", t - 4),
            t if t < 4 + Self::KEYS + Self::VALUES => format!("v{}", t - 4 - Self::KEYS),
            t if t < Self::SIZE => {
                let (k, v) = Self::pair_of(t).unwrap_or_default();
                format!("k{k}:v{v}")
            }
            t => format!("<{t}?>"),
        }
    }
}

/// One prompt with its answer and the position of the token that decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecallPrompt {
    /// Prompt tokens, ending with `->`.
    pub tokens: Vec<usize>,
    /// The answer token (a value).
    pub answer: usize,
    /// Position in `tokens` of the value that answers the query.
    pub source: usize,
}

/// A set of prompts.
#[derive(Clone, Debug)]
pub struct Recall {
    /// The prompts.
    pub prompts: Vec<RecallPrompt>,
    /// Pairs per prompt.
    pub pairs: usize,
}

impl Recall {
    /// Tokens in a prompt of `pairs` pairs: one per pair, then `;`, the key and `->`.
    pub fn prompt_len(pairs: usize) -> usize {
        pairs + 3
    }

    /// `n` prompts of `pairs` pairs (at most [`Vocab::KEYS`]) from `seed`.
    pub fn generate(n: usize, pairs: usize, seed: u64) -> Recall {
        let pairs = pairs.clamp(1, Vocab::KEYS);
        let mut rng = StdRng::seed_from_u64(seed);
        let prompts = (0..n)
            .map(|_| {
                let keys = sample(&mut rng, Vocab::KEYS, pairs).into_vec();
                let values: Vec<usize> = (0..pairs)
                    .map(|_| rng.random_range(0..Vocab::VALUES))
                    .collect();
                let mut tokens = Vec::with_capacity(Self::prompt_len(pairs));
                for (&k, &v) in keys.iter().zip(&values) {
                    tokens.push(Vocab::pair(k, v));
                }
                let q = rng.random_range(0..pairs);
                tokens.extend([Vocab::SEP, Vocab::key(keys[q]), Vocab::ARROW]);
                RecallPrompt {
                    tokens,
                    answer: Vocab::value(values[q]),
                    source: q,
                }
            })
            .collect();
        Recall { prompts, pairs }
    }

    /// The prompts' tokens row-major (`[n, prompt_len]`).
    pub fn token_rows(&self) -> Vec<usize> {
        self.prompts
            .iter()
            .flat_map(|p| p.tokens.iter().copied())
            .collect()
    }

    /// The answers.
    pub fn answers(&self) -> Vec<usize> {
        self.prompts.iter().map(|p| p.answer).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_well_formed_and_seeded() {
        let set = Recall::generate(200, 3, 11);
        for p in &set.prompts {
            assert_eq!(p.tokens.len(), 6);
            let keys: Vec<usize> = (0..3)
                .map(|i| Vocab::pair_of(p.tokens[i]).unwrap().0)
                .collect();
            assert_ne!(keys[0], keys[1]);
            assert_ne!(keys[1], keys[2]);
            assert_ne!(keys[0], keys[2]);
            let (k, v) = Vocab::pair_of(p.tokens[p.source]).unwrap();
            assert_eq!(Vocab::key(k), p.tokens[4]);
            assert_eq!(Vocab::value(v), p.answer);
            assert_eq!(p.tokens[5], Vocab::ARROW);
        }
        assert_eq!(
            Recall::generate(200, 3, 11).prompts,
            set.prompts,
            "same seed, same prompts"
        );
        // Every pair position is queried.
        for q in 0..3 {
            assert!(set.prompts.iter().any(|p| p.source == q));
        }
        assert_eq!(Vocab::name(Vocab::key(3)), "k3");
        assert_eq!(Vocab::name(Vocab::value(7)), "v7");
        assert_eq!(Vocab::name(Vocab::pair(2, 5)), "k2:v5");
        assert_eq!(Vocab::pair_of(Vocab::pair(7, 7)), Some((7, 7)));
    }
}
