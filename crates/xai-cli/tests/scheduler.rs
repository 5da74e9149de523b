//! The map/reduce steps run as a cluster scheduler runs them: separate processes, each told its
//! shard by SLURM's or Kubernetes' variables, a reduce per stage. The merged results equal the
//! one-process results (to 1e-12 relative, f64), a shard lost to a kill is redone on resume while
//! complete shards are skipped, and a reduce with a missing shard fails naming it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xai_core::shard::Run;
use xai_influence::sharded;
use xai_influence::{Influence, Solver};

fn xai() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xai"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xai-scheduler-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn ok(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

/// A scheduler's environment for task `i` of `n`.
#[derive(Clone, Copy)]
enum Scheduler {
    /// A SLURM array submitted as `--array=1-N` (task ids start at 1).
    Slurm,
    /// A Kubernetes Indexed Job: only the index; the count comes from the run.
    Kubernetes,
}

/// Run `args` as `n` concurrent worker processes under `scheduler`; returns their stderr.
fn array(args: &[&str], dir: &Path, n: usize, scheduler: Scheduler) -> Vec<String> {
    let children: Vec<_> = (0..n)
        .map(|i| {
            let mut c = xai();
            c.args(args).arg("--dir").arg(dir);
            match scheduler {
                Scheduler::Slurm => {
                    c.env("SLURM_ARRAY_TASK_ID", (i + 1).to_string())
                        .env("SLURM_ARRAY_TASK_MIN", "1")
                        .env("SLURM_ARRAY_TASK_COUNT", n.to_string());
                }
                Scheduler::Kubernetes => {
                    c.env("JOB_COMPLETION_INDEX", i.to_string());
                }
            }
            c.stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| ok(c.wait_with_output().unwrap()))
        .collect()
}

fn reduce(dir: &Path, stage: Option<&str>) -> Output {
    let mut c = xai();
    c.args(["reduce", "--dir"]).arg(dir);
    if let Some(s) = stage {
        c.args(["--stage", s]);
    }
    c.output().unwrap()
}

fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    diff / scale.max(f64::MIN_POSITIVE)
}

/// A worker killed after writing its tensors but before its completion record.
fn kill_after_data(dir: &Path, stage: &str, index: usize, of: usize) {
    let stem = dir.join(stage).join(format!("shard-{index}-of-{of}"));
    std::fs::remove_file(stem.with_extension("json")).unwrap();
    let data = stem.with_extension("safetensors");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn ekfac_influence_over_a_scheduler_equals_one_process() {
    let dir = scratch("influence");
    let plan = xai()
        .args(["influence", "plan", "--shards", "3", "--test-points", "4"])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    ok(plan);

    array(&["influence", "map", "factors"], &dir, 3, Scheduler::Slurm);
    ok(reduce(&dir, Some("factors")));

    array(
        &["influence", "map", "eigenvalues"],
        &dir,
        3,
        Scheduler::Kubernetes,
    );
    // Shard 1 was killed mid-write (preemption): the reduce names it, one line, exit 2.
    kill_after_data(&dir, "eigenvalues", 1, 3);
    let failed = reduce(&dir, Some("eigenvalues"));
    assert_eq!(failed.status.code(), Some(2));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("missing shard(s) 1 of 3"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Resubmitting the whole array redoes shard 1 only.
    let logs = array(
        &["influence", "map", "eigenvalues"],
        &dir,
        3,
        Scheduler::Kubernetes,
    );
    assert!(
        logs[0].contains("skipped") && logs[2].contains("skipped"),
        "{logs:?}"
    );
    assert!(logs[1].contains("written"), "{logs:?}");
    ok(reduce(&dir, Some("eigenvalues")));

    // The last stage in one process, its shards spread over two devices (one thread each).
    let mut one = xai();
    one.args([
        "influence",
        "map",
        "scores",
        "--devices",
        "flex,flex",
        "--dir",
    ])
    .arg(&dir);
    let log = ok(one.output().unwrap());
    assert_eq!(log.matches("written").count(), 3, "{log}");
    ok(reduce(&dir, Some("scores")));

    // The same EK-FAC scores in one process, from the run's own θ and test points.
    let run = Run::open(&dir).unwrap();
    let objective = xai_bench::influence::run_objective(&run).unwrap();
    let job = sharded::job(&run).unwrap();
    let theta = sharded::theta(&run, &objective).unwrap();
    let test = sharded::test_data(&run, &objective).unwrap();
    let solver = Solver::Ekfac {
        damping: job.damping,
        fisher: job.fisher,
    };
    let whole = Influence::new(&objective, &theta, &solver)
        .unwrap()
        .up_loss(&test)
        .unwrap();
    let merged = sharded::scores(&run).unwrap();
    assert_eq!((merged.len(), merged[0].len()), (4, 1000));
    let d = rel_diff(&merged.concat(), &whole.concat());
    assert!(d <= 1e-12, "merged vs one process: {d:e}");

    // A worker of another array size is refused, one line.
    let out = xai()
        .args(["influence", "map", "scores", "--shard", "0/4", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("planned with 3 shards"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn partitioned_is_a_local_driver_of_the_same_steps() {
    let dir = scratch("partitioned");
    let out = xai()
        .args([
            "influence",
            "partitioned",
            "--shards",
            "2",
            "--test-points",
            "3",
        ])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = out.stdout.clone();
    ok(out);
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let diff = v["max_abs_diff_merged_vs_whole"].as_f64().unwrap();
    let scale = v["max_abs_score"].as_f64().unwrap();
    assert!(scale > 0.0 && diff <= 1e-12 * scale, "{v}");
    for stage in sharded::STAGES {
        for i in 0..2 {
            assert!(
                dir.join(stage)
                    .join(format!("shard-{i}-of-2.json"))
                    .is_file()
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `xai explain` over shards of a batch, merged, equals one `xai explain` over the batch.
#[test]
fn batch_attributions_over_a_scheduler_equal_one_run() {
    let dir = scratch("explain");
    std::fs::create_dir_all(&dir).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/smooth_mlp.json");
    // 11 rows of 5 features, deterministic.
    let rows: Vec<String> = (0..11)
        .map(|i| {
            (0..5)
                .map(|j| format!("{:.6}", ((i * 7 + j * 3) % 13) as f64 / 6.5 - 1.0))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let csv = dir.join("rows.csv");
    std::fs::write(&csv, rows.join("\n") + "\n").unwrap();
    let methods = "integrated_gradients,saliency,lrp,deeplift,feature_ablation";
    let common = |c: &mut Command| {
        c.args(["explain", "--model"])
            .arg(&model)
            .arg("--inputs")
            .arg(&csv)
            .args(["--methods", methods]);
    };
    let mut whole = xai();
    common(&mut whole);
    ok(whole.arg("--out").arg(dir.join("report")).output().unwrap());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report/results.json")).unwrap())
            .unwrap();

    let run_dir = dir.join("run");
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut c = xai();
            common(&mut c);
            c.arg("--shard-dir")
                .arg(&run_dir)
                .args(["--shards", "4"])
                .env("SLURM_ARRAY_TASK_ID", i.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", "4")
                .output()
                .unwrap()
        })
        .collect();
    children.into_iter().for_each(|o| {
        ok(o);
    });
    kill_after_data(&run_dir, "attributions", 2, 4);
    let failed = reduce(&run_dir, None);
    assert_eq!(failed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("missing shard(s) 2 of 4"));
    // Resumed in one process over two devices: the three complete shards are skipped.
    let mut again = xai();
    common(&mut again);
    let log = ok(again
        .arg("--shard-dir")
        .arg(&run_dir)
        .args(["--shards", "4", "--devices", "flex,flex"])
        .output()
        .unwrap());
    assert!(log.contains("shard 2/4: written"), "{log}");
    assert_eq!(log.matches("skipped").count(), 3, "{log}");
    ok(reduce(&run_dir, None));

    let merged = Run::open(&run_dir)
        .unwrap()
        .read_reduced("attributions")
        .unwrap();
    for r in report["results"].as_array().unwrap() {
        let name = r["method"].as_str().unwrap();
        let want: Vec<f64> = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        let got = &merged[name];
        assert_eq!(got.shape, vec![11, 5], "{name}");
        let d = rel_diff(&got.data, &want);
        assert!(d <= 1e-12, "{name}: merged vs one run {d:e}");
    }
    let targets: Vec<f64> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert_eq!(merged["targets"].data, targets);

    // Another input file in the same run folder: refused, not mixed.
    let other = dir.join("other.csv");
    std::fs::write(&other, rows[..5].join("\n") + "\n").unwrap();
    let out = xai()
        .args(["explain", "--model"])
        .arg(&model)
        .arg("--inputs")
        .arg(&other)
        .args([
            "--methods",
            methods,
            "--shards",
            "4",
            "--shard",
            "0/4",
            "--shard-dir",
        ])
        .arg(&run_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another run"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A stand-in for `sbatch` that runs each job at once, in submission order (so every
/// `--dependency=afterok` is already met), array tasks one after another with SLURM's variables.
const FAKE_SBATCH: &str = r#"#!/bin/bash
array=""; args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --array=*) array="${1#--array=}" ;;
    --*) ;;
    *) args+=("$1") ;;
  esac
  shift
done
id=$RANDOM
if [ -n "$array" ]; then
  lo=${array%-*}; hi=${array#*-}
  for ((i = lo; i <= hi; i++)); do
    SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_MIN=$lo SLURM_ARRAY_TASK_COUNT=$((hi - lo + 1)) \
      bash "${args[@]}" >&2 || exit 1
  done
else
  bash "${args[@]}" >&2 || exit 1
fi
echo "$id"
"#;

/// `deploy/slurm/submit-influence.sh`, run through a stand-in `sbatch`, produces the merged
/// scores: the launcher's commands and arguments are the ones the program accepts.
#[test]
fn the_slurm_launcher_runs_the_whole_job() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("slurm");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(&sbatch, FAKE_SBATCH).unwrap();
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/slurm/submit-influence.sh");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_dir = dir.join("run");
    let out = Command::new("bash")
        .arg(&script)
        .env("PATH", path)
        .env("XAI", env!("CARGO_BIN_EXE_xai"))
        .env("RUN_DIR", &run_dir)
        .env("SHARDS", "2")
        .env("TEST_POINTS", "2")
        .output()
        .unwrap();
    ok(out);
    let scores = sharded::scores(&Run::open(&run_dir).unwrap()).unwrap();
    assert_eq!((scores.len(), scores[0].len()), (2, 1000));
    assert!(scores.concat().iter().all(|v| v.is_finite()));
    std::fs::remove_dir_all(&dir).ok();
}
