//! Certifiably optimal rule lists by branch and bound, as CORELS does (Angelino et al.,
//! *Learning certifiably optimal rule lists for categorical data*, JMLR 2018).
//!
//! A rule list is `if a₁ then ŷ₁ else if a₂ then ŷ₂ … else ŷ₀`, each antecedent `aᵢ` a
//! conjunction of at most `max_card` binary features or their negations, each prediction the
//! majority label of the training points the rule captures. The objective is
//! `R(d) = misclassification rate + c · (number of rules)` (the default rule is free).
//!
//! The search takes prefixes in CORELS's *curious* order (lower bound per fraction of points
//! captured), with CORELS's bounds:
//!
//! * **hierarchical lower bound** `b(p) = errors of the prefix / n + c·|p|`, tightened by the
//!   **equivalent-points bound**: points with identical features but different labels will be
//!   misclassified whatever follows, so their minority among the uncaptured points is added;
//! * **one-step lookahead**: a prefix is extended only if `b(p) + c` can still beat the best
//!   objective;
//! * **accurate antecedent support**: a rule that classifies correctly fewer than `c·n` of the
//!   points it newly captures cannot be in an optimal list (removing it would not cost more);
//! * **prefix permutation map**: prefixes with the same set of antecedents capture the same
//!   points, so only the one with the smallest bound is kept.
//!
//! When the queue empties the best list is certified optimal; when the node budget runs out the
//! result says so and reports the smallest bound left in the queue (the optimality gap).
//!
//! ```
//! use xai_glassbox::rule_list::{fit_rule_list, RuleListConfig};
//! // y = x0 AND NOT x1 on all four points, twice over.
//! let four = [[false, false], [false, true], [true, false], [true, true]];
//! let x: Vec<Vec<bool>> = four.iter().chain(&four).map(|r| r.to_vec()).collect();
//! let y: Vec<bool> = x.iter().map(|r| r[0] && !r[1]).collect();
//! let names = vec!["a".to_string(), "b".to_string()];
//! let list = fit_rule_list(&x, &y, &names, &RuleListConfig { c: 0.01, ..Default::default() }).unwrap();
//! assert!(list.certified);
//! assert_eq!(list.train_error, 0.0);
//! assert_eq!(list.rules.len(), 1); // if a ∧ ¬b then 1 else 0
//! ```

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use xai_core::{Result, XaiError};

/// Settings of the search.
#[derive(Clone, Debug)]
pub struct RuleListConfig {
    /// Regularisation per rule (CORELS's `c`).
    pub c: f64,
    /// Features per antecedent (1 or 2).
    pub max_card: usize,
    /// Prefixes evaluated before the search stops uncertified.
    pub max_nodes: usize,
    /// Longest list considered.
    pub max_length: usize,
}

impl Default for RuleListConfig {
    fn default() -> Self {
        RuleListConfig {
            c: 0.01,
            max_card: 2,
            max_nodes: 5_000_000,
            max_length: 20,
        }
    }
}

/// A conjunction of binary features, each required to be 1 (`true`) or 0 (`false`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Antecedent {
    /// `(feature, required value)`.
    pub terms: Vec<(usize, bool)>,
}

impl Antecedent {
    /// Whether `row` satisfies every term.
    pub fn matches(&self, row: &[bool]) -> bool {
        self.terms.iter().all(|&(f, v)| row[f] == v)
    }
}

/// A fitted rule list.
#[derive(Clone, Debug)]
pub struct RuleList {
    /// The rules, in order: antecedent and prediction.
    pub rules: Vec<(Antecedent, bool)>,
    /// The default prediction.
    pub default: bool,
    /// Feature names, for printing.
    pub names: Vec<String>,
    /// Objective on the training data.
    pub objective: f64,
    /// Training misclassification rate.
    pub train_error: f64,
    /// Whether the search finished: then no rule list has a smaller objective.
    pub certified: bool,
    /// The smallest lower bound left unexplored (≥ the optimum; equals the objective when
    /// certified).
    pub lower_bound: f64,
    /// Prefixes evaluated.
    pub nodes: usize,
}

impl RuleList {
    /// The prediction for one row.
    pub fn predict(&self, row: &[bool]) -> bool {
        self.rules
            .iter()
            .find(|(a, _)| a.matches(row))
            .map_or(self.default, |&(_, p)| p)
    }
}

impl fmt::Display for RuleList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let term = |&(i, v): &(usize, bool)| {
            if v {
                self.names[i].clone()
            } else {
                format!("not {}", self.names[i])
            }
        };
        for (k, (a, p)) in self.rules.iter().enumerate() {
            let cond: Vec<String> = a.terms.iter().map(term).collect();
            let word = if k == 0 { "if" } else { "else if" };
            writeln!(f, "{word} [{}] then {}", cond.join(" && "), *p as u8)?;
        }
        write!(f, "else {}", self.default as u8)
    }
}

/// Bitsets over the training points.
type Bits = Vec<u64>;

fn count(b: &[u64]) -> u32 {
    b.iter().map(|w| w.count_ones()).sum()
}

struct Problem {
    antecedents: Vec<Antecedent>,
    captures: Vec<Bits>,
    positive: Bits,
    /// Equivalence class of each point (identical feature rows).
    class_of: Vec<u32>,
    classes: usize,
    n: usize,
    words: usize,
}

impl Problem {
    fn new(x: &[Vec<bool>], y: &[bool], max_card: usize) -> Problem {
        let (n, d) = (x.len(), x[0].len());
        let words = n.div_ceil(64);
        let bits = |pred: &dyn Fn(usize) -> bool| {
            let mut b = vec![0u64; words];
            for i in (0..n).filter(|&i| pred(i)) {
                b[i / 64] |= 1 << (i % 64);
            }
            b
        };
        let literals: Vec<(usize, bool)> = (0..d).flat_map(|f| [(f, true), (f, false)]).collect();
        let mut antecedents = Vec::new();
        for (i, &a) in literals.iter().enumerate() {
            antecedents.push(Antecedent { terms: vec![a] });
            if max_card >= 2 {
                for &b in &literals[i + 1..] {
                    if b.0 != a.0 {
                        antecedents.push(Antecedent { terms: vec![a, b] });
                    }
                }
            }
        }
        let captures: Vec<Bits> = antecedents
            .iter()
            .map(|a| bits(&|i| a.matches(&x[i])))
            .collect();
        // Keep one antecedent per distinct capture set that captures something but not all.
        let mut seen = HashMap::new();
        let keep: Vec<usize> = (0..antecedents.len())
            .filter(|&k| {
                let c = count(&captures[k]) as usize;
                c > 0 && c < n && seen.insert(captures[k].clone(), k).is_none()
            })
            .collect();
        let mut ids = HashMap::new();
        let class_of = x
            .iter()
            .map(|r| {
                let next = ids.len() as u32;
                *ids.entry(r.clone()).or_insert(next)
            })
            .collect();
        Problem {
            antecedents: keep.iter().map(|&k| antecedents[k].clone()).collect(),
            captures: keep.iter().map(|&k| captures[k].clone()).collect(),
            positive: bits(&|i| y[i]),
            class_of,
            classes: ids.len(),
            n,
            words,
        }
    }

    /// Points captured by a prefix.
    fn captured(&self, prefix: &[u16]) -> Bits {
        let mut c = vec![0u64; self.words];
        for &a in prefix {
            for (w, v) in c.iter_mut().zip(&self.captures[a as usize]) {
                *w |= v;
            }
        }
        c
    }

    /// Minority count of the points in `free`: errors of a majority prediction.
    fn minority(&self, free: &[u64]) -> (u32, bool) {
        let total = count(free);
        let pos: u32 = free
            .iter()
            .zip(&self.positive)
            .map(|(a, p)| (a & p).count_ones())
            .sum();
        (pos.min(total - pos), pos * 2 > total)
    }

    /// Errors no rule can avoid among the points in `free`: in each class of identical rows,
    /// the minority label.
    fn equivalent_errors(&self, free: &[u64], pos: &mut [u32], tot: &mut [u32]) -> u32 {
        pos.fill(0);
        tot.fill(0);
        for (w, &word) in free.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let k = self.class_of[i] as usize;
                tot[k] += 1;
                pos[k] += (self.positive[w] >> (i % 64) & 1) as u32;
            }
        }
        pos.iter()
            .zip(tot.iter())
            .map(|(&p, &t)| p.min(t - p))
            .sum()
    }
}

/// A queued prefix, ordered by CORELS's *curiosity* (smallest first): its lower bound per
/// fraction of points captured, which favours prefixes that explain much of the data cheaply.
struct Entry {
    priority: f64,
    bound: f64,
    errors: u32,
    prefix: Vec<u16>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .total_cmp(&self.priority)
            .then_with(|| other.prefix.len().cmp(&self.prefix.len()))
    }
}

/// Fit a certifiably optimal rule list on binary features `x` (`n` rows of `d`) and labels `y`.
pub fn fit_rule_list(
    x: &[Vec<bool>],
    y: &[bool],
    names: &[String],
    cfg: &RuleListConfig,
) -> Result<RuleList> {
    if x.is_empty() || x.len() != y.len() {
        return Err(XaiError::Config(format!(
            "rule list: {} rows and {} labels (need the same, at least one)",
            x.len(),
            y.len()
        )));
    }
    let d = x[0].len();
    if d == 0 || x.iter().any(|r| r.len() != d) || names.len() != d {
        return Err(XaiError::Config(format!(
            "rule list: every row needs {} features and {} names",
            names.len(),
            names.len()
        )));
    }
    if !(cfg.c >= 0.0) || !(1..=2).contains(&cfg.max_card) || cfg.max_length == 0 {
        return Err(XaiError::Config(format!(
            "rule list: c = {} (≥ 0), max_card = {} (1 or 2), max_length = {} (≥ 1)",
            cfg.c, cfg.max_card, cfg.max_length
        )));
    }
    if x.len() >= u32::MAX as usize || d > u16::MAX as usize / 8 {
        return Err(XaiError::Config(
            "rule list: too many rows or features".into(),
        ));
    }
    let p = Problem::new(x, y, cfg.max_card);
    let n = p.n as f64;
    let min_correct = cfg.c * n;
    let (mut pos, mut tot) = (vec![0u32; p.classes], vec![0u32; p.classes]);

    // The empty list: the default rule alone.
    let all = p.captured(&[]);
    let free_all: Bits = all.iter().map(|w| !w).collect();
    let mask_tail = |b: &mut Bits| {
        if !p.n.is_multiple_of(64) {
            let last = p.words - 1;
            b[last] &= (1u64 << (p.n % 64)) - 1;
        }
    };
    let mut free0 = free_all;
    mask_tail(&mut free0);
    let (e0, _) = p.minority(&free0);
    let mut best = (e0 as f64 / n, Vec::<u16>::new());

    let mut queue = BinaryHeap::new();
    let eq0 = p.equivalent_errors(&free0, &mut pos, &mut tot);
    queue.push(Entry {
        priority: 0.0,
        bound: eq0 as f64 / n,
        errors: 0,
        prefix: Vec::new(),
    });
    let mut permutations: HashMap<Vec<u16>, f64> = HashMap::new();
    let mut nodes = 0usize;
    let mut lower_bound = best.0;
    while let Some(entry) = queue.pop() {
        if entry.bound >= best.0 {
            continue; // the best list improved since this prefix was queued
        }
        if nodes >= cfg.max_nodes {
            queue.push(entry);
            lower_bound = queue.iter().map(|e| e.bound).fold(f64::INFINITY, f64::min);
            break;
        }
        // Lookahead: a child adds a rule (c) to the prefix's own bound.
        let b_prefix = entry.errors as f64 / n + cfg.c * entry.prefix.len() as f64;
        if b_prefix + cfg.c >= best.0 || entry.prefix.len() >= cfg.max_length {
            continue;
        }
        let captured = p.captured(&entry.prefix);
        for a in 0..p.antecedents.len() as u16 {
            if entry.prefix.contains(&a) {
                continue;
            }
            nodes += 1;
            let newly: Bits = p.captures[a as usize]
                .iter()
                .zip(&captured)
                .map(|(c, old)| c & !old)
                .collect();
            let captured_new = count(&newly);
            if captured_new == 0 {
                continue;
            }
            let (rule_errors, _) = p.minority(&newly);
            if ((captured_new - rule_errors) as f64) < min_correct {
                continue; // accurate-support bound
            }
            let errors = entry.errors + rule_errors;
            let mut free: Bits = captured
                .iter()
                .zip(&newly)
                .map(|(c, nw)| !(c | nw))
                .collect();
            mask_tail(&mut free);
            let len = entry.prefix.len() + 1;
            let b = errors as f64 / n + cfg.c * len as f64;
            let (default_errors, _) = p.minority(&free);
            let objective = b + default_errors as f64 / n;
            let mut child = entry.prefix.clone();
            child.push(a);
            if objective < best.0 - 1e-12 {
                best = (objective, child.clone());
            }
            let bound = b + p.equivalent_errors(&free, &mut pos, &mut tot) as f64 / n;
            if bound + cfg.c >= best.0 || len >= cfg.max_length {
                continue; // no extension can beat the best
            }
            let mut key = child.clone();
            key.sort_unstable();
            match permutations.get(&key) {
                Some(&seen) if seen <= bound => continue,
                _ => {
                    permutations.insert(key, bound);
                }
            }
            let covered = (p.n as u32 - count(&free)) as f64 / n;
            queue.push(Entry {
                priority: bound / covered.max(1e-12),
                bound,
                errors,
                prefix: child,
            });
        }
    }
    let certified = queue.is_empty();
    if certified {
        lower_bound = best.0;
    }
    // Rebuild the best list's predictions.
    let mut rules = Vec::new();
    let mut captured = vec![0u64; p.words];
    let mut errors = 0;
    for &a in &best.1 {
        let newly: Bits = p.captures[a as usize]
            .iter()
            .zip(&captured)
            .map(|(c, old)| c & !old)
            .collect();
        let (e, label) = p.minority(&newly);
        errors += e;
        rules.push((p.antecedents[a as usize].clone(), label));
        for (w, v) in captured.iter_mut().zip(&newly) {
            *w |= v;
        }
    }
    let mut free: Bits = captured.iter().map(|w| !w).collect();
    mask_tail(&mut free);
    let (e, default) = p.minority(&free);
    errors += e;
    Ok(RuleList {
        train_error: errors as f64 / n,
        objective: best.0,
        rules,
        default,
        names: names.to_vec(),
        certified,
        lower_bound: lower_bound.min(best.0),
        nodes,
    })
}
