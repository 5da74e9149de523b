//! The benchmarks of `xai proto bench`: each trains its models on a generated data set,
//! measures the figures named in the issue against the exact ground truth, writes its
//! explanation images to `out`, and returns the figures as JSON.
//!
//! | benchmark | models | figures |
//! |---|---|---|
//! | [`partshapes`] | ProtoPNet | `accuracy`, `prototypes_on_glyph`, `erase_flip_rate`, `push_exact` |
//! | [`conceptsprites`] | CBM (independent, sequential, joint), CEM | `concept_accuracy`, `intervened_task_accuracy`, `cem_minus_cbm` |
//! | [`cleverhans`] | CNN + TCAV, ProtoPNet, deep kNN | `tcav_watermark_p`, `tcav_random_p`, `pruned_accuracy_gap`, `repaired_accuracy_gap` |
//! | [`regimemix`] | mixture of linear experts | `nmi`, `max_over_mean_load` |
//! | [`tcav_calibration`] | CNN + TCAV over many seeds | `false_positive_rate`, `power` |

pub mod cleverhans;
pub mod conceptsprites;
pub mod partshapes;
pub mod regimemix;
pub mod tcav_calibration;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use xai_core::{Result, XaiError};

/// Settings shared by the benchmarks.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Seed of data generation, initialisation, shuffling and every stochastic step.
    pub seed: u64,
    /// Smaller data and fewer epochs (for tests; the figures are then not the benchmark's).
    pub quick: bool,
    /// Folder for the explanation images and the JSON.
    pub out: PathBuf,
    /// Show progress bars.
    pub progress: bool,
    /// Device the models train on.
    pub device: Device,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            seed: 0,
            quick: false,
            out: PathBuf::from("xai-proto"),
            progress: false,
            device: Device::flex(),
        }
    }
}

/// The upper median of `v` (sorted in place; 0 for an empty slice).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Create `dir` (and parents).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(XaiError::io(dir))
}

/// Write `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| XaiError::Parse {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    std::fs::write(path, text).map_err(XaiError::io(path))
}

/// Save an RGB image.
pub fn save_png(path: &Path, img: &image::RgbImage) -> Result<()> {
    img.save(path).map_err(|e| XaiError::writing(path, e))
}

/// A categorical colour for index `i` (Tableau 10).
pub fn palette(i: usize) -> [u8; 3] {
    const P: [[u8; 3]; 10] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ];
    P[i % P.len()]
}

/// The ProtoPNet schedule of the PartShapes and Clever Hans benchmarks: 2 warm-up and 30 joint
/// epochs (1 and 6 when `quick`), seeded by the options.
pub fn protopnet_schedule(opts: &BenchOptions) -> xai_proto::protopnet::ProtoTrainConfig {
    xai_proto::protopnet::ProtoTrainConfig {
        warm_epochs: if opts.quick { 1 } else { 2 },
        joint_epochs: if opts.quick { 6 } else { 30 },
        seed: opts.seed,
        progress: opts.progress,
        last_layer: xai_proto::protopnet::LastLayerConfig {
            seed: opts.seed,
            ..Default::default()
        },
        ..Default::default()
    }
}
