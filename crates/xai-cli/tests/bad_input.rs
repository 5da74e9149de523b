//! Every subcommand against malformed input: each case must end with exit status 2 and exactly
//! one line on stderr that says what is wrong (never a panic, exit 101, or a hang), and must not
//! create its output folder.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn assets(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Files every case may point at, in a fresh scratch folder.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xai-bad-input-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let put = |name: &str, text: &[u8]| std::fs::write(d.join(name), text).unwrap();
    put("empty.json", b"");
    put("garbage.json", b"{not json");
    put("array.json", b"[1, 2, 3]");
    put("empty.csv", b"");
    put("header_only.csv", b"a,b,c\n");
    put("nan.csv", b"1,2,NaN,4,5,6\n");
    put("inf.csv", b"1,2,inf,4,5,6\n");
    put("wide.csv", b"1,2,3,4,5,6,7,8,9\n");
    put("words.csv", b"1,2,x,4,5,6\n");
    put("ragged.csv", b"1,2,3,4,5,6\n1,2\n");
    put("bad.npy", b"\x93NUMPY\x01\x00garbage");
    put("bad.png", b"\x89PNG\r\n\x1a\nnot really");
    put("notes.txt", b"hello");
    put("garbage.onnx", b"\x08\x07not a protobuf at all\xff");
    let mlp = std::fs::read(assets("onnx/onnx_mlp.onnx")).unwrap();
    put("truncated.onnx", &mlp[..mlp.len() / 3]);
    // An NPY of 2 rows of 3 float32 values (the ONNX MLP takes 10).
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    let pad = 64 - (10 + header.len() + 1) % 64;
    let header = format!("{header}{}\n", " ".repeat(pad));
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend(std::iter::repeat_n(0u8, 2 * 3 * 4));
    put("narrow.npy", &npy);
    put("labels.csv", b"a,b,default\n1,0,1\n0,1,2\n");
    let constant = String::from("a,b,default\n") + &"1,0,1\n".repeat(12);
    put("constant.csv", constant.as_bytes());
    put(
        "lgbm_v1.txt",
        b"tree\nversion=v1\nnum_tree_per_iteration=1\nmax_feature_idx=0\n",
    );
    put("xgb_rank.json", br#"{"learner":{"learner_model_param":{"base_score":"0.5","num_class":"0","num_feature":"1"},"objective":{"name":"rank:pairwise"},"gradient_booster":{"name":"gbtree","model":{"trees":[],"tree_info":[]}}},"version":[3,2,0]}"#);
    d
}

#[test]
fn malformed_input_is_one_line_and_exit_2_everywhere() {
    let d = scratch();
    let p = |name: &str| d.join(name).display().to_string();
    let out = |name: &str| d.join("out").join(name).display().to_string();
    let mlp = assets("tabular_mlp.json");
    let xgb = assets("glassbox/xgb_model.json");
    let onnx_unsupported = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../xai-onnx/tests/data/unsupported.onnx")
        .display()
        .to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        // usage errors
        (vec!["no-such-command".into()], "unrecognized"),
        (vec!["explain".into()], "not provided: --model"),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--device".into(),
                "tpu".into(),
            ],
            "devices",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--max-minutes".into(),
                "0.0000001".into(),
                "--out".into(),
                out("too-long"),
            ],
            "forward passes",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--max-minutes".into(),
                "0".into(),
            ],
            "positive number of minutes",
        ),
        (
            vec![
                "bench".into(),
                "--fixture".into(),
                mlp.clone(),
                "--method".into(),
                "ig".into(),
                "--steps".into(),
                "-3".into(),
            ],
            "-3",
        ),
        // explain: ONNX models
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("garbage.onnx"),
                "--inputs".into(),
                p("narrow.npy"),
                "--out".into(),
                out("onnx1"),
            ],
            "garbage.onnx",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("truncated.onnx"),
                "--inputs".into(),
                p("narrow.npy"),
                "--out".into(),
                out("onnx2"),
            ],
            "truncated.onnx",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                onnx_unsupported.clone(),
                "--inputs".into(),
                p("narrow.npy"),
                "--out".into(),
                out("onnx3"),
            ],
            "NonMaxSuppression (node nms_1), TopK (node topk_1)",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                assets("onnx/onnx_mlp.onnx"),
                "--inputs".into(),
                p("narrow.npy"),
                "--out".into(),
                out("onnx4"),
            ],
            "expected [N, 10]",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                assets("onnx/onnx_text.onnx"),
                "--inputs".into(),
                p("narrow.npy"),
                "--out".into(),
                out("onnx5"),
            ],
            "input_ids, attention_mask",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                assets("onnx/onnx_mlp.onnx"),
                "--out".into(),
                out("onnx6"),
            ],
            "needs --inputs for `features`",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                assets("onnx/onnx_text.onnx"),
                "--input".into(),
                "input_ids".into(),
                "--out".into(),
                out("onnx7"),
            ],
            "is not NAME=FILE",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                assets("onnx/onnx_text.onnx"),
                "--input".into(),
                format!("input_ids={}", p("narrow.npy")),
                "--out".into(),
                out("onnx8"),
            ],
            "missing --input attention_mask=FILE",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                assets("onnx/onnx_text.onnx"),
                "--input".into(),
                format!("input_ids={}", p("narrow.npy")),
                "--input".into(),
                format!("attention_mask={}", p("narrow.npy")),
                "--out".into(),
                out("onnx9"),
            ],
            "expected [N, 12]",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                assets("onnx/onnx_mlp.onnx"),
                "--input".into(),
                format!("features={}", p("narrow.npy")),
                "--out".into(),
                out("onnx10"),
            ],
            "give a float input with --inputs",
        ),
        // explain: the model file
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("missing.json"),
                "--out".into(),
                out("a"),
            ],
            "missing.json",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("empty.json"),
                "--out".into(),
                out("b"),
            ],
            "empty.json",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("garbage.json"),
                "--out".into(),
                out("c"),
            ],
            "garbage.json",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("array.json"),
                "--out".into(),
                out("d"),
            ],
            "array.json",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                d.display().to_string(),
                "--out".into(),
                out("e"),
            ],
            "",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("lgbm_v1.txt"),
                "--inputs".into(),
                p("wide.csv"),
                "--out".into(),
                out("f"),
            ],
            "v1",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                p("xgb_rank.json"),
                "--inputs".into(),
                p("wide.csv"),
                "--out".into(),
                out("g"),
            ],
            "rank:pairwise",
        ),
        // explain: the inputs
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("empty.csv"),
                "--out".into(),
                out("h"),
            ],
            "no rows",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("header_only.csv"),
                "--out".into(),
                out("i"),
            ],
            "no rows",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("nan.csv"),
                "--out".into(),
                out("j"),
            ],
            "missing or infinite",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("inf.csv"),
                "--out".into(),
                out("k"),
            ],
            "missing or infinite",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("wide.csv"),
                "--out".into(),
                out("l"),
            ],
            "9 values",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("words.csv"),
                "--out".into(),
                out("m"),
            ],
            "not a number",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("ragged.csv"),
                "--out".into(),
                out("n"),
            ],
            "line 2",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("bad.npy"),
                "--out".into(),
                out("o"),
            ],
            "bad.npy",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--inputs".into(),
                p("notes.txt"),
                "--out".into(),
                out("p"),
            ],
            "unknown input format",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                xgb.clone(),
                "--inputs".into(),
                p("wide.csv"),
                "--out".into(),
                out("q"),
            ],
            "takes 8",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                xgb.clone(),
                "--inputs".into(),
                p("bad.png"),
                "--out".into(),
                out("r"),
            ],
            "csv or npy",
        ),
        // explain: settings
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--methods".into(),
                "no_such".into(),
                "--out".into(),
                out("s"),
            ],
            "unknown method",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--targets".into(),
                "99".into(),
                "--out".into(),
                out("t"),
            ],
            "99",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--targets".into(),
                "a,b".into(),
                "--out".into(),
                out("u"),
            ],
            "--targets",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--background".into(),
                p("wide.csv"),
                "--out".into(),
                out("v"),
            ],
            "9 values",
        ),
        (
            vec![
                "explain".into(),
                "--model".into(),
                mlp.clone(),
                "--out".into(),
                "/".into(),
            ],
            "--out",
        ),
        // fixture check / conformance / bench
        (
            vec!["fixture".into(), "check".into(), p("missing.json")],
            "missing.json",
        ),
        (
            vec!["fixture".into(), "check".into(), p("garbage.json")],
            "garbage.json",
        ),
        (
            vec!["fixture".into(), "check".into(), p("tree_shap.json")],
            "tabular_data.json",
        ),
        (
            vec!["conformance".into(), "--fixtures".into(), p("nowhere")],
            "nowhere",
        ),
        (
            vec![
                "bench".into(),
                "--fixture".into(),
                p("garbage.json"),
                "--method".into(),
                "saliency".into(),
            ],
            "garbage.json",
        ),
        (
            vec![
                "bench".into(),
                "--fixture".into(),
                mlp.clone(),
                "--method".into(),
                "nope".into(),
            ],
            "unknown method",
        ),
        (
            vec![
                "bench".into(),
                "--fixture".into(),
                mlp.clone(),
                "--method".into(),
                "ig".into(),
                "--steps".into(),
                "0".into(),
            ],
            "steps",
        ),
        (
            vec![
                "bench".into(),
                "--fixture".into(),
                mlp.clone(),
                "--method".into(),
                "ig".into(),
                "--steps".into(),
                "4294967296".into(),
            ],
            "steps",
        ),
        (
            vec![
                "bench".into(),
                "--fixture".into(),
                mlp.clone(),
                "--method".into(),
                "ig".into(),
                "--steps".into(),
                "100000".into(),
                "--max-minutes".into(),
                "0.0000001".into(),
            ],
            "forward passes",
        ),
        (
            vec![
                "bench".into(),
                "--fixture".into(),
                mlp.clone(),
                "--method".into(),
                "ig".into(),
                "--max-minutes".into(),
                "nan".into(),
            ],
            "positive number of minutes",
        ),
        // glassbox learners
        (
            vec![
                "glassbox".into(),
                "rule-list".into(),
                "--data".into(),
                p("labels.csv"),
                "--label".into(),
                "default".into(),
            ],
            "labels are 0 or 1",
        ),
        (
            vec![
                "glassbox".into(),
                "risk-score".into(),
                "--data".into(),
                p("labels.csv"),
                "--label".into(),
                "nope".into(),
            ],
            "no label column",
        ),
        (
            vec![
                "glassbox".into(),
                "gam".into(),
                "--data".into(),
                p("constant.csv"),
                "--label".into(),
                "default".into(),
                "--out".into(),
                out("w"),
            ],
            "one class",
        ),
        (
            vec![
                "glassbox".into(),
                "tree".into(),
                "--data".into(),
                p("empty.csv"),
                "--label".into(),
                "y".into(),
            ],
            "empty.csv",
        ),
        (
            vec![
                "glassbox".into(),
                "linear".into(),
                "--data".into(),
                p("labels.csv"),
                "--label".into(),
                "default".into(),
                "--lambda".into(),
                "-1".into(),
            ],
            "",
        ),
        (
            vec![
                "glassbox".into(),
                "bench".into(),
                "--data".into(),
                p("nowhere"),
            ],
            "tabular_data.json",
        ),
        // the other harnesses
        (
            vec!["influence".into(), "bench".into(), "nope".into()],
            "unknown benchmark",
        ),
        (
            vec![
                "influence".into(),
                "partitioned".into(),
                "--shards".into(),
                "0".into(),
                "--dir".into(),
                out("x"),
            ],
            "shards",
        ),
        (
            vec![
                "influence".into(),
                "map".into(),
                "factors".into(),
                "--shard".into(),
                "0/1".into(),
                "--dir".into(),
                p("nowhere"),
            ],
            "manifest.json",
        ),
        (
            vec!["reduce".into(), "--dir".into(), p("nowhere")],
            "manifest.json",
        ),
        (
            vec![
                "proto".into(),
                "bench".into(),
                "nope".into(),
                "--out".into(),
                out("y"),
            ],
            "unknown benchmark",
        ),
        (
            vec![
                "sanity".into(),
                "metrics-bench".into(),
                "--fixture".into(),
                p("garbage.json"),
            ],
            "garbage.json",
        ),
    ];
    let mut failures = Vec::new();
    for (args, needle) in &cases {
        let t0 = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_xai"))
            .args(args)
            .env("XAI_QUIET", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
        let ok = o.status.code() == Some(2)
            && err.lines().count() == 1
            && err.contains(needle)
            && !err.contains("internal error")
            && t0.elapsed() < Duration::from_secs(60);
        if !ok {
            failures.push(format!(
                "xai {}\n  exit {:?}, {:.1} s, stderr: {err}",
                args.join(" "),
                o.status.code(),
                t0.elapsed().as_secs_f64()
            ));
        }
    }
    // No failed run left an output folder behind.
    let left: Vec<String> = std::fs::read_dir(d.join("out"))
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&d);
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(left.is_empty(), "output left behind: {left:?}");
    assert!(Path::new(env!("CARGO_BIN_EXE_xai")).exists());
}
