//! `xai explain` on a user's model: inputs from CSV, NPY and PNG give the same attributions as the
//! fixture's references; bad input is a typed error, never a panic.

use std::path::PathBuf;

use xai::explain::{ExplainOptions, read_npy, run};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../assets/fixtures")
    .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xai-explain-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn options(
    model: PathBuf,
    inputs: Vec<PathBuf>,
    targets: Option<Vec<usize>>,
    methods: &[&str],
    out: PathBuf,
) -> ExplainOptions {
    ExplainOptions {
        background: None,
        force: false,
        model,
        weights: None,
        inputs,
        named_inputs: Vec::new(),
        targets,
        methods: methods.iter().map(|m| m.to_string()).collect(),
        out,
        device: "flex".into(),
        seed: 0,
        max_seconds: None,
        shard: None,
    }
}

fn npy_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((header.len() as u16).to_le_bytes());
    b.extend(header.as_bytes());
    for v in values {
        b.extend(v.to_le_bytes());
    }
    b
}

#[test]
fn csv_and_npy_inputs_reproduce_the_fixture_saliency() {
    let fx = xai_core::fixture::Fixture::load(fixture("tabular_mlp.json")).unwrap();
    let want = &fx.expected["saliency"].values.data;
    let targets = fx.targets.clone();
    let dir = scratch("csv");
    let csv: String = fx
        .inputs
        .data
        .chunks(6)
        .map(|r| {
            r.iter()
                .map(|v| format!("{v:e}"))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("x.csv"), format!("f0,f1,f2,f3,f4,f5\n{csv}")).unwrap();
    std::fs::write(dir.join("x.npy"), npy_f64(&[4, 6], &fx.inputs.data)).unwrap();
    assert_eq!(
        read_npy(&dir.join("x.npy")).unwrap(),
        (vec![4, 6], fx.inputs.data.clone())
    );
    for file in ["x.csv", "x.npy"] {
        let r = run(&options(
            fixture("tabular_mlp.json"),
            vec![dir.join(file)],
            targets.clone(),
            &["saliency", "kernel_shap"],
            dir.join("out"),
        ))
        .unwrap();
        let got: Vec<f64> = r.results[0].values.iter().flatten().copied().collect();
        let err = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "{file}: {err}");
        // KernelSHAP over 6 features is exact and efficient.
        assert!(
            r.results[1]
                .completeness_delta
                .as_ref()
                .unwrap()
                .iter()
                .all(|d| d.abs() < 1e-9)
        );
        assert!(dir.join("out/index.html").is_file() && dir.join("out/results.json").is_file());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn onnx_model_reproduces_the_captum_references_and_writes_the_full_report() {
    let fx = xai::onnx::fixture::OnnxFixture::load(fixture("onnx/onnx_resnet.json")).unwrap();
    let input = &fx.inputs[0];
    let dir = scratch("onnx");
    std::fs::write(
        dir.join("x.npy"),
        npy_f64(&input.values.shape, &input.values.data),
    )
    .unwrap();
    // Every default method runs on the imported CNN (Grad-CAM at its last convolution).
    let r = run(&options(
        fixture("onnx/onnx_resnet.onnx"),
        vec![dir.join("x.npy")],
        Some(fx.targets.clone()),
        &[],
        dir.join("out"),
    ))
    .unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.input_shape, [3, 16, 16]);
    let methods: Vec<&str> = r.results.iter().map(|m| m.method.as_str()).collect();
    for m in [
        "saliency",
        "integrated_gradients",
        "lrp",
        "deeplift",
        "grad_cam",
        "kernel_shap",
    ] {
        assert!(methods.contains(&m), "{m} missing from {methods:?}");
    }
    let saliency = &r.results[methods.iter().position(|m| *m == "saliency").unwrap()];
    let got: Vec<f64> = saliency.values.iter().flatten().copied().collect();
    let want = &fx.expected["saliency"].values.data;
    let err = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-9, "saliency differs from Captum by {err}");
    assert!(dir.join("out/index.html").is_file() && dir.join("out/results.json").is_file());
    std::fs::remove_dir_all(&dir).ok();
}

/// An NPY of little-endian int64 values.
fn npy_i64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let mut b = npy_f64(shape, &[]);
    let at = b.windows(4).position(|w| w == b"<f8'").unwrap();
    b[at..at + 3].copy_from_slice(b"<i8");
    for v in values {
        b.extend((*v as i64).to_le_bytes());
    }
    b
}

#[test]
fn onnx_text_model_takes_named_inputs_and_reports_per_token() {
    let fx = xai::onnx::fixture::OnnxFixture::load(fixture("onnx/onnx_text.json")).unwrap();
    let dir = scratch("onnx-text");
    let mut named = Vec::new();
    for input in &fx.inputs {
        let p = dir.join(format!("{}.npy", input.name));
        std::fs::write(&p, npy_i64(&input.values.shape, &input.values.data)).unwrap();
        named.push((input.name.clone(), p));
    }
    let mut opts = options(
        fixture("onnx/onnx_text.onnx"),
        Vec::new(),
        Some(fx.targets.clone()),
        &[],
        dir.join("out"),
    );
    opts.named_inputs = named.clone();
    let r = run(&opts).unwrap();
    assert_eq!(r.token_input.as_deref(), Some("input_ids"));
    let names: Vec<&str> = r.results.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(
        names,
        [
            "embedding_gradient_x_input",
            "layer_integrated_gradients",
            "attnlrp",
            "cp_lrp"
        ]
    );
    // AttnLRP equals lxt's on the same inputs.
    let got: Vec<f64> = r.results[2].values.iter().flatten().copied().collect();
    let want = &fx.expected["attnlrp"].values.data;
    let err = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-9, "AttnLRP differs from lxt by {err}");
    // Gradient × embedding equals Captum's on the same inputs.
    let got: Vec<f64> = r.results[0].values.iter().flatten().copied().collect();
    let want = &fx.expected["embedding_gradient_x_input"].values.data;
    let err = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-9, "differs from Captum by {err}");
    // Layer IG is complete: per input, the tokens sum to f(ids) − f(padding ids).
    let delta = r.results[1].completeness_delta.as_ref().unwrap();
    assert!(delta.iter().all(|d| d.abs() < 1e-3), "{delta:?}");
    let index = std::fs::read_to_string(dir.join("out/index.html")).unwrap();
    assert!(index.contains("layer_integrated_gradients"));

    // Bad input: an input missing, a name the model lacks, an id outside the vocabulary.
    let mut missing = opts.clone();
    missing.named_inputs.truncate(1);
    missing.out = dir.join("out-missing");
    let e = run(&missing).unwrap_err().to_string();
    assert!(e.contains("missing --input attention_mask=FILE"), "{e}");
    let mut unknown = opts.clone();
    unknown
        .named_inputs
        .push(("token_type_ids".into(), named[0].1.clone()));
    unknown.out = dir.join("out-unknown");
    let e = run(&unknown).unwrap_err().to_string();
    assert!(e.contains("no input `token_type_ids`"), "{e}");
    let mut ids = fx.inputs[0].values.data.clone();
    ids[3] = 4000.0;
    let bad = dir.join("bad_ids.npy");
    std::fs::write(&bad, npy_i64(&fx.inputs[0].values.shape, &ids)).unwrap();
    let mut oov = opts.clone();
    oov.named_inputs[0].1 = bad;
    oov.out = dir.join("out-oov");
    let e = run(&oov).unwrap_err().to_string();
    assert!(e.contains("outside the vocabulary"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn png_inputs_and_image_reports() {
    let fx = xai_core::fixture::Fixture::load(fixture("image_cnn.json")).unwrap();
    let dir = scratch("png");
    // An 8×8 grey PNG quantises the input to 1/255 steps: compare against the fixture's model on
    // the quantised image, through the report's own inputs.
    let img = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([((x * 8 + y) * 3) as u8]));
    img.save(dir.join("a.png")).unwrap();
    let r = run(&options(
        fixture("image_cnn.json"),
        vec![dir.join("a.png")],
        None,
        &["saliency", "grad_cam", "occlusion"],
        dir.join("out"),
    ))
    .unwrap();
    assert_eq!(r.inputs.len(), 1);
    assert_eq!(r.inputs[0][1], (8.0 * 3.0) / 255.0); // row 0, column 1 -> x = 1, y = 0
    assert_eq!(r.results.len(), 3);
    assert!(
        r.results.iter().all(
            |m| m.values[0].len() == fx.features() && m.values[0].iter().all(|v| v.is_finite())
        )
    );
    assert!(dir.join("out/img/grad_cam_0.png").is_file());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = scratch("bad");
    let model = fixture("tabular_mlp.json");
    let out = dir.join("out");
    std::fs::write(dir.join("short.csv"), "1,2,3\n").unwrap();
    std::fs::write(dir.join("nan.csv"), "1,2,3,4,5,NaN\n").unwrap();
    std::fs::write(dir.join("x.txt"), "1").unwrap();
    std::fs::write(dir.join("bad.npy"), b"not numpy").unwrap();
    std::fs::write(
        dir.join("corrupt.json"),
        "{\"input_shape\": [6], \"model\": [{\"type\": \"linear\", \"weight\": 3}]}",
    )
    .unwrap();
    let cases = [
        options(
            dir.join("missing.json"),
            vec![],
            None,
            &["saliency"],
            out.clone(),
        ),
        options(
            dir.join("corrupt.json"),
            vec![dir.join("short.csv")],
            None,
            &["saliency"],
            out.clone(),
        ),
        options(
            model.clone(),
            vec![dir.join("short.csv")],
            None,
            &["saliency"],
            out.clone(),
        ),
        options(
            model.clone(),
            vec![dir.join("nan.csv")],
            None,
            &["saliency"],
            out.clone(),
        ),
        options(
            model.clone(),
            vec![dir.join("x.txt")],
            None,
            &["saliency"],
            out.clone(),
        ),
        options(
            model.clone(),
            vec![dir.join("bad.npy")],
            None,
            &["saliency"],
            out.clone(),
        ),
        options(
            model.clone(),
            vec![],
            Some(vec![7]),
            &["saliency"],
            out.clone(),
        ),
        options(
            model.clone(),
            vec![],
            None,
            &["no_such_method"],
            out.clone(),
        ),
    ];
    for (i, c) in cases.iter().enumerate() {
        assert!(run(c).is_err(), "case {i} should fail");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `xai fixture export` splits a fixture into burnpack weights and an architecture; explaining
/// the architecture with the weights gives the fixture's reference values. Wrong or corrupt
/// weights are one clear error.
#[test]
fn burnpack_weights_plus_an_architecture_reproduce_the_fixture() {
    use xai::explain::export;
    let dir = scratch("burnpack");
    for (name, method) in [
        ("tabular_mlp.json", "saliency"),
        ("image_cnn.json", "integrated_gradients"),
    ] {
        let fx = xai_core::fixture::Fixture::load(fixture(name)).unwrap();
        let (weights, arch) = (dir.join("w.bpk"), dir.join("arch.json"));
        export(&fixture(name), &weights, &arch).unwrap();
        let text = std::fs::read_to_string(&arch).unwrap();
        assert!(text.contains("weight_shape") && !text.contains("\"weight\""));
        let mut opts = options(
            arch.clone(),
            vec![],
            fx.targets.clone(),
            &[method],
            dir.join("out"),
        );
        opts.weights = Some(weights.clone());
        let got = run(&opts).unwrap();
        // The same report from the fixture itself (its weights inline).
        let full = run(&options(
            fixture(name),
            vec![],
            fx.targets.clone(),
            &[method],
            dir.join("out"),
        ))
        .unwrap();
        let a: Vec<f64> = got.results[0].values.iter().flatten().copied().collect();
        let b: Vec<f64> = full.results[0].values.iter().flatten().copied().collect();
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        // The weights went through f32.
        assert!(
            scale > 0.0 && err < 1e-5 * scale,
            "{name}: {err} (scale {scale})"
        );
        if name == "tabular_mlp.json" {
            // Saliency has no baseline: the fixture's Captum values too.
            let want = &fx.expected["saliency"].values.data;
            let e = a
                .iter()
                .zip(want)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max);
            assert!(e < 1e-5 * scale, "{e}");
        }
        // Without the weights the architecture alone would be a zero model: refused.
        let e = run(&options(
            arch.clone(),
            vec![],
            fx.targets.clone(),
            &[method],
            dir.join("out"),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("--weights"), "{e}");
    }
    // The tabular weights do not fit the image architecture; garbage is not a burnpack file.
    export(
        &fixture("tabular_mlp.json"),
        &dir.join("mlp.bpk"),
        &dir.join("mlp.json"),
    )
    .unwrap();
    std::fs::write(dir.join("garbage.bpk"), b"definitely not burnpack").unwrap();
    for w in ["mlp.bpk", "garbage.bpk", "missing.bpk"] {
        let mut opts = options(
            dir.join("arch.json"),
            vec![],
            None,
            &["saliency"],
            dir.join("out"),
        );
        opts.weights = Some(dir.join(w));
        let e = run(&opts).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{w}: {e}");
    }
    // From the command line: a one-line error and a non-zero exit, no panic.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
        .args(["explain", "--model"])
        .arg(dir.join("arch.json"))
        .arg("--weights")
        .arg(dir.join("garbage.bpk"))
        .arg("--out")
        .arg(dir.join("cli"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && err.trim().lines().count() == 1,
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Mistakes that used to give a silent wrong answer or a half-written folder: an architecture
/// without weights, a method that cannot apply, someone else's folder as `--out`; a rerun
/// leaves no stale file, and nothing appears at `--out` when a run fails.
#[test]
fn explain_refuses_silent_wrong_answers_and_owns_its_output() {
    use xai::explain::export;
    let dir = scratch("owned");
    let (weights, arch) = (dir.join("w.bpk"), dir.join("arch.json"));
    export(&fixture("tabular_mlp.json"), &weights, &arch).unwrap();
    // An architecture-only file without --weights would explain an all-zero model.
    let out = dir.join("out");
    let e = run(&options(
        arch.clone(),
        vec![],
        None,
        &["saliency"],
        out.clone(),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("--weights"), "{e}");
    assert!(!out.exists(), "a failed run writes nothing at --out");
    // Grad-CAM on an MLP: skipped with its reason; nothing left to run is an error.
    let model = fixture("tabular_mlp.json");
    let e = run(&options(
        model.clone(),
        vec![],
        None,
        &["grad_cam"],
        out.clone(),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("grad_cam") && e.contains("conv layer"), "{e}");
    assert!(!out.exists());
    let r = run(&options(
        model.clone(),
        vec![],
        None,
        &["grad_cam", "saliency"],
        out.clone(),
    ))
    .unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].method, "grad_cam");
    let json = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(json.contains("\"skipped\"") && json.contains("conv layer"));
    // A rerun into the same folder replaces the report: no file of the first run survives.
    std::fs::write(out.join("img").join("stale.png"), b"old").ok();
    std::fs::create_dir_all(out.join("img")).unwrap();
    std::fs::write(out.join("img").join("stale.png"), b"old").unwrap();
    run(&options(
        model.clone(),
        vec![],
        None,
        &["saliency"],
        out.clone(),
    ))
    .unwrap();
    assert!(!out.join("img").join("stale.png").exists());
    assert!(out.join("index.html").is_file());
    // A folder of someone else's files is never replaced.
    let theirs = dir.join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("thesis.tex"), "precious").unwrap();
    let e = run(&options(model, vec![], None, &["saliency"], theirs.clone()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not written by xai"), "{e}");
    assert_eq!(
        std::fs::read_to_string(theirs.join("thesis.tex")).unwrap(),
        "precious"
    );
    // No staging folder is left behind by any of the runs above.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("xai-staging"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// From the command line, a model that does not fit its input (a conv expecting two channels
/// on three) is exit status 2 and one line naming the layer, not a panic inside burn.
#[test]
fn a_model_that_does_not_fit_is_one_line_and_exit_2() {
    let dir = scratch("nofit");
    let model = serde_json::json!({
        "input_shape": [3, 6, 6],
        "model": [
            {"type": "conv2d", "weight_shape": [4, 2, 3, 3], "stride": [1, 1], "padding": [0, 0]},
            {"type": "flatten"},
            {"type": "linear", "weight_shape": [2, 64]}
        ],
        "inputs": vec![vec![vec![vec![0.5; 6]; 6]; 3]; 1]
    });
    std::fs::write(dir.join("m.json"), model.to_string()).unwrap();
    std::fs::write(dir.join("w.bpk"), b"unused").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
        .args(["explain", "--methods", "saliency", "--model"])
        .arg(dir.join("m.json"))
        .arg("--weights")
        .arg(dir.join("w.bpk"))
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("layer 0") && err.contains("channels"), "{err}");
    assert!(!dir.join("out").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// On images the perturbation methods move patches (at most 8 × 8 of them): a 16 × 16 image
/// gets 2 × 2 patches, so every pixel of a patch has the patch's value.
#[test]
fn perturbation_methods_on_images_move_patches() {
    let dir = scratch("patches");
    let w: Vec<f64> = (0..2 * 256)
        .map(|k| ((k * 37 % 17) as f64 - 8.0) / 40.0)
        .collect();
    let model = serde_json::json!({
        "input_shape": [1, 16, 16],
        "model": [
            {"type": "flatten"},
            {"type": "linear", "weight": w.chunks(256).collect::<Vec<_>>(), "bias": [0.0, 0.1]}
        ],
        "inputs": [vec![(0..16).map(|i| vec![(i as f64) / 16.0; 16]).collect::<Vec<_>>()]]
    });
    std::fs::write(dir.join("m.json"), model.to_string()).unwrap();
    let r = run(&options(
        dir.join("m.json"),
        vec![],
        Some(vec![1]),
        &["kernel_shap", "feature_ablation"],
        dir.join("out"),
    ))
    .unwrap();
    for m in &r.results {
        let v = &m.values[0];
        for y in 0..16 {
            for x in 0..16 {
                let corner = v[(y / 2 * 2) * 16 + x / 2 * 2];
                assert!(
                    (v[y * 16 + x] - corner).abs() < 1e-9,
                    "{} at ({y}, {x})",
                    m.method
                );
            }
        }
        assert!(v.iter().any(|a| a.abs() > 1e-6), "{}", m.method);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// CSV: `;` and tab delimiters, quoted numbers, a header by name; a typo in the first data row
/// is an error naming it, not a header that silently drops the row.
#[test]
fn csv_delimiters_headers_and_typos() {
    use xai::explain::read_csv;
    let dir = scratch("csv");
    let cases = [
        ("comma.csv", "a,b,c\n1,2,3\n4,5,6\n"),
        ("semicolon.csv", "1;2;3\n4;5;6\n"),
        ("tab.csv", "# exported\n1\t2\t3\n4\t5\t6\n"),
        (
            "quoted.csv",
            "\"x\",\"y\",\"z\"\n\"1\",\"2\",3\n4,\"5\",6\n",
        ),
    ];
    for (name, text) in cases {
        std::fs::write(dir.join(name), text).unwrap();
        assert_eq!(
            read_csv(&dir.join(name), 3).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "{name}"
        );
    }
    std::fs::write(dir.join("typo.csv"), "1,2,x3\n4,5,6\n").unwrap();
    let e = read_csv(&dir.join("typo.csv"), 3).unwrap_err().to_string();
    assert!(e.contains("line 1, column 3") && e.contains("x3"), "{e}");
    std::fs::write(dir.join("header_only.csv"), "a,b,c\n").unwrap();
    assert!(read_csv(&dir.join("header_only.csv"), 3).is_err());
    std::fs::write(dir.join("ragged.csv"), "1,2,3\n4,5\n").unwrap();
    let e = read_csv(&dir.join("ragged.csv"), 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("2 values"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Rows of the glass-box fixture data as CSV (an empty field where `missing` says).
fn tabular_csv(key: &str, n: usize, path: &std::path::Path, missing: Option<(usize, usize)>) {
    let data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("glassbox/tabular_data.json")).unwrap(),
    )
    .unwrap();
    let mut text = String::from("age,income,debt,late,years,cards,owner,noise\n");
    for (r, row) in data[key].as_array().unwrap().iter().take(n).enumerate() {
        let cells: Vec<String> = row
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if missing == Some((r, c)) {
                    String::new()
                } else {
                    format!("{}", v.as_f64().unwrap())
                }
            })
            .collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn tree_ensembles_are_explained_with_tree_shap_from_the_command_line() {
    let dir = scratch("trees");
    let (inputs, background) = (dir.join("x.csv"), dir.join("bg.csv"));
    tabular_csv("X_test", 40, &inputs, None);
    tabular_csv("X_train", 100, &background, None);
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("glassbox/tree_shap.json")).unwrap())
            .unwrap();
    for (model, key) in [("xgb_model.json", "xgb"), ("lgbm_model.txt", "lgbm")] {
        let out = dir.join(format!("report-{key}"));
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
            .args(["explain", "--model"])
            .arg(fixture(&format!("glassbox/{model}")))
            .arg("--inputs")
            .arg(&inputs)
            .arg("--background")
            .arg(&background)
            .args([
                "--methods",
                "tree_shap,tree_shap_interventional,kernel_shap",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap())
                .unwrap();
        assert!(out.join("index.html").exists());
        // SHAP-style plots of the rows: summary, dependence, waterfall, force; the features are
        // named from the CSV header (the XGBoost model has no names).
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert!(html.contains("debt = "), "no CSV names in the report");
        for svg in [
            "tree_shap_summary.svg",
            "tree_shap_dependence.svg",
            "tree_shap_waterfall_0.svg",
            "tree_shap_force_0.svg",
        ] {
            assert!(html.contains(svg), "{svg} not in the report");
            let text = std::fs::read_to_string(out.join("img").join(svg)).unwrap();
            assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
        }
        for (method, fx_key) in [
            ("tree_shap", "path_dependent"),
            ("tree_shap_interventional", "interventional"),
        ] {
            let r = report["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["method"] == method)
                .unwrap();
            let ours: Vec<f64> = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
                .collect();
            let want: Vec<f64> = reference[key][fx_key]["values"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
                .collect();
            let err = ours
                .iter()
                .zip(&want)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-5, "{key} {method}: {err:.2e}");
            let deltas = r["completeness_delta"].as_array().unwrap();
            assert!(deltas.iter().all(|d| d.as_f64().unwrap().abs() < 1e-9));
        }
    }
    // A large batch: the first 100 inputs on the report's page, the rest on linked pages.
    let many = dir.join("many.csv");
    tabular_csv("X_train", 250, &many, None);
    let r = run(&options(
        fixture("glassbox/lgbm_model.txt"),
        vec![many],
        None,
        &["tree_shap"],
        dir.join("report-many"),
    ))
    .unwrap();
    assert_eq!(r.inputs.len(), 250);
    let index = std::fs::read_to_string(dir.join("report-many/index.html")).unwrap();
    assert!(index.contains("rows/inputs_100.html") && !index.contains("input 100:"));
    let page = std::fs::read_to_string(dir.join("report-many/rows/inputs_100.html")).unwrap();
    assert!(page.contains("input 100:") && page.contains("input 249:"));

    // A missing value (empty CSV field) is routed by the trees, not refused.
    let holes = dir.join("holes.csv");
    tabular_csv("X_test", 3, &holes, Some((1, 2)));
    let r = run(&ExplainOptions {
        background: None,
        ..options(
            fixture("glassbox/xgb_model.json"),
            vec![holes],
            None,
            &[],
            dir.join("report-holes"),
        )
    })
    .unwrap();
    assert!(r.inputs[1][2].is_nan());
    // The defaults on a tree ensemble are the methods that apply to it; gradient methods asked
    // for by name are skipped with the reason.
    let names: Vec<&str> = r.results.iter().map(|e| e.method.as_str()).collect();
    assert!(
        names.contains(&"tree_shap") && !names.contains(&"saliency"),
        "{names:?}"
    );
    let r = run(&options(
        fixture("glassbox/lgbm_model.txt"),
        vec![inputs.clone()],
        None,
        &["saliency", "tree_shap"],
        dir.join("report-skip"),
    ))
    .unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert!(r.skipped[0].reason.contains("piecewise constant"));
    // TreeSHAP on a burn model is skipped the same way.
    let r = run(&options(
        fixture("tabular_mlp.json"),
        vec![],
        None,
        &["tree_shap", "saliency"],
        dir.join("report-mlp"),
    ))
    .unwrap();
    assert_eq!(r.skipped[0].method, "tree_shap");
    // A row of the wrong width, and an infinite value, are one-line errors.
    let wide = dir.join("wide.csv");
    std::fs::write(&wide, "1,2,3\n").unwrap();
    let e = run(&options(
        fixture("glassbox/xgb_model.json"),
        vec![wide],
        None,
        &[],
        dir.join("report-wide"),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("the model takes 8"), "{e}");
    let inf = dir.join("inf.csv");
    std::fs::write(&inf, "1,2,3,4,5,6,7,inf\n").unwrap();
    assert!(
        run(&options(
            fixture("glassbox/xgb_model.json"),
            vec![inf],
            None,
            &[],
            dir.join("report-inf"),
        ))
        .is_err()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
