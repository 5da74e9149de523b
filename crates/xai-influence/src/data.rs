//! Bundled data: scikit-learn's 8×8 handwritten digits (UCI ML hand-written digits; 1,797
//! images, 10 classes; BSD-3-Clause, the `digits.csv.gz` file shipped inside the scikit-learn
//! wheel, copied unchanged to `assets/`). Loaded from the binary, no network.

use std::io::Read;

use xai_core::{Result, XaiError};

static DIGITS_GZ: &[u8] = include_bytes!("../../../assets/digits.csv.gz");

/// The digits data: `x` row-major `[n, 64]` with pixel values scaled to `[0, 1]`, labels 0–9.
#[derive(Clone, Debug)]
pub struct Digits {
    /// Pixels, `[n, 64]`, in `[0, 1]` (the raw 0–16 counts divided by 16).
    pub x: Vec<f64>,
    /// Labels.
    pub y: Vec<usize>,
}

impl Digits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    /// Never true for the bundled file.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
    /// The rows `idx` as a new set.
    pub fn subset(&self, idx: &[usize]) -> Digits {
        Digits {
            x: idx
                .iter()
                .flat_map(|&i| self.x[i * 64..(i + 1) * 64].iter().copied())
                .collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
        }
    }
}

/// Load all 1,797 digits in file order.
pub fn digits() -> Result<Digits> {
    let parse = |m: String| XaiError::Parse {
        file: "assets/digits.csv.gz".into(),
        message: m,
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| parse(e.to_string()))?;
    let mut x = Vec::with_capacity(1797 * 64);
    let mut y = Vec::with_capacity(1797);
    for (ln, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let vals: Vec<f64> = line
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| parse(format!("line {}: {e}", ln + 1)))?;
        if vals.len() != 65 {
            return Err(parse(format!(
                "line {}: {} fields, expected 65",
                ln + 1,
                vals.len()
            )));
        }
        x.extend(vals[..64].iter().map(|v| v / 16.0));
        y.push(vals[64] as usize);
    }
    Ok(Digits { x, y })
}

/// The split used by the benchmarks: the first 1,000 images train, the remaining 797 test (as
/// in the research notes' reference runs).
pub fn digits_split() -> Result<(Digits, Digits)> {
    let d = digits()?;
    let n = d.len();
    Ok((
        d.subset(&(0..1000).collect::<Vec<_>>()),
        d.subset(&(1000..n).collect::<Vec<_>>()),
    ))
}
