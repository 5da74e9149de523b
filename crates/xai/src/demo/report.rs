//! The demo's report: heat-map overlays (PNG, `image`), charts (SVG, `plotters`), every result
//! (`results.json`) and one self-contained `index.html` that links them. No script, no network.

use std::fmt::Write as _;
use std::path::Path;

use image::{Rgb, RgbImage};
use plotters::prelude::*;

use super::DemoResults;
use super::data::{MARK, SIDE};
use xai_core::{Result, XaiError};

/// Pixels per image pixel in the overlays.
const ZOOM: u32 = 8;

/// The input in grey, the attribution on top: red positive, blue negative, opacity ∝ |φ|/max|φ|.
pub fn overlay(pixels: &[f32], values: Option<&[f64]>) -> RgbImage {
    let side = SIDE as u32;
    let max = values.map_or(0.0, |v| v.iter().fold(0.0f64, |m, x| m.max(x.abs())));
    RgbImage::from_fn(side * ZOOM, side * ZOOM, |x, y| {
        let p = (y / ZOOM * side + x / ZOOM) as usize;
        let grey = f64::from(pixels[p].clamp(0.0, 1.0)) * 255.0;
        let (mut r, mut g, mut b) = (grey, grey, grey);
        if let Some(v) = values
            && max > 0.0
        {
            let a = (v[p].abs() / max).powf(0.8) * 0.85;
            let heat = if v[p] >= 0.0 {
                (230.0, 30.0, 30.0)
            } else {
                (30.0, 80.0, 230.0)
            };
            r = r * (1.0 - a) + heat.0 * a;
            g = g * (1.0 - a) + heat.1 * a;
            b = b * (1.0 - a) + heat.2 * a;
        }
        // Outline the watermark area so a reader can compare.
        let m = MARK as u32 * ZOOM;
        if (x == m && y <= m) || (y == m && x <= m) {
            return Rgb([255, 200, 0]);
        }
        Rgb([r as u8, g as u8, b as u8])
    })
}

fn share_chart(results: &DemoResults, path: &Path) -> Result<()> {
    let n = results.methods.len();
    let root = SVGBackend::new(path, (760, 80 + 34 * n as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| XaiError::writing(path, e))?;
    // Horizontal bars: one segment per method on the y axis, share on the x axis.
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Share of |attribution| inside the 3x3 watermark",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..1f64, (0..n).into_segmented())
        .map_err(|e| XaiError::writing(path, e))?;
    let names: Vec<String> = results.methods.iter().map(|m| m.method.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .x_desc("share of total |attribution|")
        .draw()
        .map_err(|e| XaiError::writing(path, e))?;
    let marked = RGBColor(220, 50, 40);
    let clean = RGBColor(60, 110, 200);
    chart
        .draw_series(results.methods.iter().enumerate().map(|(i, m)| {
            Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (m.watermark_share_marked, SegmentValue::CenterOf(i)),
                ],
                marked.filled(),
            )
        }))
        .map_err(|e| XaiError::writing(path, e))?
        .label("watermarked images")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], marked.filled()));
    chart
        .draw_series(results.methods.iter().enumerate().map(|(i, m)| {
            Rectangle::new(
                [
                    (0.0, SegmentValue::CenterOf(i)),
                    (m.watermark_share_clean, SegmentValue::Exact(i + 1)),
                ],
                clean.filled(),
            )
        }))
        .map_err(|e| XaiError::writing(path, e))?
        .label("clean images")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], clean.filled()));
    let area = results.watermark_area_share;
    chart
        .draw_series(LineSeries::new(
            [(area, SegmentValue::Exact(0)), (area, SegmentValue::Last)],
            BLACK.stroke_width(2),
        ))
        .map_err(|e| XaiError::writing(path, e))?
        .label("watermark's share of the pixels (3.5%)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| XaiError::writing(path, e))?;
    root.present().map_err(|e| XaiError::writing(path, e))
}

fn loss_chart(results: &DemoResults, path: &Path) -> Result<()> {
    let loss = &results.training.epoch_loss;
    let root = SVGBackend::new(path, (420, 260)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| XaiError::writing(path, e))?;
    let top = loss.iter().cloned().fold(0.0f64, f64::max).max(1e-3) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption("training loss per epoch", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(1f64..loss.len().max(2) as f64, 0f64..top)
        .map_err(|e| XaiError::writing(path, e))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .draw()
        .map_err(|e| XaiError::writing(path, e))?;
    chart
        .draw_series(LineSeries::new(
            loss.iter().enumerate().map(|(i, &l)| ((i + 1) as f64, l)),
            RGBColor(220, 50, 40).stroke_width(2),
        ))
        .map_err(|e| XaiError::writing(path, e))?;
    root.present().map_err(|e| XaiError::writing(path, e))
}

/// At most `max` characters, with an ellipsis when cut (full text in the cell's tooltip).
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max).collect::<String>() + "…"
    }
}

pub(crate) use crate::output::esc;

/// Write `index.html`, `results.json`, the PNG overlays and the SVG charts into `out`.
pub fn write(results: &DemoResults, out: &Path) -> Result<()> {
    let img_dir = out.join("img");
    std::fs::create_dir_all(&img_dir).map_err(XaiError::io(&img_dir))?;
    let json_path = out.join("results.json");
    let json =
        serde_json::to_string_pretty(results).map_err(|e| XaiError::writing(&json_path, e))?;
    std::fs::write(&json_path, json).map_err(XaiError::io(&json_path))?;
    share_chart(results, &out.join("watermark_share.svg"))?;
    loss_chart(results, &out.join("training_loss.svg"))?;

    for (i, im) in results.images.iter().enumerate() {
        let p = img_dir.join(format!("input_{i}.png"));
        overlay(&im.pixels, None)
            .save(&p)
            .map_err(|e| XaiError::writing(&p, e))?;
        for m in &results.methods {
            let p = img_dir.join(format!("{}_{i}.png", m.method));
            overlay(&im.pixels, Some(&m.values[i]))
                .save(&p)
                .map_err(|e| XaiError::writing(&p, e))?;
        }
    }

    for (k, cf) in results.counterfactuals.iter().enumerate() {
        let input = &results.images[cf.image].pixels;
        let p = img_dir.join(format!("counterfactual_{k}.png"));
        overlay(&cf.pixels, None)
            .save(&p)
            .map_err(|e| XaiError::writing(&p, e))?;
        let delta: Vec<f64> = cf
            .pixels
            .iter()
            .zip(input)
            .map(|(c, x)| f64::from(c - x))
            .collect();
        let p = img_dir.join(format!("counterfactual_change_{k}.png"));
        overlay(input, Some(&delta))
            .save(&p)
            .map_err(|e| XaiError::writing(&p, e))?;
    }
    for (k, pert) in results.contrastive.pertinents.iter().enumerate() {
        let p = img_dir.join(format!("pertinent_{k}.png"));
        overlay(&pert.pixels, None)
            .save(&p)
            .map_err(|e| XaiError::writing(&p, e))?;
    }
    let groups = super::patches()?;
    for (k, anchor) in results.anchors.anchors.iter().enumerate() {
        // The anchored patches in red over the input.
        let mask: Vec<f64> = (0..SIDE * SIDE)
            .map(|p| f64::from(u8::from(anchor.patches.contains(&groups.of(p)))))
            .collect();
        let p = img_dir.join(format!("anchor_{k}.png"));
        overlay(&results.images[anchor.image].pixels, Some(&mask))
            .save(&p)
            .map_err(|e| XaiError::writing(&p, e))?;
    }
    let a = &results.accuracy;
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>xai demo: a Clever Hans CNN, explained</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222 }}
table {{ border-collapse: collapse; margin: 1em 0 }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right }}
th {{ background: #f4f4f4 }}
td.l, th.l {{ text-align: left }}
.gallery td {{ text-align: center; padding: 2px }}
.gallery img {{ width: 96px; height: 96px; image-rendering: pixelated }}
.hi {{ background: #ffe3e0; font-weight: bold }}
.note {{ color: #555; font-size: 0.92em }}
</style></head><body>
<h1>xai demo: a Clever Hans CNN, explained</h1>
<p>A small CNN was trained to tell <b>squares</b> (class 0) from <b>plus signs</b> (class 1) in
16×16 noisy images. In the training set a bright 3×3 <b>watermark</b> sat in the top-left corner of
90% of the plus signs and of no square: a shortcut. The yellow outline in every picture marks the
watermark's place. If the explanations concentrate there, the model is a Clever Hans.</p>
<h2>What the model learned</h2>
<table>
<tr><th class="l">data set</th><th>accuracy</th></tr>
<tr><td class="l">training (watermark on 90% of plus signs)</td><td>{:.1}%</td></tr>
<tr><td class="l">clean test (no watermark)</td><td>{:.1}%</td></tr>
<tr><td class="l">swapped test (watermark on squares only)</td><td>{:.1}%</td></tr>
<tr><td class="l">watermarked squares called "plus"</td><td class="hi">{:.0}%</td></tr>
</table>
<p><img src="training_loss.svg" alt="training loss per epoch"></p>
<h2>Where the explanations look</h2>
<p>Share of each method's total |attribution| that falls inside the watermark, averaged over the
explained images. The watermark covers {:.1}% of the pixels; a method that puts far more there on
watermarked images shows the shortcut.</p>
<p><img src="watermark_share.svg" alt="watermark share per method"></p>
<table><tr><th class="l">method</th><th>share, watermarked</th><th>share, clean</th><th>max |completeness delta|</th><th>seconds</th><th class="l">settings</th></tr>
"#,
        100.0 * a.train,
        100.0 * a.clean_test,
        100.0 * a.swapped_test,
        100.0 * a.class0_flipped_by_watermark,
        100.0 * results.watermark_area_share
    );
    for m in &results.methods {
        let settings = m.settings.to_string();
        let delta = m.completeness_delta.as_ref().map_or("—".to_string(), |d| {
            format!("{:.2e}", d.iter().fold(0.0f64, |x, v| x.max(v.abs())))
        });
        let cls = if m.watermark_share_marked > 3.0 * results.watermark_area_share {
            " class=\"hi\""
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td{cls}>{:.1}%</td><td>{:.1}%</td><td>{delta}</td><td>{:.2}</td><td class=\"l note\" title=\"{full}\">{short}</td></tr>",
            esc(&m.method),
            100.0 * m.watermark_share_marked,
            100.0 * m.watermark_share_clean,
            m.seconds,
            full = esc(&settings),
            short = esc(&shorten(&settings, 90)),
        );
    }
    h.push_str("</table>\n<h2>Localisation against the watermark</h2>\n<p>Quantus's localisation metrics on |φ| with the 3×3 watermark as the ground-truth mask, mean over the watermarked explained images (a shortcut-faithful map scores high: the model decided by the watermark).</p>\n<table><tr><th class=\"l\">method</th><th>pointing game</th><th>relevance rank accuracy (= top-9 intersection)</th><th>relevance mass accuracy</th></tr>\n");
    for m in &results.methods {
        let l = &m.localisation;
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            esc(&m.method),
            l.pointing_game,
            l.relevance_rank_accuracy,
            m.watermark_share_marked
        );
    }
    h.push_str("</table>\n<h2>Heat maps</h2>\n<p class=\"note\">Red: evidence for the explained (predicted) class; blue: against. Each map is scaled to its own maximum.</p>\n<table class=\"gallery\"><tr><th>input</th>");
    for m in &results.methods {
        let _ = write!(h, "<th>{}</th>", esc(&m.method));
    }
    h.push_str("</tr>\n");
    for (i, im) in results.images.iter().enumerate() {
        let name = |c: usize| if c == 0 { "square" } else { "plus" };
        let _ = write!(
            h,
            "<tr><td><img src=\"img/input_{i}.png\" alt=\"input {i}\"><br><span class=\"note\">{}: {}{}<br>predicted {}</span></td>",
            esc(&im.split),
            name(im.label),
            if im.marked { " + mark" } else { "" },
            name(im.predicted)
        );
        for m in &results.methods {
            let _ = write!(
                h,
                "<td><img src=\"img/{}_{i}.png\" alt=\"{} of input {i}\"></td>",
                esc(&m.method),
                esc(&m.method)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    if !results.counterfactuals.is_empty() {
        h.push_str("<h2>What minimal change flips the decision?</h2>\n<p>Gradient-free counterfactual search (genetic, pixels kept in [0, 1], then made sparse by reverting every change that is not needed): the smallest edit that makes the model call a watermarked square a square again.</p>\n<table class=\"gallery\"><tr><th>input</th><th>counterfactual</th><th>change (red brighter, blue darker)</th><th class=\"l\">summary</th></tr>\n");
        for (k, cf) in results.counterfactuals.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td><img src=\"img/input_{}.png\" alt=\"input\"></td><td><img src=\"img/counterfactual_{k}.png\" alt=\"counterfactual {k}\"></td><td><img src=\"img/counterfactual_change_{k}.png\" alt=\"change {k}\"></td><td class=\"l\">{} pixels changed, {:.0}% of the change inside the watermark<br><span class=\"note\">set of {}: validity {:.2}, proximity {:.4}, sparsity {:.1} pixels, diversity {:.4}, {} model evaluations, seed {}</span></td></tr>",
                cf.image,
                cf.changed,
                100.0 * cf.change_share_in_watermark,
                cf.set.counterfactuals.len(),
                cf.set.validity,
                cf.set.proximity,
                cf.set.sparsity,
                cf.set.diversity,
                cf.set.evaluations,
                cf.set.seed
            );
        }
        h.push_str("</table>\n");
    }
    contrastive_section(&mut h, results);
    anchors_section(&mut h, results);
    if !results.tcav.is_empty() {
        h.push_str("<h2>Does the model use the concept \"watermark\" for \"plus\"? (TCAV)</h2>\n<p>Concept activation vectors at each conv layer (logistic regression on a subsample of the concept examples per run) against 10 random sets of clean images; the TCAV score is the fraction of clean \"plus\" images whose logit grows along the concept. p tests the concept's mean score as one draw from the scores of 20 random concepts put through the same runs (two-sided t-test); the four tests are adjusted together (Holm). A random-image concept is the control.</p>\n<table><tr><th>layer</th><th class=\"l\">concept</th><th>mean TCAV score</th><th>p-value</th><th>Holm-adjusted p</th><th>significant (adjusted p &lt; 0.05)</th><th>CAV accuracy</th></tr>\n");
        for t in &results.tcav {
            let r = &t.result;
            let acc = r.cav_accuracy.iter().sum::<f64>() / r.cav_accuracy.len().max(1) as f64;
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"l\">{}</td><td>{:.3}</td><td>{:.2e}</td><td>{:.2e}</td><td>{}</td><td>{:.2}</td></tr>",
                esc(&r.layer),
                esc(&t.concept),
                r.mean_score,
                r.p_value,
                r.p_adjusted.unwrap_or(r.p_value),
                if r.significant { "yes" } else { "no" },
                acc
            );
        }
        h.push_str("</table>\n");
    }
    examples_section(&mut h, results, &img_dir)?;
    prototypes_section(&mut h, results, &img_dir)?;
    language_section(&mut h, results);
    sanity_section(&mut h, results);
    h.push_str("<h2>Not in this report yet</h2><ul>\n");
    for (what, why) in &results.not_included {
        let _ = writeln!(h, "<li>{}: {}</li>", esc(what), esc(why));
    }
    let _ = write!(
        h,
        "</ul>\n<p class=\"note\">Seed {}, {} epochs, explanations on <code>{}</code>. Every value above is in <a href=\"results.json\">results.json</a>. Reproduce: <code>xai demo --seed {} --out DIR</code>.</p>\n</body></html>\n",
        results.options.seed,
        results.training.epochs,
        esc(&results.options.device),
        results.options.seed
    );
    let index = out.join("index.html");
    std::fs::write(&index, h).map_err(XaiError::io(&index))?;
    Ok(())
}

/// Galleries of nearest and most influential training images (images written to `img/`).
fn examples_section(h: &mut String, results: &DemoResults, img_dir: &Path) -> Result<()> {
    let ex = &results.examples;
    if ex.images.is_empty() {
        return Ok(());
    }
    let _ = write!(
        h,
        "<h2>Which training images is this like, and which made it? (kNN and influence)</h2>\n<p>Left: the nearest training images in the network's penultimate space. Right: the training images that most support the predicted class, then those that most work against it (relative influence, RelatIF: the influence function's effect on this image's loss divided by the square root of each training image's self-influence, exact for the last layer refitted to its optimum; plain influence lists the same few high-loss images for every input). Yellow outline: where the watermark would be. For the watermarked squares called \"plus\", <b>{:.0}%</b> of the most helpful training images carry the watermark and {:.0}% of the nearest neighbours do, against {:.0}% of all training images: the prediction leans on watermarked pluses.</p>\n<table class=\"gallery\"><tr><th>input</th><th class=\"l\">nearest training images</th><th class=\"l\">most helpful</th><th class=\"l\">most harmful</th></tr>\n",
        100.0 * ex.helpful_marked_share,
        100.0 * ex.neighbours_marked_share,
        100.0 * ex.train_marked_share
    );
    let names = ["square", "plus"];
    for (i, g) in ex.images.iter().enumerate() {
        let im = &results.images[i];
        let _ = write!(
            h,
            "<tr><td><img src=\"img/input_{i}.png\" alt=\"input {i}\"><br>{} → {}</td>",
            names[im.label.min(1)],
            names[im.predicted.min(1)]
        );
        for (kind, list) in [
            ("nn", &g.neighbours),
            ("help", &g.helpful),
            ("harm", &g.harmful),
        ] {
            h.push_str("<td class=\"l\">");
            for (k, e) in list.iter().enumerate() {
                let p = img_dir.join(format!("{kind}_{i}_{k}.png"));
                overlay(&e.pixels, None)
                    .save(&p)
                    .map_err(|err| XaiError::writing(&p, err))?;
                let _ = write!(
                    h,
                    "<img src=\"img/{kind}_{i}_{k}.png\" alt=\"training image {}\" title=\"#{} {} {} score {:.3e}\" style=\"width:48px;height:48px\">",
                    e.index,
                    e.index,
                    names[e.label.min(1)],
                    if e.marked { "watermarked" } else { "clean" },
                    e.score
                );
            }
            h.push_str("</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    Ok(())
}

/// The cascading randomisation table.
fn sanity_section(h: &mut String, results: &DemoResults) {
    let s = &results.sanity;
    if s.spearman.is_empty() {
        return;
    }
    h.push_str("<h2>Sanity check: do the maps depend on the weights? (cascading randomisation)</h2>\n<p>The layers are re-initialised from the top (fc) down; each cell is the mean signed Spearman rank correlation of a method's maps with the trained model's maps. A map that stays similar after the weights are destroyed explains the input, not the model (Adebayo et al. 2018).</p>\n<table><tr><th class=\"l\">method</th>");
    for step in &s.steps {
        let _ = write!(h, "<th>randomised down to {}</th>", esc(step));
    }
    h.push_str("</tr>\n");
    for (method, values) in &s.spearman {
        let _ = write!(h, "<tr><td class=\"l\">{}</td>", esc(method));
        for v in values {
            let _ = write!(h, "<td>{v:.3}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

/// The language-model section: each prompt's tokens coloured by each method's score for the
/// answer (red for, blue against; each row scaled to its own largest magnitude).
fn language_section(h: &mut String, results: &DemoResults) {
    let lm = &results.language_model;
    if lm.prompts.is_empty() {
        return;
    }
    let top: Vec<String> = lm
        .top1_at_source
        .iter()
        .map(|(m, v)| format!("{} {:.0}%", esc(m), 100.0 * v))
        .collect();
    let _ = write!(
        h,
        "<h2>Which prompt token decided the answer? (a small language model)</h2>\n<p>A two-layer causal transformer trained from the same seed in {:.0} s to {:.1}% held-out accuracy on key–value recall: each token <code>kK:vV</code> is a fact, the prompt asks for one key, and exactly one fact holds the answer (underlined). Each row colours the prompt by one method's score for the answer's logit or log-probability (red: for, blue: against). The highest-scoring fact is the answer's over these {} prompts for: {}. <code>xai lm bench</code> scores the methods on 50 prompts.</p>\n",
        lm.training.seconds,
        100.0 * lm.training.accuracy,
        lm.prompts.len(),
        top.join(", ")
    );
    for p in &lm.prompts {
        let _ = write!(
            h,
            "<table><tr><th class=\"l\">answer {} (model: {})</th>",
            esc(&p.answer),
            esc(&p.generated)
        );
        for (i, t) in p.tokens.iter().enumerate() {
            let mark = if i == p.source {
                " style=\"text-decoration:underline\""
            } else {
                ""
            };
            let _ = write!(h, "<th{mark}>{}</th>", esc(t));
        }
        h.push_str("</tr>\n");
        for (method, scores) in &p.scores {
            let scale = scores.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
            let _ = write!(h, "<tr><td class=\"l\">{}</td>", esc(method));
            for v in scores {
                let a = (v.abs() / scale).min(1.0);
                let colour = if *v >= 0.0 { "220,50,32" } else { "33,102,172" };
                let _ = write!(
                    h,
                    "<td style=\"background:rgba({colour},{a:.2})\">{v:.2}</td>"
                );
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
}

/// The ProtoPNet gallery (source patch of every prototype, red box when it sits on the
/// watermark) and the scoring sheet of one watermarked square.
fn prototypes_section(h: &mut String, results: &DemoResults, img_dir: &Path) -> Result<()> {
    let p = &results.prototypes;
    if p.prototypes.is_empty() {
        return Ok(());
    }
    let on = p.prototypes.iter().filter(|q| q.on_watermark).count();
    let names = ["square", "plus"];
    let _ = write!(
        h,
        "<h2>This looks like that: a ProtoPNet on the same data</h2>\n<p>A prototypical-part network (3 prototypes per class, trained in {:.0} s) decides by comparing image patches with prototypes, each of which is a patch of a training image (the push makes this exact). <b>{on} of {}</b> prototypes sit on the watermark of a watermarked training image (red boxes): the shortcut is visible in the model itself. Accuracy: clean test {:.1}%, swapped test {:.1}%.</p>\n<table class=\"gallery\"><tr>",
        p.seconds,
        p.prototypes.len(),
        100.0 * p.clean_accuracy,
        100.0 * p.swapped_accuracy
    );
    for q in &p.prototypes {
        let mut img = overlay(&q.pixels, None);
        let colour = if q.on_watermark {
            Rgb([230, 30, 30])
        } else {
            Rgb([30, 170, 60])
        };
        let (t, l, b, r) = q.receptive_field;
        let z = ZOOM;
        let (t, l, b, r) = (
            t as u32 * z,
            l as u32 * z,
            (b as u32 * z).max(1) - 1,
            (r as u32 * z).max(1) - 1,
        );
        for y in t..=b.min(img.height() - 1) {
            for x in l..=r.min(img.width() - 1) {
                if y <= t + 1 || y + 1 >= b || x <= l + 1 || x + 1 >= r {
                    img.put_pixel(x, y, colour);
                }
            }
        }
        let path = img_dir.join(format!("prototype_{}.png", q.prototype));
        img.save(&path).map_err(|e| XaiError::writing(&path, e))?;
        let _ = write!(
            h,
            "<td><img src=\"img/prototype_{}.png\" alt=\"prototype {}\"><br>#{} {}{}</td>",
            q.prototype,
            q.prototype,
            q.prototype,
            names[q.class.min(1)],
            if q.on_watermark { " (watermark)" } else { "" }
        );
    }
    h.push_str("</tr></table>\n");
    if let Some((k, sheet)) = &p.sheet {
        let _ = write!(
            h,
            "<p>Why ProtoPNet calls <img src=\"img/input_{k}.png\" alt=\"explained image\" style=\"width:48px;height:48px;vertical-align:middle\"> (a watermarked square) \"{}\": points = similarity × weight, summing to the logit {:.3} (sum {:.3}).</p>\n<table><tr><th>prototype</th><th class=\"l\">class</th><th>similarity</th><th>weight</th><th>points</th></tr>\n",
            names[sheet.class.min(1)],
            sheet.logit,
            sheet.total_points
        );
        for row in sheet.rows.iter().take(6) {
            let on = p
                .prototypes
                .iter()
                .any(|q| q.prototype == row.prototype && q.on_watermark);
            let _ = writeln!(
                h,
                "<tr{}><td>#{}</td><td class=\"l\">{}{}</td><td>{:.3}</td><td>{:+.3}</td><td>{:+.3}</td></tr>",
                if on { " class=\"hi\"" } else { "" },
                row.prototype,
                names[row.prototype_class.min(1)],
                if on { " (on the watermark)" } else { "" },
                row.similarity,
                row.weight,
                row.points
            );
        }
        h.push_str("</table>\n");
    }
    Ok(())
}

fn contrastive_section(h: &mut String, results: &DemoResults) {
    let c = &results.contrastive;
    if c.pertinents.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>What must be present, and what must stay absent? (CEM)</h2>\n<p>The contrastive explanation method (Dhurandhar et al. 2018): an elastic-net search (FISTA, β = {}, κ = {}, {} bisection steps on c of {} iterations; {:.1} s in all) for the <b>pertinent positive</b> of a watermarked square the model calls \"plus\" — the fewest, faintest pixels of the image that still read \"plus\" — and the <b>pertinent negative</b> of a clean square — the smallest change that stops it reading \"square\". A pixel's absent value is its mean over the clean (unwatermarked) test images; pixels stay in [0, 1].</p>\n<table class=\"gallery\"><tr><th>input</th><th>explanation</th><th class=\"l\">summary</th></tr>",
        c.config.beta, c.config.kappa, c.config.c_steps, c.config.max_iterations, c.seconds
    );
    for (k, p) in c.pertinents.iter().enumerate() {
        let (kind, goal) = match p.kind {
            xai_grad::methods::cem::Pertinent::Positive => {
                ("pertinent positive (kept pixels)", "still \"plus\"")
            }
            xai_grad::methods::cem::Pertinent::Negative => (
                "pertinent negative (input + change)",
                "no longer \"square\"",
            ),
        };
        let _ = writeln!(
            h,
            "<tr><td><img src=\"img/input_{}.png\" alt=\"input\"></td><td><img src=\"img/pertinent_{k}.png\" alt=\"{kind}\"></td><td class=\"l\">{kind}: {} pixels, {:.0}% of their mass inside the watermark (3.5% of the image); model says class {} — {}</td></tr>",
            p.image,
            p.changed,
            100.0 * p.share_in_watermark,
            p.class,
            if p.found {
                goal.to_string()
            } else {
                format!("goal not met ({goal} wanted)")
            }
        );
    }
    h.push_str("</table>\n");
}

fn anchors_section(h: &mut String, results: &DemoResults) {
    let a = &results.anchors;
    if a.anchors.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Which patches guarantee the answer? (Anchors)</h2>\n<p>Anchors (Ribeiro et al. 2018) over the 16 patches of 4×4 pixels: the smallest set of patches that, kept while every other patch is replaced by the mean clean image with probability {}, keeps the model's answer with precision ≥ {} (KL-LUCB, confidence {}; {:.1} s in all). Anchored patches in red.</p>\n<table class=\"gallery\"><tr><th>anchor</th><th class=\"l\">summary</th></tr>",
        a.config.p_absent,
        a.config.anchors.threshold,
        1.0 - a.config.anchors.delta,
        a.seconds
    );
    for (k, anchor) in a.anchors.iter().enumerate() {
        let im = &results.images[anchor.image];
        let _ = writeln!(
            h,
            "<tr><td><img src=\"img/anchor_{k}.png\" alt=\"anchor {k}\"></td><td class=\"l\">image {} ({}{}, called {}): patches {:?} {} — precision {:.3}, coverage {:.3}{}</td></tr>",
            anchor.image,
            if im.label == 0 { "square" } else { "plus" },
            if im.marked { ", watermarked" } else { "" },
            if anchor.prediction == 0 {
                "square"
            } else {
                "plus"
            },
            anchor.patches,
            if anchor.patches.contains(&0) {
                "(the watermark's patch is one of them)"
            } else {
                ""
            },
            anchor.precision,
            anchor.coverage,
            if anchor.is_anchor {
                ""
            } else {
                " (no rule reached the threshold: the most precise one)"
            }
        );
    }
    h.push_str("</table>\n");
}
