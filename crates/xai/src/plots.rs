//! The plots practitioners read attributions of tabular rows with (the ones shap made common),
//! drawn with plotters as SVG for the `explain` report:
//!
//! * [`summary_svg`] (beeswarm): one row of dots per feature, most important first; a dot is one
//!   input's attribution, coloured by that input's feature value (blue low, red high);
//! * [`dependence_svg`]: one feature's attribution against its value, over the inputs;
//! * [`waterfall_svg`]: one input, from the base value to the output, one bar per feature (the
//!   largest first, the rest summed into one bar);
//! * [`force_svg`]: one input as a single band: features pushing the output up (red) and down
//!   (blue) from the base value.
//!
//! The base value of an input is `output − Σ attributions`: the expected value for complete
//! methods (TreeSHAP, KernelSHAP, IG with its baseline), the implied one for the others.
//!
//! ```
//! let names = vec!["a".to_string(), "b".to_string()];
//! let svg = xai::plots::waterfall_svg(0.5, &[1.0, -0.25], &[3.0, 1.0], &names, 10).unwrap();
//! assert!(svg.starts_with("<svg") && svg.contains("a = 3"));
//! ```

use plotters::prelude::*;
use xai_core::{Result, XaiError};

const RED: RGBColor = RGBColor(220, 50, 40);
const BLUE: RGBColor = RGBColor(40, 110, 210);

fn err(what: &str, e: impl std::fmt::Display) -> XaiError {
    XaiError::Config(format!("drawing the {what} plot: {e}"))
}

/// Features by mean |attribution| over the inputs, largest first.
fn ranking(values: &[Vec<f64>], features: usize) -> Vec<usize> {
    let mean: Vec<f64> = (0..features)
        .map(|j| values.iter().map(|v| v[j].abs()).sum::<f64>() / values.len().max(1) as f64)
        .collect();
    let mut order: Vec<usize> = (0..features).collect();
    order.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]).then(a.cmp(&b)));
    order
}

/// Blue (low) to red (high) for `t ∈ [0, 1]`.
fn ramp(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(BLUE.0, RED.0), mix(BLUE.1, RED.1), mix(BLUE.2, RED.2))
}

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        if v.is_finite() {
            (a.min(v), b.max(v))
        } else {
            (a, b)
        }
    });
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-9);
    (lo - pad, hi + pad)
}

/// Beeswarm summary of `values` (`[inputs][features]`) with the inputs' feature values.
pub fn summary_svg(
    values: &[Vec<f64>],
    inputs: &[Vec<f64>],
    names: &[String],
    max_features: usize,
) -> Result<String> {
    let f = names.len();
    let order: Vec<usize> = ranking(values, f)
        .into_iter()
        .take(max_features.max(1))
        .collect();
    let k = order.len();
    let (lo, hi) = span(values.iter().flat_map(|v| order.iter().map(move |&j| v[j])));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 60 + 34 * k as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("summary", e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(150)
            .build_cartesian_2d(lo..hi, -0.5..(k as f64 - 0.5))
            .map_err(|e| err("summary", e))?;
        let label = |y: &f64| {
            let r = y.round();
            if (y - r).abs() < 1e-9 && r >= 0.0 && (r as usize) < k {
                names[order[k - 1 - r as usize]].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .y_labels(k)
            .y_label_formatter(&label)
            .x_desc("attribution (impact on the output)")
            .disable_y_mesh()
            .draw()
            .map_err(|e| err("summary", e))?;
        for (rank, &j) in order.iter().enumerate() {
            let y0 = (k - 1 - rank) as f64;
            let (vlo, vhi) = span(inputs.iter().map(|r| r[j]));
            // deterministic vertical jitter so overlapping dots stay visible
            let dots = values.iter().zip(inputs).enumerate().map(|(i, (v, x))| {
                let jitter = ((i * 2654435761) % 1000) as f64 / 1000.0 * 0.6 - 0.3;
                let t = if x[j].is_finite() {
                    (x[j] - vlo) / (vhi - vlo)
                } else {
                    0.5
                };
                Circle::new((v[j], y0 + jitter), 3, ramp(t).mix(0.8).filled())
            });
            chart.draw_series(dots).map_err(|e| err("summary", e))?;
        }
        root.present().map_err(|e| err("summary", e))?;
    }
    Ok(svg)
}

/// Feature `j`'s attribution against its value, over the inputs.
pub fn dependence_svg(
    values: &[Vec<f64>],
    inputs: &[Vec<f64>],
    name: &str,
    j: usize,
) -> Result<String> {
    let (xlo, xhi) = span(inputs.iter().map(|r| r[j]));
    let (ylo, yhi) = span(values.iter().map(|v| v[j]));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (480, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("dependence", e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("dependence: {name}"), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(xlo..xhi, ylo..yhi)
            .map_err(|e| err("dependence", e))?;
        chart
            .configure_mesh()
            .x_desc(name)
            .y_desc("attribution")
            .draw()
            .map_err(|e| err("dependence", e))?;
        let dots = values
            .iter()
            .zip(inputs)
            .filter(|(_, x)| x[j].is_finite())
            .map(|(v, x)| Circle::new((x[j], v[j]), 3, BLUE.mix(0.7).filled()));
        chart.draw_series(dots).map_err(|e| err("dependence", e))?;
        root.present().map_err(|e| err("dependence", e))?;
    }
    Ok(svg)
}

/// One input's waterfall from `base` to `base + Σ values`.
pub fn waterfall_svg(
    base: f64,
    values: &[f64],
    input: &[f64],
    names: &[String],
    max_features: usize,
) -> Result<String> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
    let shown = max_features.max(1).min(order.len());
    let mut bars: Vec<(String, f64)> = order[..shown]
        .iter()
        .map(|&j| (format!("{} = {}", names[j], short(input[j])), values[j]))
        .collect();
    if order.len() > shown {
        let rest: f64 = order[shown..].iter().map(|&j| values[j]).sum();
        bars.push((format!("{} other features", order.len() - shown), rest));
    }
    // bars are drawn bottom-up from the base: the largest last, at the top
    bars.reverse();
    let mut level = base;
    let mut segments = Vec::with_capacity(bars.len());
    for (_, v) in &bars {
        segments.push((level, level + v));
        level += v;
    }
    let (lo, hi) = span(segments.iter().flat_map(|&(a, b)| [a, b]).chain([base]));
    let k = bars.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 70 + 30 * k as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("waterfall", e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("base {} → output {}", short(base), short(level)),
                ("sans-serif", 15),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(190)
            .build_cartesian_2d(lo..hi, -0.5..(k as f64 - 0.5))
            .map_err(|e| err("waterfall", e))?;
        let label = |y: &f64| {
            let r = y.round();
            if (y - r).abs() < 1e-9 && r >= 0.0 && (r as usize) < k {
                bars[r as usize].0.clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .y_labels(k)
            .y_label_formatter(&label)
            .disable_y_mesh()
            .draw()
            .map_err(|e| err("waterfall", e))?;
        let rects = segments.iter().enumerate().map(|(i, &(a, b))| {
            let c = if b >= a { RED } else { BLUE };
            let y = i as f64;
            Rectangle::new([(a.min(b), y - 0.35), (a.max(b), y + 0.35)], c.filled())
        });
        chart.draw_series(rects).map_err(|e| err("waterfall", e))?;
        root.present().map_err(|e| err("waterfall", e))?;
    }
    Ok(svg)
}

/// One input as a force band: contributions pushing up (red, left of the output) and down
/// (blue, right of it), each segment labelled with its feature when wide enough.
pub fn force_svg(base: f64, values: &[f64], names: &[String]) -> Result<String> {
    let output = base + values.iter().sum::<f64>();
    let mut up: Vec<usize> = (0..values.len()).filter(|&j| values[j] > 0.0).collect();
    let mut down: Vec<usize> = (0..values.len()).filter(|&j| values[j] < 0.0).collect();
    up.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    down.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let total_up: f64 = up.iter().map(|&j| values[j]).sum();
    let total_down: f64 = down.iter().map(|&j| -values[j]).sum();
    let (lo, hi) = span([output - total_up, output + total_down, base].into_iter());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 120)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("force", e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("output {} (base {})", short(output), short(base)),
                ("sans-serif", 14),
            )
            .margin(10)
            .x_label_area_size(25)
            .build_cartesian_2d(lo..hi, 0.0..1.0)
            .map_err(|e| err("force", e))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .draw()
            .map_err(|e| err("force", e))?;
        let width = hi - lo;
        let mut segs = Vec::new();
        // red segments end at the output, the largest nearest it
        let mut right = output;
        for &j in up.iter().rev() {
            segs.push((right - values[j], right, RED, j));
            right -= values[j];
        }
        let mut left = output;
        for &j in down.iter() {
            segs.push((left, left - values[j], BLUE, j));
            left -= values[j];
        }
        chart
            .draw_series(
                segs.iter().map(|&(a, b, c, _)| {
                    Rectangle::new([(a, 0.25), (b, 0.75)], c.mix(0.85).filled())
                }),
            )
            .map_err(|e| err("force", e))?;
        chart
            .draw_series(
                segs.iter()
                    .filter(|s| (s.1 - s.0) > 0.08 * width)
                    .map(|&(a, b, _, j)| {
                        Text::new(
                            names[j].clone(),
                            ((a + b) / 2.0 - 0.03 * width, 0.55),
                            ("sans-serif", 11).into_font().color(&WHITE),
                        )
                    }),
            )
            .map_err(|e| err("force", e))?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(output, 0.1), (output, 0.9)],
                BLACK.stroke_width(2),
            )))
            .map_err(|e| err("force", e))?;
        root.present().map_err(|e| err("force", e))?;
    }
    Ok(svg)
}

/// A number in at most 4 significant digits.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The features ranked by mean |attribution| (largest first), for the report's dependence plot.
pub fn top_feature(values: &[Vec<f64>]) -> Option<usize> {
    values.first().map(|v| ranking(values, v.len())[0])
}
