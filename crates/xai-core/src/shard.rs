//! Map/reduce over shards of a data set, run by a cluster scheduler (SLURM job arrays,
//! Kubernetes Indexed Jobs) or by local processes.
//!
//! A **run** is a folder on storage that every worker sees. It holds `manifest.json`: what is
//! computed (`kind`), the whole configuration as JSON with its hash, the seed, the number of
//! shards and of rows. Each **stage** of a computation is mapped over the shards: shard `i` of
//! `N` handles the rows [`ShardSpec::rows`] — contiguous, and a function of `(i, N, rows)` only —
//! and writes
//!
//! * `STAGE/shard-i-of-N.safetensors`: its tensors (f64, named), then
//! * `STAGE/shard-i-of-N.json`: its metadata (run hash, stage, index, rows), written last.
//!
//! Both go to a temporary name first and are renamed into place, so a worker killed at any point
//! leaves no file that looks complete. The JSON file marks the shard complete: a rerun of a
//! complete shard is skipped ([`Run::is_complete`]), so resubmitting the whole array after a
//! preemption redoes only the missing shards. [`Run::gather`] is the reduce step's read: it
//! checks that every shard of the stage is there, that each belongs to this run (same
//! configuration hash, same shard count) and covers its rows, and names every missing shard.
//!
//! A worker learns its index from `--shard i/N` ([`ShardSpec::parse`]) or from the scheduler's
//! variables ([`ShardSpec::from_vars`]): `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) and
//! `SLURM_ARRAY_TASK_COUNT` under SLURM, `JOB_COMPLETION_INDEX` in a Kubernetes Indexed Job
//! (which exports no count: the count comes from the manifest, or `XAI_SHARD_COUNT`).
//!
//! Tensors are stored as safetensors (readable from Python with `safetensors.numpy.load_file`),
//! metadata as JSON. Floating-point sums reduce exactly up to summation order.
//!
//! ```
//! use xai_core::shard::{Array, Manifest, Run, ShardSpec};
//! let dir = std::env::temp_dir().join(format!("xai-shard-doc-{}", std::process::id()));
//! let manifest = Manifest::new("row-sums", serde_json::json!({"scale": 2.0}), 0, 2, 5);
//! let run = Run::create(&dir, manifest)?;
//! for i in 0..2 {
//!     let spec = ShardSpec::new(i, 2)?;
//!     let rows = spec.rows(5);
//!     let values = rows.clone().map(|r| 2.0 * r as f64).collect();
//!     run.write_shard("double", spec, &[("y", Array::new(vec![rows.len()], values)?)])?;
//! }
//! let parts = run.gather("double")?;
//! let y: Vec<f64> = parts.iter().flat_map(|p| p["y"].data.clone()).collect();
//! assert_eq!(y, vec![0.0, 2.0, 4.0, 6.0, 8.0]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), xai_core::XaiError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Result, XaiError};

/// Shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// This shard's index, `0 ≤ index < count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl ShardSpec {
    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<ShardSpec> {
        if count == 0 || index >= count {
            return Err(XaiError::Config(format!(
                "shard {index}/{count}: the index must be below the count, and the count ≥ 1"
            )));
        }
        Ok(ShardSpec { index, count })
    }

    /// The whole data set as one shard.
    pub fn whole() -> ShardSpec {
        ShardSpec { index: 0, count: 1 }
    }

    /// Parse `i/N`, as in `--shard 3/8`.
    pub fn parse(text: &str) -> Result<ShardSpec> {
        let bad = || XaiError::Config(format!("--shard `{text}`: expected INDEX/COUNT like 0/4"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index = i.trim().parse().map_err(|_| bad())?;
        let count = n.trim().parse().map_err(|_| bad())?;
        ShardSpec::new(index, count)
    }

    /// The index (and the count, where the scheduler exports one) from a scheduler's variables,
    /// read through `var`: SLURM arrays (`SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN`,
    /// `SLURM_ARRAY_TASK_COUNT`), Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX`), and
    /// `XAI_SHARD_COUNT` for a count the scheduler does not export. `None` when no scheduler
    /// variable is set.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<(usize, Option<usize>)>> {
        let number = |name: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    XaiError::Config(format!("{name}={v} is not a non-negative integer"))
                }),
            }
        };
        let explicit_count = number("XAI_SHARD_COUNT")?;
        if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = task.checked_sub(min).ok_or_else(|| {
                XaiError::Config(format!(
                    "SLURM_ARRAY_TASK_ID={task} is below SLURM_ARRAY_TASK_MIN={min}"
                ))
            })?;
            let count = number("SLURM_ARRAY_TASK_COUNT")?.or(explicit_count);
            return Ok(Some((index, count)));
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            return Ok(Some((index, explicit_count)));
        }
        Ok(None)
    }

    /// This worker's shard of a run of `count` shards: `--shard i/N` when given, else the
    /// scheduler's variables from the environment. A count that disagrees with the run's is
    /// refused (the array was submitted with another size than the run was planned for).
    pub fn resolve(arg: Option<&str>, count: usize) -> Result<ShardSpec> {
        let (index, given) = match arg {
            Some(text) => {
                let s = ShardSpec::parse(text)?;
                (s.index, Some(s.count))
            }
            None => ShardSpec::from_vars(|k| std::env::var(k).ok())?.ok_or_else(|| {
                XaiError::Config(
                    "no shard index: pass --shard INDEX/COUNT, or run as a SLURM array task \
                     (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)"
                        .into(),
                )
            })?,
        };
        if let Some(n) = given
            && n != count
        {
            return Err(XaiError::Config(format!(
                "this worker is shard {index} of {n}, but the run was planned with {count} shards"
            )));
        }
        ShardSpec::new(index, count)
    }

    /// The rows of this shard among `n`: `[index·n/count, (index+1)·n/count)`.
    ///
    /// ```
    /// use xai_core::shard::ShardSpec;
    /// let slices: Vec<_> = (0..3).map(|i| ShardSpec::new(i, 3).unwrap().rows(10)).collect();
    /// assert_eq!(slices, vec![0..3, 3..6, 6..10]);
    /// ```
    pub fn rows(&self, n: usize) -> Range<usize> {
        self.index * n / self.count..(self.index + 1) * n / self.count
    }

    fn stem(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

/// Run `work` on every shard of `shards`, spread over `devices`: one thread per device, each
/// taking the next shard no thread has taken yet (a fast device takes more). This is how one
/// process drives several GPUs; the shards' files then reduce as if separate processes had
/// written them. Results come back in the order of `shards`; the first error (in that order)
/// is returned once every thread has stopped.
///
/// ```
/// use xai_core::shard::{ShardSpec, over_devices};
/// let shards: Vec<_> = (0..5).map(|i| ShardSpec::new(i, 5).unwrap()).collect();
/// let rows = over_devices(&shards, &["gpu0", "gpu1"], |s, _dev| Ok(s.rows(10).len()))?;
/// assert_eq!(rows, vec![2; 5]);
/// # Ok::<(), xai_core::XaiError>(())
/// ```
pub fn over_devices<D: Sync, T: Send>(
    shards: &[ShardSpec],
    devices: &[D],
    work: impl Fn(ShardSpec, &D) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    if devices.is_empty() {
        return Err(XaiError::Config("no device to run the shards on".into()));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<T>>>> =
        shards.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for device in devices {
            let (next, results, work) = (&next, &results, &work);
            scope.spawn(move || {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&spec) = shards.get(k) else { break };
                    let r = work(spec, device);
                    let failed = r.is_err();
                    if let Ok(mut slot) = results[k].lock() {
                        *slot = Some(r);
                    }
                    if failed {
                        // Stop handing out shards: the run fails anyway.
                        next.store(shards.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(shards.len());
    for (k, slot) in results.into_iter().enumerate() {
        let r = slot
            .into_inner()
            .map_err(|_| XaiError::Numerical(format!("shard {k}: a worker thread panicked")))?;
        match r {
            Some(r) => out.push(r?),
            // Not started because an earlier shard failed; that error was returned above.
            None => {
                return Err(XaiError::Numerical(format!(
                    "shard {k} did not run (a worker thread stopped early)"
                )));
            }
        }
    }
    Ok(out)
}

/// What a map step did with its shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapped {
    /// The shard was computed and written.
    Written,
    /// The shard was already complete (a rerun after preemption): nothing was done.
    Skipped,
}

impl std::fmt::Display for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mapped::Written => "written",
            Mapped::Skipped => "already complete, skipped",
        })
    }
}

/// What a run computes; `manifest.json` in the run folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The computation, e.g. `influence-ekfac` or `attributions`.
    pub kind: String,
    /// Every setting that changes a result.
    pub config: Value,
    /// FNV-1a hash of `kind` and `config` (hex): shards of different runs never mix.
    pub config_hash: String,
    /// Seed of every random draw in the run.
    pub seed: u64,
    /// Number of shards.
    pub shards: usize,
    /// Number of rows split among them.
    pub rows: usize,
    /// The xai version that planned the run.
    pub xai_version: String,
}

impl Manifest {
    /// The manifest of a run of `kind` with `config`, `seed`, over `rows` rows in `shards` shards.
    pub fn new(kind: &str, config: Value, seed: u64, shards: usize, rows: usize) -> Manifest {
        let text = format!("{kind}\n{seed}\n{shards}\n{rows}\n{config}");
        Manifest {
            kind: kind.to_string(),
            config,
            config_hash: format!("{:016x}", fnv1a(text.as_bytes())),
            seed,
            shards,
            rows,
            xai_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A stable 64-bit fingerprint of `bytes` (FNV-1a, hex), for recording inputs in a manifest.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(bytes))
}

/// 64-bit FNV-1a: a stable hash (the standard library's is randomised per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A named f64 tensor of one shard.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f64>,
}

impl Array {
    /// An array of `shape` holding `data` (checked: the lengths agree).
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Result<Array> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(XaiError::shape(
                "shard array",
                format!("{} values", data.len()),
                &shape,
            ));
        }
        Ok(Array { shape, data })
    }
}

/// A shard's completion record, `STAGE/shard-i-of-N.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The run's configuration hash.
    pub config_hash: String,
    /// The stage.
    pub stage: String,
    /// Which shard.
    pub shard: ShardSpec,
    /// Rows covered, `[start, end)`.
    pub rows: [usize; 2],
    /// Names of the tensors in the safetensors file.
    pub tensors: Vec<String>,
}

/// A run folder (see the module docs).
#[derive(Clone, Debug)]
pub struct Run {
    dir: PathBuf,
    manifest: Manifest,
}

impl Run {
    /// Create the run folder with `manifest`, or join it when it already holds the same run
    /// (same configuration hash); a folder planned for another run is refused.
    pub fn create(dir: &Path, manifest: Manifest) -> Result<Run> {
        std::fs::create_dir_all(dir).map_err(XaiError::io(dir))?;
        let path = dir.join("manifest.json");
        if !path.exists() {
            let text =
                serde_json::to_string_pretty(&manifest).map_err(|e| XaiError::writing(&path, e))?;
            write_new(&path, text.as_bytes())?;
        }
        let run = Run::open(dir)?;
        if run.manifest.config_hash != manifest.config_hash {
            return Err(XaiError::Config(format!(
                "{} holds another run ({} with hash {}, this one is {} with hash {}); use \
                 another folder",
                dir.display(),
                run.manifest.kind,
                run.manifest.config_hash,
                manifest.kind,
                manifest.config_hash
            )));
        }
        Ok(run)
    }

    /// Open an existing run folder.
    pub fn open(dir: &Path) -> Result<Run> {
        let path = dir.join("manifest.json");
        let manifest: Manifest = read_json(&path)?;
        Ok(Run {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The run's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This worker's shard (`--shard` or the scheduler's variables), checked against the run.
    pub fn shard(&self, arg: Option<&str>) -> Result<ShardSpec> {
        ShardSpec::resolve(arg, self.manifest.shards)
    }

    fn stage_dir(&self, stage: &str) -> Result<PathBuf> {
        let ok = !stage.is_empty()
            && stage
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(XaiError::Config(format!(
                "stage name `{stage}`: use letters, digits, `-` and `_`"
            )));
        }
        Ok(self.dir.join(stage))
    }

    /// Whether `shard` of `stage` is complete and belongs to this run.
    pub fn is_complete(&self, stage: &str, shard: ShardSpec) -> bool {
        self.read_record(stage, shard).is_ok()
    }

    fn read_record(&self, stage: &str, shard: ShardSpec) -> Result<ShardRecord> {
        let path = self
            .stage_dir(stage)?
            .join(format!("{}.json", shard.stem()));
        let record: ShardRecord = read_json(&path)?;
        let rows = shard.rows(self.manifest.rows);
        if record.config_hash != self.manifest.config_hash
            || record.stage != stage
            || record.shard != shard
            || record.rows != [rows.start, rows.end]
        {
            return Err(XaiError::Config(format!(
                "{}: shard {}/{} of stage `{}` (run {}) does not belong to shard {}/{} of stage \
                 `{stage}` in run {}",
                path.display(),
                record.shard.index,
                record.shard.count,
                record.stage,
                record.config_hash,
                shard.index,
                shard.count,
                self.manifest.config_hash
            )));
        }
        Ok(record)
    }

    /// Write `shard`'s tensors for `stage`: the safetensors file, then the record that marks it
    /// complete, each through a temporary name.
    pub fn write_shard<S: AsRef<str>>(
        &self,
        stage: &str,
        shard: ShardSpec,
        tensors: &[(S, Array)],
    ) -> Result<()> {
        if shard.count != self.manifest.shards {
            return Err(XaiError::Config(format!(
                "shard {}/{} in a run of {} shards",
                shard.index, shard.count, self.manifest.shards
            )));
        }
        let dir = self.stage_dir(stage)?;
        std::fs::create_dir_all(&dir).map_err(XaiError::io(&dir))?;
        let rows = shard.rows(self.manifest.rows);
        let record = ShardRecord {
            config_hash: self.manifest.config_hash.clone(),
            stage: stage.to_string(),
            shard,
            rows: [rows.start, rows.end],
            tensors: tensors
                .iter()
                .map(|(n, _)| n.as_ref().to_string())
                .collect(),
        };
        let bytes = encode(tensors, &record)?;
        let path = dir.join(format!("{}.safetensors", shard.stem()));
        write_replacing(&path, &bytes)?;
        let json = dir.join(format!("{}.json", shard.stem()));
        let text =
            serde_json::to_string_pretty(&record).map_err(|e| XaiError::writing(&json, e))?;
        write_replacing(&json, text.as_bytes())
    }

    /// Read one complete shard of `stage`.
    pub fn read_shard(&self, stage: &str, shard: ShardSpec) -> Result<BTreeMap<String, Array>> {
        let record = self.read_record(stage, shard)?;
        let path = self
            .stage_dir(stage)?
            .join(format!("{}.safetensors", shard.stem()));
        let bytes = std::fs::read(&path).map_err(XaiError::io(&path))?;
        let arrays = decode(&bytes, &path)?;
        for name in &record.tensors {
            if !arrays.contains_key(name) {
                return Err(XaiError::Parse {
                    file: path.display().to_string(),
                    message: format!("tensor `{name}` is missing"),
                });
            }
        }
        Ok(arrays)
    }

    /// The reduce step's read: every shard of `stage` in index order, after checking that all
    /// are complete and belong to this run (the error names every missing shard).
    pub fn gather(&self, stage: &str) -> Result<Vec<BTreeMap<String, Array>>> {
        let n = self.manifest.shards;
        let specs: Vec<ShardSpec> = (0..n).map(|i| ShardSpec { index: i, count: n }).collect();
        let missing: Vec<String> = specs
            .iter()
            .filter(|s| !self.is_complete(stage, **s))
            .map(|s| s.index.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(XaiError::Config(format!(
                "{}: stage `{stage}` is missing shard(s) {} of {n}; rerun them (complete shards \
                 are skipped)",
                self.dir.display(),
                missing.join(", ")
            )));
        }
        specs.iter().map(|s| self.read_shard(stage, *s)).collect()
    }

    /// Write the reduced result of `stage` as `STAGE/reduced.safetensors` (atomically).
    pub fn write_reduced<S: AsRef<str>>(
        &self,
        stage: &str,
        tensors: &[(S, Array)],
    ) -> Result<PathBuf> {
        let dir = self.stage_dir(stage)?;
        std::fs::create_dir_all(&dir).map_err(XaiError::io(&dir))?;
        let record = ShardRecord {
            config_hash: self.manifest.config_hash.clone(),
            stage: stage.to_string(),
            shard: ShardSpec::whole(),
            rows: [0, self.manifest.rows],
            tensors: tensors
                .iter()
                .map(|(n, _)| n.as_ref().to_string())
                .collect(),
        };
        let path = dir.join("reduced.safetensors");
        write_replacing(&path, &encode(tensors, &record)?)?;
        Ok(path)
    }

    /// Read the reduced result of `stage`, checking it belongs to this run.
    pub fn read_reduced(&self, stage: &str) -> Result<BTreeMap<String, Array>> {
        let path = self.stage_dir(stage)?.join("reduced.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                XaiError::Config(format!(
                    "{}: stage `{stage}` has not been reduced yet",
                    self.dir.display()
                ))
            } else {
                XaiError::io(&path)(e)
            }
        })?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| parse(&path, e))?;
        let hash = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("config_hash").cloned());
        if hash.as_deref() != Some(self.manifest.config_hash.as_str()) {
            return Err(XaiError::Config(format!(
                "{}: belongs to another run (hash {hash:?}, this run {})",
                path.display(),
                self.manifest.config_hash
            )));
        }
        decode(&bytes, &path)
    }
}

fn parse(path: &Path, e: impl std::fmt::Display) -> XaiError {
    XaiError::Parse {
        file: path.display().to_string(),
        message: e.to_string(),
    }
}

fn encode<S: AsRef<str>>(tensors: &[(S, Array)], record: &ShardRecord) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, a)| {
            let raw = a.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.as_ref().to_string(), a.shape.clone(), raw)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, raw)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape.clone(), raw)
                .map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| XaiError::Config(format!("shard tensors: {e}")))?;
    let meta: HashMap<String, String> = [
        ("config_hash".to_string(), record.config_hash.clone()),
        ("stage".to_string(), record.stage.clone()),
        (
            "shard".to_string(),
            format!("{}/{}", record.shard.index, record.shard.count),
        ),
        (
            "rows".to_string(),
            format!("{}..{}", record.rows[0], record.rows[1]),
        ),
    ]
    .into();
    safetensors::serialize(views, Some(meta))
        .map_err(|e| XaiError::Config(format!("shard tensors: {e}")))
}

fn decode(bytes: &[u8], path: &Path) -> Result<BTreeMap<String, Array>> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| parse(path, e))?;
    let mut out = BTreeMap::new();
    for name in st.names() {
        let view = st.tensor(name).map_err(|e| parse(path, e))?;
        if view.dtype() != safetensors::Dtype::F64 {
            return Err(parse(
                path,
                format!("tensor `{name}` is {:?}, expected F64", view.dtype()),
            ));
        }
        let data = view
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8 bytes")))
            .collect();
        out.insert(name.to_string(), Array::new(view.shape().to_vec(), data)?);
    }
    Ok(out)
}

/// Write through a temporary file in the same folder and rename over `path`.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary(path);
    std::fs::write(&tmp, bytes).map_err(XaiError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(XaiError::io(path))
}

/// Write `path` only if it does not exist yet (two workers creating the run at once: one wins,
/// the other reads the winner's manifest).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary(path);
    std::fs::write(&tmp, bytes).map_err(XaiError::io(&tmp))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(XaiError::io(path)(e)),
    }
}

fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
    serde_json::from_str(&text).map_err(|e| parse(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn scheduler_variables_give_the_index() {
        let slurm = vars(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(ShardSpec::from_vars(slurm).unwrap(), Some((4, Some(8))));
        let k8s = vars(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(ShardSpec::from_vars(k8s).unwrap(), Some((2, None)));
        let k8s = vars(&[("JOB_COMPLETION_INDEX", "2"), ("XAI_SHARD_COUNT", "3")]);
        assert_eq!(ShardSpec::from_vars(k8s).unwrap(), Some((2, Some(3))));
        assert_eq!(ShardSpec::from_vars(vars(&[])).unwrap(), None);
        assert!(ShardSpec::from_vars(vars(&[("JOB_COMPLETION_INDEX", "x")])).is_err());
        let below = vars(&[("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "1")]);
        assert!(ShardSpec::from_vars(below).is_err());
    }

    #[test]
    fn shard_text_is_checked() {
        assert_eq!(
            ShardSpec::parse("3/8").unwrap(),
            ShardSpec { index: 3, count: 8 }
        );
        for bad in ["8/8", "1/0", "x/2", "3", "-1/2"] {
            assert!(ShardSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(ShardSpec::resolve(Some("1/3"), 4).is_err());
    }

    #[test]
    fn rows_cover_every_row_once() {
        for n in [0, 1, 7, 100] {
            for count in 1..9 {
                let all: Vec<usize> = (0..count)
                    .flat_map(|i| ShardSpec::new(i, count).unwrap().rows(n))
                    .collect();
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn gather_names_missing_shards_and_refuses_other_runs() {
        let dir = std::env::temp_dir().join(format!("xai-shard-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = Run::create(
            &dir,
            Manifest::new("t", serde_json::json!({"a": 1}), 0, 3, 6),
        )
        .unwrap();
        let a = || Array::new(vec![2], vec![1.0, 2.0]).unwrap();
        run.write_shard("s", ShardSpec::new(1, 3).unwrap(), &[("x", a())])
            .unwrap();
        let err = run.gather("s").unwrap_err().to_string();
        assert!(err.contains("shard(s) 0, 2 of 3"), "{err}");
        // A killed worker's temporary file is not a complete shard.
        std::fs::write(dir.join("s").join(".shard-0-of-3.json.tmp-1"), "{").unwrap();
        assert!(!run.is_complete("s", ShardSpec::new(0, 3).unwrap()));
        // Same folder, another configuration: refused.
        let other = Run::create(
            &dir,
            Manifest::new("t", serde_json::json!({"a": 2}), 0, 3, 6),
        );
        assert!(other.unwrap_err().to_string().contains("another run"));
        // The same configuration joins.
        let again = Run::create(
            &dir,
            Manifest::new("t", serde_json::json!({"a": 1}), 0, 3, 6),
        )
        .unwrap();
        assert!(again.is_complete("s", ShardSpec::new(1, 3).unwrap()));
        assert_eq!(
            again
                .read_shard("s", ShardSpec::new(1, 3).unwrap())
                .unwrap()["x"],
            a()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
