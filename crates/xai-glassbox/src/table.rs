//! Tabular training data for the glass-box learners: a CSV file with a header row, one column
//! of labels and feature columns, read with the `csv` crate; and [`TabularSplit`], the shared
//! train/test data set of the glass-box references (`tabular_data.json`).
//!
//! ```
//! use xai_glassbox::table::Table;
//! let t = Table::parse("age>50,owner,default\n1,0,1\n0,1,0\n", "default").unwrap();
//! assert_eq!(t.names, vec!["age>50", "owner"]);
//! assert_eq!(t.binary().unwrap()[0], vec![true, false]);
//! assert_eq!(t.labels, vec![true, false]);
//! ```

use std::path::Path;

use xai_core::{Result, XaiError};

/// Feature columns and binary labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Feature names (the header without the label column).
    pub names: Vec<String>,
    /// Rows of feature values.
    pub rows: Vec<Vec<f64>>,
    /// Labels (1 / 0 in the label column).
    pub labels: Vec<bool>,
}

impl Table {
    /// Read `path` (comma, semicolon or tab separated) with labels in column `label`.
    pub fn load(path: &Path, label: &str) -> Result<Table> {
        let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
        Table::parse(&text, label).map_err(|e| XaiError::Parse {
            file: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Parse CSV text with a header row; `label` names the label column.
    pub fn parse(text: &str, label: &str) -> Result<Table> {
        let delimiter = sniff_delimiter(text.lines().next().unwrap_or(""));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let bad = |m: String| XaiError::Config(m);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(String::from)
            .collect();
        let y = header.iter().position(|h| h == label).ok_or_else(|| {
            bad(format!(
                "no label column `{label}` (columns: {})",
                header.join(", ")
            ))
        })?;
        let names: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != y)
            .map(|(_, h)| h.clone())
            .collect();
        if names.is_empty() {
            return Err(bad("no feature columns besides the label".into()));
        }
        let (mut rows, mut labels) = (Vec::new(), Vec::new());
        for record in reader.records() {
            let record = record.map_err(|e| bad(e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != header.len() {
                return Err(bad(format!(
                    "line {line}: {} fields, the header has {}",
                    record.len(),
                    header.len()
                )));
            }
            let mut row = Vec::with_capacity(names.len());
            for (i, cell) in record.iter().enumerate() {
                let v: f64 = cell.parse().map_err(|_| {
                    bad(format!(
                        "line {line}, column `{}`: `{cell}` is not a number",
                        header[i]
                    ))
                })?;
                if !v.is_finite() {
                    return Err(bad(format!("line {line}, column `{}`: {v}", header[i])));
                }
                if i == y {
                    if v != 0.0 && v != 1.0 {
                        return Err(bad(format!(
                            "line {line}: label `{cell}` (labels are 0 or 1)"
                        )));
                    }
                    labels.push(v == 1.0);
                } else {
                    row.push(v);
                }
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(XaiError::EmptyBatch("no data rows".into()));
        }
        Ok(Table {
            names,
            rows,
            labels,
        })
    }

    /// The features as booleans; an error names the first column that is not 0/1.
    pub fn binary(&self) -> Result<Vec<Vec<bool>>> {
        for (j, name) in self.names.iter().enumerate() {
            if let Some(r) = self.rows.iter().position(|r| r[j] != 0.0 && r[j] != 1.0) {
                return Err(XaiError::Config(format!(
                    "column `{name}` is not binary (row {}: {}); binarise it first, e.g. \
                     `{name}>t` columns",
                    r + 1,
                    self.rows[r][j]
                )));
            }
        }
        Ok(self
            .rows
            .iter()
            .map(|r| r.iter().map(|&v| v == 1.0).collect())
            .collect())
    }
}

/// The shared glass-box data set (`tabular_data.json`): a train/test split of raw features (for
/// trees, GAMs, linear models) and its binarised copy (for rule lists and scoring systems).
/// A missing value may be written `null`; it reads as NaN (only trees route it).
///
/// ```
/// use xai_glassbox::table::TabularSplit;
/// let t = r#"{"feature_names": ["a"], "X_train": [[1.0], [null]], "y_train": [0, 1],
///             "X_test": [[2.0]], "y_test": [1]}"#;
/// let s = TabularSplit::parse(t, "t.json").unwrap();
/// assert!(s.x_train[1][0].is_nan());
/// assert_eq!(s.y_train, [false, true]);
/// // A row without a value per feature name is refused.
/// let short = r#"{"feature_names": ["a", "b"], "X_train": [[1.0]], "y_train": [0],
///                 "X_test": [], "y_test": []}"#;
/// assert!(TabularSplit::parse(short, "t.json").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct TabularSplit {
    /// Names of the raw features.
    pub feature_names: Vec<String>,
    /// Raw training rows.
    pub x_train: Vec<Vec<f64>>,
    /// Training labels.
    pub y_train: Vec<bool>,
    /// Raw test rows.
    pub x_test: Vec<Vec<f64>>,
    /// Test labels.
    pub y_test: Vec<bool>,
    /// Names of the binary (threshold) features.
    pub binary_feature_names: Vec<String>,
    /// Binarised training rows.
    pub b_train: Vec<Vec<bool>>,
    /// Binarised test rows.
    pub b_test: Vec<Vec<bool>>,
}

#[derive(serde::Deserialize)]
struct RawSplit {
    feature_names: Vec<String>,
    #[serde(rename = "X_train")]
    x_train: Vec<Vec<Option<f64>>>,
    y_train: Vec<f64>,
    #[serde(rename = "X_test")]
    x_test: Vec<Vec<Option<f64>>>,
    y_test: Vec<f64>,
    #[serde(default)]
    binary_feature_names: Vec<String>,
    #[serde(rename = "B_train", default)]
    b_train: Vec<Vec<f64>>,
    #[serde(rename = "B_test", default)]
    b_test: Vec<Vec<f64>>,
}

impl TabularSplit {
    /// Parse the JSON text; `origin` names it in errors. Every row must have its split's width
    /// and every split its labels.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let raw: RawSplit = serde_json::from_str(text).map_err(|e| XaiError::Parse {
            file: origin.to_string(),
            message: e.to_string(),
        })?;
        let real = |m: Vec<Vec<Option<f64>>>| -> Vec<Vec<f64>> {
            m.into_iter()
                .map(|r| r.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
                .collect()
        };
        let bits = |m: Vec<Vec<f64>>| -> Vec<Vec<bool>> {
            m.into_iter()
                .map(|r| r.into_iter().map(|v| v > 0.5).collect())
                .collect()
        };
        let labels = |v: Vec<f64>| -> Vec<bool> { v.into_iter().map(|v| v > 0.5).collect() };
        let split = TabularSplit {
            feature_names: raw.feature_names,
            x_train: real(raw.x_train),
            y_train: labels(raw.y_train),
            x_test: real(raw.x_test),
            y_test: labels(raw.y_test),
            binary_feature_names: raw.binary_feature_names,
            b_train: bits(raw.b_train),
            b_test: bits(raw.b_test),
        };
        let bad = |what: &str| XaiError::Parse {
            file: origin.to_string(),
            message: what.to_string(),
        };
        let f = split.feature_names.len();
        if split
            .x_train
            .iter()
            .chain(&split.x_test)
            .any(|r| r.len() != f)
        {
            return Err(bad(
                "a row of X_train/X_test does not have one value per feature name",
            ));
        }
        if split.x_train.len() != split.y_train.len() || split.x_test.len() != split.y_test.len() {
            return Err(bad("X and y disagree on the number of rows"));
        }
        let fb = split.binary_feature_names.len();
        if split
            .b_train
            .iter()
            .chain(&split.b_test)
            .any(|r| r.len() != fb)
            || (!split.b_train.is_empty() && split.b_train.len() != split.y_train.len())
            || (!split.b_test.is_empty() && split.b_test.len() != split.y_test.len())
        {
            return Err(bad(
                "the binarised split does not match its names or labels",
            ));
        }
        Ok(split)
    }
}

/// The CSV delimiter of a line: whichever of `,`, `;` and tab it holds most (a tie goes to the
/// later one, so a line with none of them gives tab, which splits nothing).
pub fn sniff_delimiter(line: &str) -> u8 {
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|&d| line.bytes().filter(|&b| b == d).count())
        .unwrap_or(b',')
}
