//! Memory-budget batching: split an expanded batch into chunks that fit a byte budget.
//!
//! Methods that expand each input into many rows (integrated-gradient steps × inputs, noise
//! samples × inputs, coalitions × inputs) evaluate them in as few forward passes as the budget
//! allows. The budget counts the bytes of one expanded row times a working-set factor (the
//! activations a forward and backward keep alive per row).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Result, XaiError};

/// A memory budget for one forward+backward pass.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemoryBudget {
    /// Bytes available for one chunk's working set.
    pub bytes: usize,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        // 512 MiB: comfortable on a laptop, well inside a 24 GiB CI machine.
        MemoryBudget { bytes: 512 << 20 }
    }
}

impl MemoryBudget {
    /// A budget of `mib` mebibytes.
    pub fn mib(mib: usize) -> Self {
        MemoryBudget { bytes: mib << 20 }
    }

    /// How many rows of `bytes_per_row` fit (at least one).
    pub fn rows(&self, bytes_per_row: usize) -> usize {
        (self.bytes / bytes_per_row.max(1)).max(1)
    }

    /// Split `total` rows into consecutive ranges of at most [`rows`](Self::rows) rows.
    /// An empty batch is an error: no method has anything to say about zero inputs.
    pub fn chunks(&self, total: usize, bytes_per_row: usize) -> Result<Vec<Range<usize>>> {
        if total == 0 {
            return Err(XaiError::EmptyBatch("nothing to evaluate".into()));
        }
        let step = self.rows(bytes_per_row);
        Ok((0..total)
            .step_by(step)
            .map(|s| s..(s + step).min(total))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_everything_once_and_respect_the_budget() {
        let b = MemoryBudget { bytes: 1000 };
        let c = b.chunks(95, 30).unwrap();
        assert_eq!(c.iter().map(|r| r.len()).sum::<usize>(), 95);
        assert!(c.iter().all(|r| r.len() * 30 <= 1000));
        assert_eq!(c.first().unwrap().start, 0);
        assert!(c.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn a_row_larger_than_the_budget_still_runs_alone() {
        assert_eq!(MemoryBudget { bytes: 10 }.chunks(3, 100).unwrap().len(), 3);
    }

    #[test]
    fn empty_is_an_error() {
        assert!(MemoryBudget::default().chunks(0, 4).is_err());
    }
}
