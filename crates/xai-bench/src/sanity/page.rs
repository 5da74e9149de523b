//! `OUT/index.html` of `xai sanity bench`: one section per metric family — randomisation
//! (cascading, independent, data), faithfulness, complexity, axiomatic, robustness, agreement —
//! read from the same JSON summary that `sanity.json` holds, with the cascade chart and map
//! figure.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;
use xai::output::esc;
use xai_core::{Result, XaiError};

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => "–".into(),
    }
}

/// A table of the per-layer similarity trace of one randomisation mode.
fn trace_table(h: &mut String, trace: &Value) {
    let layers: Vec<&str> = trace["layers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    h.push_str("<table><tr><th class=\"l\">method</th>");
    for l in &layers {
        let _ = write!(h, "<th>{}</th>", esc(l));
    }
    h.push_str("</tr>\n");
    if let Some(methods) = trace["similarity"].as_object() {
        for (method, steps) in methods {
            let _ = write!(h, "<tr><td class=\"l\">{}</td>", esc(method));
            for s in steps.as_array().into_iter().flatten() {
                let _ = write!(
                    h,
                    "<td>{} <span class=\"note\">/ {}</span></td>",
                    num(&s["spearman"]),
                    num(&s["ssim"])
                );
            }
            h.push_str("</tr>\n");
        }
    }
    h.push_str("</table>\n");
}

/// A table with one row per entry of `rows` (method → object) and the given `(key, header)`
/// columns.
fn metric_table(h: &mut String, rows: &Value, columns: &[(&str, &str)]) {
    h.push_str("<table><tr><th class=\"l\">method</th>");
    for (_, header) in columns {
        let _ = write!(h, "<th>{header}</th>");
    }
    h.push_str("</tr>\n");
    if let Some(rows) = rows.as_object() {
        for (method, v) in rows {
            let _ = write!(h, "<tr><td class=\"l\">{}</td>", esc(method));
            for (key, _) in columns {
                let _ = write!(h, "<td>{}</td>", num(&v[*key]));
            }
            h.push_str("</tr>\n");
        }
    }
    h.push_str("</table>\n");
}

/// Write `index.html` into `dir` from the benchmark's JSON summary.
pub fn write(summary: &Value, dir: &Path) -> Result<()> {
    let s = summary;
    let mut h = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xai sanity bench</title>\n<style>\
         body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222 }\
         table { border-collapse: collapse; margin: 1em 0 } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right }\
         .l { text-align: left } .note { color: #777 } img { max-width: 100% }\
         </style></head><body>\n",
    );
    let _ = writeln!(
        h,
        "<h1>Sanity checks and evaluation metrics on a digits CNN</h1>\n<p>A CNN trained on the bundled 8×8 digits (train accuracy {}, test accuracy {}), {} test digits explained with their true class by the gradient, integrated gradients and guided backprop. Seed {}; {:.1} s. Reproduce with <code>xai sanity bench --seed {}</code>; every figure is in <a href=\"sanity.json\">sanity.json</a>.</p>",
        num(&s["train_accuracy"]),
        num(&s["test_accuracy"]),
        s["explained"],
        s["settings"]["seed"],
        s["seconds"].as_f64().unwrap_or(f64::NAN),
        s["settings"]["seed"],
    );

    h.push_str("<h2>Randomisation (Adebayo et al. 2018)</h2>\n<p>An explanation that survives randomising the model, or training it on permuted labels, does not explain what the model learned. Each cell: Spearman rank correlation of the signed maps with the trained model's maps, then SSIM (1 = unchanged). The gradient and integrated gradients should fall towards 0; guided backprop is known to stay high (it largely reconstructs the image).</p>\n<h3>Cascading: layers randomised from the top down, cumulatively</h3>\n");
    trace_table(&mut h, &s["cascading"]);
    h.push_str("<p><img src=\"sanity_cascading.svg\" alt=\"cascading randomisation chart\"></p>\n<p><img src=\"sanity_maps.png\" alt=\"maps along the cascade\"><br><span class=\"note\">Rows: digit × method; columns: the input, the trained model's map, then the map after each cascade step (|φ| scaled to its own maximum).</span></p>\n<h3>Independent: one layer randomised at a time</h3>\n");
    trace_table(&mut h, &s["independent"]);
    let data = &s["data_randomization"];
    let _ = writeln!(
        h,
        "<h3>Data randomisation: the same network trained on permuted labels</h3>\n<p>It fits {} of the permuted training labels. Similarity of its maps to the trained model's (signed and absolute Spearman, SSIM, HOG):</p>",
        num(&data["permuted_label_train_accuracy"])
    );
    metric_table(
        &mut h,
        &data["similarity"],
        &[
            ("spearman", "Spearman"),
            ("spearman_abs", "Spearman |φ|"),
            ("ssim", "SSIM"),
            ("hog", "HOG"),
        ],
    );

    let _ = writeln!(
        h,
        "<h2>Faithfulness</h2>\n<p>Deletion: pixels set to the reference in the attribution's order, area under the class probability (lower is better); insertion: the reverse (higher is better); faithfulness correlation: Pearson between the attribution mass of random pixel sets and the probability drop when they are removed (higher is better). The <i>random</i> row is a seeded uniform attribution: the floor. Settings: {}; {}.</p>",
        esc(s["settings"]["deletion"].as_str().unwrap_or("")),
        esc(s["settings"]["faithfulness_correlation"]
            .as_str()
            .unwrap_or(""))
    );
    metric_table(
        &mut h,
        &s["metrics"],
        &[
            ("deletion_auc", "deletion AUC ↓"),
            ("insertion_auc", "insertion AUC ↑"),
            ("faithfulness_correlation", "faithfulness correlation ↑"),
        ],
    );
    h.push_str("<p>ROAD (Rong et al. 2022): the most relevant pixels replaced by a noisy linear imputation from their neighbours, so that removal leaks no shape; mean accuracy over 1–99 % removed (lower is better). IROF (Rieger &amp; Hansen 2020): 2×2 patches removed by mean relevance, area above the probability curve (higher is better). Sensitivity-n (Ancona et al. 2018): Pearson across digits of the attribution mass of n pixels and the output drop when they are removed, mean over n (higher is better). Monotonicity (Arya et al. 2019): share of digits whose probability never falls as pixels are restored, least relevant first; monotonicity correlation (Nguyen &amp; Martínez 2020): Spearman of |φ| and the output's variance when the pixel is replaced at random (higher is better).</p>\n");
    metric_table(
        &mut h,
        &s["metrics"],
        &[
            ("road_morf_accuracy", "ROAD accuracy ↓"),
            ("irof", "IROF ↑"),
            ("sensitivity_n", "sensitivity-n ↑"),
            ("monotonicity_arya", "monotonicity (Arya) ↑"),
            ("monotonicity_correlation", "monotonicity correlation ↑"),
        ],
    );
    h.push_str("<h2>Complexity</h2>\n<p>Sparseness: the Gini index of |φ| (1 = all mass on one pixel); complexity: the entropy of the normalised |φ| (lower = more concentrated); effective complexity: pixels with |φ| above 5 % of the digit's largest (of 64).</p>\n");
    metric_table(
        &mut h,
        &s["metrics"],
        &[
            ("sparseness", "sparseness ↑"),
            ("complexity", "complexity ↓"),
            ("effective_complexity", "effective complexity ↓"),
        ],
    );
    h.push_str("<h2>Axiomatic</h2>\n<p>Completeness: |Σφ − (f(x) − f(0))| on the explained logit (0 for a complete method; integrated gradients up to its quadrature error). Non-sensitivity (Nguyen &amp; Martínez 2020): pixels where the attribution and the effect of setting the pixel to 0 disagree on being zero, per digit (black pixels have no effect, so a method that gives them relevance is penalised).</p>\n");
    metric_table(
        &mut h,
        &s["metrics"],
        &[
            ("completeness_error", "completeness error ↓"),
            ("non_sensitivity", "non-sensitivity violations ↓"),
        ],
    );
    let _ = writeln!(
        h,
        "<h2>Robustness</h2>\n<p>Max-sensitivity of the gradient ({}): the mean over digits of the largest relative change ‖φ(x + u) − φ(x)‖ / ‖φ(x)‖ over uniform perturbations u ~ U(−r, r) (Yeh et al. 2019): <b>{}</b>.</p>",
        esc(s["settings"]["max_sensitivity"].as_str().unwrap_or("")),
        num(&s["max_sensitivity_gradient"])
    );
    h.push_str("<p>Continuity (Montavon et al. 2018): the largest change of |φ| when the digit slides sideways, relative to how far the image moves (L1 of the maps over L2 of the images; lower is smoother). Relative input and output stability (Agarwal et al. 2022): the largest ratio of the explanation's relative change to the input's (or logits') relative change under small noise (lower is more stable). Random logit (Sixt et al. 2020): SSIM between the map for the true class and for a random other class (lower: the explanation depends on the class asked for).</p>\n");
    metric_table(
        &mut h,
        &s["robustness"],
        &[
            ("continuity", "continuity ↓"),
            ("relative_input_stability", "RIS ↓"),
            ("relative_output_stability", "ROS ↓"),
            ("random_logit_ssim", "random logit SSIM ↓"),
        ],
    );

    let dis = &s["disagreement_k8"];
    let names: Vec<&str> = dis["names"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(
        h,
        "<h2>Agreement</h2>\n<p>How much the explainers agree on each digit's top {} pixels (Krishna et al. 2022): feature agreement (the share of top-k pixels both pick) / Spearman correlation of |φ| over all pixels.</p>\n<table><tr><th></th>{}</tr>",
        dis["k"],
        names
            .iter()
            .map(|n| format!("<th>{}</th>", esc(n)))
            .collect::<String>()
    );
    for (i, row) in dis["matrix"].as_array().into_iter().flatten().enumerate() {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td>",
            esc(names.get(i).copied().unwrap_or("?"))
        );
        for cell in row.as_array().into_iter().flatten() {
            let _ = write!(
                h,
                "<td>{} <span class=\"note\">/ {}</span></td>",
                num(&cell["feature"]),
                num(&cell["rank_correlation"])
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<h2>Settings</h2>\n<ul>\n");
    if let Some(settings) = s["settings"].as_object() {
        for (k, v) in settings {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            let _ = writeln!(h, "<li><b>{}</b>: {}</li>", esc(k), esc(&text));
        }
    }
    h.push_str("</ul>\n</body></html>\n");
    let path = dir.join("index.html");
    std::fs::write(&path, h).map_err(XaiError::io(&path))
}
