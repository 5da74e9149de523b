//! Throughput of exact TreeSHAP on a saved model, for `benches/peers/tree_shap.py` (which times
//! shap's TreeExplainer and the library's own `pred_contribs` on the same model and rows).
//!
//! `cargo run -p xai-glassbox --example tree_shap_speed -- MODEL DATA.json [ROWS] [INTER_ROWS]`
//! prints one JSON line: rows per second for path-dependent TreeSHAP and interventional
//! TreeSHAP (against the first 100 `X_train` rows) on `X_train` then `X_test` rows repeated up
//! to ROWS (default 10,000), and interaction values on the first INTER_ROWS of them (default
//! 200), each repeated for at least a second.

use std::time::Instant;

use xai_glassbox::trees::TreeEnsemble;
use xai_glassbox::treeshap::{tree_shap, tree_shap_interactions, tree_shap_interventional};

fn rows(data: &serde_json::Value, key: &str, n: usize) -> Vec<f64> {
    data[key]
        .as_array()
        .expect("rows")
        .iter()
        .take(n)
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// Rows per second of `f` over `n` rows, repeated for at least one second.
fn rate(n: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let (t0, mut reps) = (Instant::now(), 0);
    while reps == 0 || t0.elapsed().as_secs_f64() < 1.0 {
        f();
        reps += 1;
    }
    (n * reps) as f64 / t0.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (model, data, n, n_inter) = match args.as_slice() {
        [_, m, d] => (m, d, 10_000, 200),
        [_, m, d, r] => (m, d, r.parse()?, 200),
        [_, m, d, r, i] => (m, d, r.parse()?, i.parse()?),
        _ => return Err("usage: tree_shap_speed MODEL DATA.json [ROWS] [INTER_ROWS]".into()),
    };
    let model = TreeEnsemble::load(std::path::Path::new(model))?;
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(data)?)?;
    let f = model.features();
    let mut pool = rows(&data, "X_train", usize::MAX);
    pool.extend(rows(&data, "X_test", usize::MAX));
    let x: Vec<f64> = pool.iter().copied().cycle().take(n * f).collect();
    let x_inter = &x[..n_inter.min(n) * f];
    let bg = rows(&data, "X_train", 100);
    let path_dependent = rate(n, || drop(tree_shap(&model, &x).expect("tree_shap")));
    let interactions = rate(n_inter.min(n), || {
        drop(tree_shap_interactions(&model, x_inter).expect("interactions"))
    });
    let interventional = rate(n, || {
        drop(tree_shap_interventional(&model, &x, &bg).expect("interventional"))
    });
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    println!(
        "{}",
        serde_json::json!({
            "rows": n, "threads": threads,
            "rows_per_s": {"path_dependent": path_dependent, "interactions": interactions,
                           "interventional": interventional},
        })
    );
    Ok(())
}
