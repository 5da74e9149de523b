//! Tabular training data for the glass-box learners: a CSV file with a header row, one column
//! of labels and feature columns, read with the `csv` crate.
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
        let first = text.lines().next().unwrap_or("");
        let delimiter = [b',', b';', b'\t']
            .into_iter()
            .max_by_key(|&d| first.bytes().filter(|&b| b == d).count())
            .unwrap_or(b',');
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
