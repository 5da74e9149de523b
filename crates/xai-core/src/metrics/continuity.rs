//! Continuity (Montavon, Samek & Müller, "Methods for interpreting and understanding deep neural
//! networks", 2018), as Quantus 0.6 computes it (`Continuity`): how much the explanation moves
//! when the image slides sideways, relative to how much the image moves.
//!
//! Each image `[C, H, W]` is translated along its width by `t_s = −W + s·d` pixels for
//! `s = 1 … steps`, `d = ⌊(2W + 1) / steps⌋` (uncovered columns take the fill value: the image's
//! minimum, Quantus's "black", or a constant). At every shift the image is re-explained and
//!
//! ```text
//! ratio_s = ‖|φ(x)| − |φ(x_s)|‖₁ / (‖x − x_s‖₂ + 10⁻⁹)
//! ```
//!
//! (without `abs`, the attributions as they are); the score of an input is the largest ratio
//! over the shifts. Lower is more continuous. Quantus can return NaN for an input whose
//! prediction changes under a shift; here the per-shift flags are returned, and
//! [`ContinuityConfig::skip_changed`] leaves those shifts out of the maximum (an input left
//! with none scores `None`).
//!
//! Shapes: `inputs` are `n` rows of `C·H·W` values; the explainer receives `n` rows per shift.
//!
//! ```
//! use xai_core::metrics::continuity::{ContinuityConfig, continuity};
//! // f(x) = Σ x (one class): the gradient is 1 everywhere, whatever the shift: continuity 0.
//! let logits = |rows: &[f64], n: usize| Ok((0..n).map(|i| rows[4 * i..4 * i + 4].iter().sum()).collect());
//! let explain = |rows: &[f64], _c: &[usize]| Ok(vec![1.0; rows.len()]);
//! let x = [0.1, 0.9, 0.4, 0.7];
//! let c = continuity(&explain, &logits, &x, [1, 2, 2], &[0], &ContinuityConfig { steps: 5, ..ContinuityConfig::default() }).unwrap();
//! assert_eq!(c.scores, vec![Some(0.0)]);
//! assert_eq!(c.shifts, vec![-1, 0, 1, 2, 3]);
//! ```

use serde::{Deserialize, Serialize};

use crate::agnostic::argmax;
use crate::error::{Result, XaiError};
use crate::metrics::relative_stability::RowsFn;
use crate::metrics::robustness::ExplainFn;

/// What fills the columns a translation uncovers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Fill {
    /// The image's minimum (Quantus's "black").
    #[default]
    InputMinimum,
    /// A constant.
    Value(f64),
}

/// Settings of [`continuity`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContinuityConfig {
    /// Number of shifts (Quantus: 28).
    pub steps: usize,
    /// Compare absolute attributions (Quantus's default).
    pub abs: bool,
    /// Fill of the uncovered columns.
    pub fill: Fill,
    /// Leave out shifts that change the predicted class.
    pub skip_changed: bool,
}

impl Default for ContinuityConfig {
    fn default() -> Self {
        ContinuityConfig {
            steps: 28,
            abs: true,
            fill: Fill::InputMinimum,
            skip_changed: false,
        }
    }
}

/// Continuity of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Continuity {
    /// The shifts `t_s` in pixels (negative: content moves left).
    pub shifts: Vec<isize>,
    /// `ratios[i][s]`: input `i` at shift `s`.
    pub ratios: Vec<Vec<f64>>,
    /// `changed[i][s]`: the shift changed input `i`'s predicted class.
    pub changed: Vec<Vec<bool>>,
    /// Per input, the largest ratio (over the kept shifts).
    pub scores: Vec<Option<f64>>,
}

/// Image `x` (`[C, H, W]`) moved `t` columns right (left when negative), uncovered columns `fill`.
fn translate(x: &[f64], [c, h, w]: [usize; 3], t: isize, fill: f64) -> Vec<f64> {
    let mut out = vec![fill; x.len()];
    for row in 0..c * h {
        for col in 0..w {
            let src = col as isize - t;
            if (0..w as isize).contains(&src) {
                out[row * w + col] = x[row * w + src as usize];
            }
        }
    }
    out
}

/// Continuity of each input under sideways shifts (see the module docs). `logits(rows, n)` gives
/// the model's outputs (for the prediction flags), `explain(rows, classes)` the attributions.
pub fn continuity(
    explain: &ExplainFn,
    logits: &RowsFn,
    inputs: &[f64],
    shape: [usize; 3],
    classes: &[usize],
    config: &ContinuityConfig,
) -> Result<Continuity> {
    let [c, h, w] = shape;
    let f = c * h * w;
    let n = classes.len();
    if n == 0 || f == 0 || inputs.len() != n * f {
        return Err(XaiError::shape(
            "continuity inputs",
            format!("{n} images of [{c}, {h}, {w}]"),
            &[inputs.len()],
        ));
    }
    let d = (2 * w + 1) / config.steps.max(1);
    if config.steps == 0 || d == 0 {
        return Err(XaiError::Config(format!(
            "continuity needs 1..={} steps for images {w} wide, got {}",
            2 * w + 1,
            config.steps
        )));
    }
    let prep = |a: Vec<f64>| -> Result<Vec<f64>> {
        if a.len() != n * f {
            return Err(XaiError::shape(
                "continuity explainer output",
                format!("{} values", n * f),
                &[a.len()],
            ));
        }
        if let Some(v) = a.iter().find(|v| !v.is_finite()) {
            return Err(XaiError::Numerical(format!(
                "continuity: the explainer returned {v}"
            )));
        }
        Ok(if config.abs {
            a.into_iter().map(f64::abs).collect()
        } else {
            a
        })
    };
    let base = prep(explain(inputs, classes)?)?;
    let shifts: Vec<isize> = (1..=config.steps)
        .map(|s| -(w as isize) + (s * d) as isize)
        .collect();
    let mut ratios = vec![Vec::with_capacity(shifts.len()); n];
    let mut changed = vec![Vec::with_capacity(shifts.len()); n];
    for &t in &shifts {
        let moved: Vec<f64> = inputs
            .chunks(f)
            .flat_map(|x| {
                let fill = match config.fill {
                    Fill::InputMinimum => x.iter().copied().fold(f64::INFINITY, f64::min),
                    Fill::Value(v) => v,
                };
                translate(x, shape, t, fill)
            })
            .collect();
        let out = logits(&moved, n)?;
        let k = out.len() / n;
        if k == 0 || out.len() != n * k {
            return Err(XaiError::shape(
                "continuity logits",
                format!("{n} rows"),
                &[out.len()],
            ));
        }
        let a = prep(explain(&moved, classes)?)?;
        for i in 0..n {
            let r = i * f..(i + 1) * f;
            let da: f64 = base[r.clone()]
                .iter()
                .zip(&a[r.clone()])
                .map(|(p, q)| (p - q).abs())
                .sum();
            let dx: f64 = inputs[r.clone()]
                .iter()
                .zip(&moved[r])
                .map(|(p, q)| (p - q) * (p - q))
                .sum::<f64>()
                .sqrt();
            ratios[i].push(da / (dx + 1e-9));
            changed[i].push(argmax(&out[i * k..(i + 1) * k]) != classes[i]);
        }
    }
    let scores = ratios
        .iter()
        .zip(&changed)
        .map(|(r, ch)| {
            r.iter()
                .zip(ch)
                .filter(|(_, c)| !(config.skip_changed && **c))
                .map(|(v, _)| *v)
                .reduce(f64::max)
        })
        .collect();
    Ok(Continuity {
        shifts,
        ratios,
        changed,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_moves_columns_and_fills_the_rest() {
        // One channel, 2 × 3: rows [1 2 3], [4 5 6].
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            translate(&x, [1, 2, 3], 1, 0.0),
            vec![0.0, 1.0, 2.0, 0.0, 4.0, 5.0]
        );
        assert_eq!(
            translate(&x, [1, 2, 3], -2, 9.0),
            vec![3.0, 9.0, 9.0, 6.0, 9.0, 9.0]
        );
        assert_eq!(translate(&x, [1, 2, 3], 3, 0.0), vec![0.0; 6]);
    }

    #[test]
    fn gradient_times_input_is_not_continuous_and_bad_settings_are_refused() {
        // f(x) = Σ x: gradient × input = x moves exactly as the image does.
        let logits = |rows: &[f64], n: usize| {
            Ok((0..n)
                .map(|i| rows[4 * i..4 * i + 4].iter().sum())
                .collect())
        };
        let explain = |rows: &[f64], _c: &[usize]| Ok(rows.to_vec());
        let x = [0.0, 1.0, 0.0, 1.0];
        let cfg = ContinuityConfig {
            steps: 5,
            fill: Fill::Value(0.0),
            ..ContinuityConfig::default()
        };
        let c = continuity(&explain, &logits, &x, [1, 2, 2], &[0], &cfg).unwrap();
        // Shift −1: [1 0; 1 0] against [0 1; 0 1]: L1 4, L2 2.
        assert!((c.ratios[0][0] - 2.0).abs() < 1e-6);
        assert!(c.scores[0].unwrap() >= 2.0 - 1e-6);
        let too_many = ContinuityConfig {
            steps: 6,
            ..cfg.clone()
        };
        assert!(continuity(&explain, &logits, &x, [1, 2, 2], &[0], &too_many).is_err());
        assert!(continuity(&explain, &logits, &x[..3], [1, 2, 2], &[0], &cfg).is_err());
    }
}
