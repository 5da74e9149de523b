//! The written report: `results.json`, `index.html` with heat maps or attribution tables, and
//! per-row pages for large batches.

use super::*;

/// Inputs that get their own waterfall and force plots.
pub(super) const PLOTTED_INPUTS: usize = 10;

/// The plots of tabular attributions: per method a beeswarm summary and the dependence plot of
/// its most important feature; per input (the first [`PLOTTED_INPUTS`]) a waterfall of each
/// method and a force plot of the first. Writes the SVGs to `img_dir` and their section into `h`.
pub(super) fn plot_rows(report: &ExplainReport, img_dir: &Path, h: &mut String) -> Result<()> {
    let names = &report.feature_names;
    let save = |name: String, svg: String| -> Result<()> {
        let p = img_dir.join(name);
        std::fs::write(&p, svg).map_err(XaiError::io(&p))
    };
    h.push_str("<h2>Summary</h2>\n");
    for r in &report.results {
        let m = &r.method;
        save(
            format!("{m}_summary.svg"),
            plots::summary_svg(&r.values, &report.inputs, names, 20)?,
        )?;
        let _ = write!(
            h,
            "<h3>{}</h3><img class=\"plot\" src=\"img/{}_summary.svg\" alt=\"{} summary\">",
            esc(m),
            esc(m),
            esc(m)
        );
        if let Some(j) = plots::top_feature(&r.values) {
            save(
                format!("{m}_dependence.svg"),
                plots::dependence_svg(&r.values, &report.inputs, &names[j], j)?,
            )?;
            let _ = writeln!(
                h,
                "<img class=\"plot\" src=\"img/{}_dependence.svg\" alt=\"{} dependence on {}\">",
                esc(m),
                esc(m),
                esc(&names[j])
            );
        }
        for (i, values) in r.values.iter().enumerate().take(PLOTTED_INPUTS) {
            let output = report.outputs[i][report.targets[i]];
            let base = output - values.iter().sum::<f64>();
            let input = &report.inputs[i];
            save(
                format!("{m}_waterfall_{i}.svg"),
                plots::waterfall_svg(base, values, input, names, 10)?,
            )?;
            if std::ptr::eq(r, &report.results[0]) {
                save(
                    format!("{m}_force_{i}.svg"),
                    plots::force_svg(base, values, names)?,
                )?;
            }
        }
    }
    Ok(())
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn heat(input: &[f64], values: &[f64], shape: &[usize]) -> RgbImage {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let zoom = (256 / h.max(w)).max(1) as u32;
    let hw = h * w;
    let v: Vec<f64> = (0..hw)
        .map(|p| (0..c).map(|ch| values[ch * hw + p]).sum())
        .collect();
    let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    RgbImage::from_fn(w as u32 * zoom, h as u32 * zoom, |x, y| {
        let p = (y / zoom) as usize * w + (x / zoom) as usize;
        let base: Vec<f64> = (0..3)
            .map(|ch| input[(if c == 3 { ch } else { 0 }) * hw + p].clamp(0.0, 1.0) * 255.0)
            .collect();
        let a = if max > 0.0 {
            (v[p].abs() / max).powf(0.8) * 0.85
        } else {
            0.0
        };
        let heat = if v[p] >= 0.0 {
            [230.0, 30.0, 30.0]
        } else {
            [30.0, 80.0, 230.0]
        };
        Rgb([0, 1, 2].map(|ch| (base[ch] * (1.0 - a) + heat[ch] * a) as u8))
    })
}

/// Inputs shown on the report's first page; the rest go to linked pages of [`ROWS_PER_PAGE`].
pub(super) const FIRST_PAGE: usize = 100;
/// Inputs per additional page.
pub(super) const ROWS_PER_PAGE: usize = 500;

pub(super) const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}table{border-collapse:collapse;margin:1em 0}img{image-rendering:pixelated;width:128px}img.plot{image-rendering:auto;width:auto;max-width:100%;display:block;margin:.5em 0}</style>";

pub(super) fn write(report: &ExplainReport, out: &Path) -> Result<()> {
    let img_dir = out.join("img");
    std::fs::create_dir_all(&img_dir).map_err(XaiError::io(&img_dir))?;
    let json_path = out.join("results.json");
    let json =
        serde_json::to_string_pretty(report).map_err(|e| XaiError::writing(&json_path, e))?;
    std::fs::write(&json_path, json).map_err(XaiError::io(&json_path))?;
    let image = report.input_shape.len() == 3 && matches!(report.input_shape[0], 1 | 3);
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>xai explain</title>{STYLE}</head><body>\n"
    );
    let n = report.inputs.len();
    let _ = writeln!(
        h,
        "<h1>xai explain: {}</h1><p>{n} inputs of shape {:?}; every value is in <a href=\"results.json\">results.json</a>.</p>",
        esc(&report.options.model.display().to_string()),
        report.input_shape
    );
    for s in &report.skipped {
        let _ = writeln!(
            h,
            "<p>{} was skipped: {}.</p>",
            esc(&s.method),
            esc(&s.reason)
        );
    }
    if !image && report.token_input.is_none() {
        plot_rows(report, &img_dir, &mut h)?;
    }
    // Large batches: the first inputs here, the rest on linked pages, so no page grows with N.
    let pages: Vec<(usize, usize)> = (FIRST_PAGE..n)
        .step_by(ROWS_PER_PAGE)
        .map(|lo| (lo, (lo + ROWS_PER_PAGE).min(n)))
        .collect();
    if !pages.is_empty() {
        let rows_dir = out.join("rows");
        std::fs::create_dir_all(&rows_dir).map_err(XaiError::io(&rows_dir))?;
        h.push_str("<p>Inputs beyond the first ");
        let _ = write!(h, "{FIRST_PAGE}: ");
        let links: Vec<String> = pages
            .iter()
            .map(|&(lo, hi)| format!("<a href=\"rows/inputs_{lo}.html\">{lo}–{}</a>", hi - 1))
            .collect();
        h.push_str(&links.join(", "));
        h.push_str("</p>\n");
        for &(lo, hi) in &pages {
            let mut page = format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>xai explain: inputs {lo}–{}</title>{STYLE}</head><body>\n<p><a href=\"../index.html\">report</a></p>\n",
                hi - 1
            );
            for i in lo..hi {
                page.push_str(&input_section(report, &img_dir, "../img", image, i)?);
            }
            page.push_str("</body></html>\n");
            let p = rows_dir.join(format!("inputs_{lo}.html"));
            std::fs::write(&p, page).map_err(XaiError::io(&p))?;
        }
    }
    for i in 0..n.min(FIRST_PAGE) {
        h.push_str(&input_section(report, &img_dir, "img", image, i)?);
    }
    h.push_str("</body></html>\n");
    let index = out.join("index.html");
    std::fs::write(&index, h).map_err(XaiError::io(&index))
}

/// The report section of input `i`: its heat maps (images, written to `img_dir` and linked
/// through `img`) or its attribution table with its plots (rows).
pub(super) fn input_section(
    report: &ExplainReport,
    img_dir: &Path,
    img: &str,
    image: bool,
    i: usize,
) -> Result<String> {
    let mut h = String::new();
    let input = &report.inputs[i];
    let _ = writeln!(
        h,
        "<h2>input {i}: explained class {}</h2>",
        report.targets[i]
    );
    if image {
        h.push_str("<table><tr>");
        for r in &report.results {
            let p = img_dir.join(format!("{}_{i}.png", r.method));
            heat(input, &r.values[i], &report.input_shape)
                .save(&p)
                .map_err(|e| XaiError::writing(&p, e))?;
            let _ = write!(
                h,
                "<td>{}<br><img src=\"{img}/{}_{i}.png\" alt=\"{} of input {i}\"></td>",
                esc(&r.method),
                esc(&r.method),
                esc(&r.method)
            );
        }
        h.push_str("</tr></table>\n");
    } else {
        if i < PLOTTED_INPUTS && report.token_input.is_none() {
            // the first method's force plot, then every method's waterfall
            let plots = report
                .results
                .iter()
                .take(1)
                .map(|r| (r, "force"))
                .chain(report.results.iter().map(|r| (r, "waterfall")));
            for (r, file) in plots {
                let _ = write!(
                    h,
                    "<p>{} ({file})</p><img class=\"plot\" src=\"{img}/{}_{file}_{i}.svg\" alt=\"{file} plot of {} on input {i}\">",
                    esc(&r.method),
                    esc(&r.method),
                    esc(&r.method)
                );
            }
        }
        if let Some(name) = &report.token_input {
            let _ = writeln!(
                h,
                "<p>One column per position: <em>position: id</em> of <code>{}</code>.</p>",
                esc(name)
            );
        }
        h.push_str("<table><tr><th>method</th>");
        for (j, v) in input.iter().enumerate() {
            match &report.token_input {
                // position and token id
                Some(_) => {
                    let _ = write!(h, "<th>{j}: {v}</th>");
                }
                None => {
                    let _ = write!(h, "<th>{} = {v:.3}</th>", esc(&report.feature_names[j]));
                }
            }
        }
        h.push_str("</tr>\n");
        for r in &report.results {
            let max = r.values[i]
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
                .max(1e-300);
            let _ = write!(h, "<tr><td>{}</td>", esc(&r.method));
            for v in &r.values[i] {
                let a = (v.abs() / max * 0.7 * 100.0).round() / 100.0;
                let colour = if *v >= 0.0 {
                    format!("rgba(230,30,30,{a})")
                } else {
                    format!("rgba(30,80,230,{a})")
                };
                let _ = write!(h, "<td style=\"background:{colour}\">{v:.4}</td>");
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    Ok(h)
}
