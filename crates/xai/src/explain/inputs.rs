//! Reading inputs: CSV rows, NPY arrays, PNG images, backgrounds and targets.

use super::*;

/// Rows of a CSV file read with the `csv` crate: the delimiter is the one of `,`, `;` and tab
/// that the first row uses most; quoted numbers are numbers; `#` lines are comments; a first row
/// in which no field is a number is a header; an empty field (or `NaN`) is a missing value, NaN
/// (tree ensembles route it; other models refuse it). Any other field that is not a number is an
/// error naming its line and column (a typo in the first row is not taken for a header).
pub fn read_csv(path: &Path, features: usize) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let delimiter = xai_glassbox::table::sniff_delimiter(first);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| parse_err(path, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cells: Vec<std::result::Result<f64, _>> = record
            .iter()
            .map(|c| {
                if c.is_empty() {
                    Ok(f64::NAN)
                } else {
                    c.parse::<f64>()
                }
            })
            .collect();
        if rows == 0 && out.is_empty() && cells.iter().all(|c| c.is_err()) {
            continue; // a header
        }
        if let Some(col) = cells.iter().position(|c| c.is_err()) {
            return Err(parse_err(
                path,
                format!(
                    "line {line}, column {}: `{}` is not a number",
                    col + 1,
                    record.get(col).unwrap_or_default()
                ),
            ));
        }
        if cells.len() != features {
            return Err(parse_err(
                path,
                format!(
                    "line {line}: {} values, the model takes {features}",
                    cells.len()
                ),
            ));
        }
        out.extend(cells.into_iter().flatten());
        rows += 1;
    }
    if out.is_empty() {
        return Err(XaiError::EmptyBatch(format!(
            "{} has no rows",
            path.display()
        )));
    }
    Ok(out)
}

/// An NPY array of little-endian f32, f64, i32, i64 or u8 in C order; returns (shape, values).
///
/// Hand-written: the format is a 10-byte preamble and a Python-dict header; a crate for it would
/// bring ndarray along.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(path).map_err(XaiError::io(path))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(parse_err(path, "not an NPY file"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(parse_err(path, format!("unsupported NPY version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| parse_err(path, "truncated header"))?,
    )
    .map_err(|_| parse_err(path, "header is not text"))?;
    if header.contains("'fortran_order': True") {
        return Err(parse_err(
            path,
            "Fortran-ordered arrays are not supported; save with C order",
        ));
    }
    // Floats, or integers (token ids, masks; exact in f64 below 2^53).
    let kinds: [(&str, usize); 5] = [
        ("'<f8'", 8),
        ("'<f4'", 4),
        ("'<i8'", 8),
        ("'<i4'", 4),
        ("'|u1'", 1),
    ];
    let Some(&(descr, width)) = kinds.iter().find(|(d, _)| header.contains(d)) else {
        return Err(parse_err(
            path,
            "dtype must be little-endian float32/float64 or int32/int64 (or uint8)",
        ));
    };
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| parse_err(path, "no shape in header"))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches([' ', '('])
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| parse_err(path, "bad shape"))
        })
        .collect::<Result<_>>()?;
    let count: usize = shape.iter().product();
    let data = &bytes[start + header_len..];
    if data.len() != count * width {
        return Err(parse_err(
            path,
            format!("{} data bytes for shape {shape:?}", data.len()),
        ));
    }
    let values = data
        .chunks(width)
        .map(|c| match descr {
            "'<f8'" => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            "'<f4'" => f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))),
            "'<i8'" => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            "'<i4'" => f64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))),
            _ => f64::from(c[0]),
        })
        .collect();
    Ok((shape, values))
}

/// A PNG as `[C, H, W]` values in [0, 1] (C = 1 grey, C = 3 RGB), checked against `shape`.
pub fn read_png(path: &Path, shape: &[usize]) -> Result<Vec<f64>> {
    let &[c, h, w] = shape else {
        return Err(XaiError::shape(
            "PNG input",
            "a model with input_shape [C, H, W]",
            shape,
        ));
    };
    let img = image::open(path).map_err(|e| XaiError::writing(path, e))?;
    if (img.height() as usize, img.width() as usize) != (h, w) {
        return Err(parse_err(
            path,
            format!(
                "image is {}×{}, the model takes {h}×{w}",
                img.width(),
                img.height()
            ),
        ));
    }
    match c {
        1 => Ok(img
            .to_luma8()
            .pixels()
            .map(|p| f64::from(p.0[0]) / 255.0)
            .collect()),
        3 => {
            let rgb = img.to_rgb8();
            Ok((0..3)
                .flat_map(|ch| rgb.pixels().map(move |p| f64::from(p.0[ch]) / 255.0))
                .collect::<Vec<_>>())
        }
        _ => Err(XaiError::shape("PNG input channels", "1 or 3", shape)),
    }
}

pub(super) fn load_inputs(
    options: &ExplainOptions,
    own: Option<&[f64]>,
    input_shape: &[usize],
    features: usize,
) -> Result<Vec<f64>> {
    if options.inputs.is_empty() {
        return match own {
            Some(rows) if !rows.is_empty() => Ok(rows.to_vec()),
            _ => Err(XaiError::Config(
                "no --inputs given and the model file has no `inputs`".into(),
            )),
        };
    }
    let mut all = Vec::new();
    for p in &options.inputs {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "npy" => all.extend(read_rows(p, features)?),
            "png" => all.extend(read_png(p, input_shape)?),
            other => {
                return Err(parse_err(
                    p,
                    format!("unknown input format `.{other}` (csv, npy or png)"),
                ));
            }
        }
    }
    if all.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite(
            "inputs: a missing or infinite value (only tree ensembles take missing values)".into(),
        ));
    }
    Ok(all)
}

/// The explained output of each of `n` inputs: one class for all, one per input, or (`None`)
/// each input's largest output; every class checked against the `outputs.len() / n` outputs.
pub(super) fn resolve_targets(
    requested: Option<&[usize]>,
    outputs: &[f64],
    n: usize,
) -> Result<Vec<usize>> {
    let k = outputs.len() / n.max(1);
    let targets: Vec<usize> = match requested {
        Some(t) if t.len() == 1 => vec![t[0]; n],
        Some(t) if t.len() == n => t.to_vec(),
        Some(t) => {
            return Err(XaiError::shape(
                "--targets",
                format!("1 or {n} classes"),
                &[t.len()],
            ));
        }
        None => outputs.chunks(k.max(1)).map(ag::argmax).collect(),
    };
    if let Some(&bad) = targets.iter().find(|&&t| t >= k) {
        return Err(XaiError::TargetOutOfRange {
            index: bad,
            classes: k,
        });
    }
    Ok(targets)
}

/// Whether `path` holds a tree ensemble (XGBoost JSON or LightGBM text) rather than a model in
/// the fixture format.
pub(super) fn is_tree_model(path: &Path) -> Result<bool> {
    let mut head = [0u8; 4096];
    let n = std::io::Read::read(
        &mut std::fs::File::open(path).map_err(XaiError::io(path))?,
        &mut head,
    )
    .map_err(XaiError::io(path))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let start = text.trim_start();
    Ok(start.starts_with("tree\n")
        || start.starts_with("tree\r\n")
        || (start.starts_with('{') && start[1..].trim_start().starts_with("\"learner\"")))
}

/// The header of a CSV file of `features` columns, if its first row is one (no field a number).
pub(super) fn csv_header(path: &Path, features: usize) -> Option<Vec<String>> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let delimiter = char::from(xai_glassbox::table::sniff_delimiter(first));
    let cells: Vec<String> = first
        .split(delimiter)
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect();
    let header = cells.len() == features && cells.iter().all(|c| c.parse::<f64>().is_err());
    header.then_some(cells)
}

/// Background rows for `features`-wide inputs, from a CSV or NPY file.
pub(super) fn load_background(path: &Path, features: usize) -> Result<References> {
    let rows = read_rows(path, features)?;
    if rows.is_empty() {
        return Err(parse_err(path, "holds no background rows"));
    }
    Ok(References::Background {
        m: rows.len() / features,
        rows,
    })
}

/// Rows of `features` values from a CSV or NPY file.
pub(super) fn read_rows(path: &Path, features: usize) -> Result<Vec<f64>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => read_csv(path, features),
        "npy" => {
            let (shape, v) = read_npy(path)?;
            if shape.iter().skip(1).product::<usize>() != features {
                return Err(XaiError::shape(
                    format!("{}", path.display()),
                    format!("[N, {features}]"),
                    &shape,
                ));
            }
            Ok(v)
        }
        other => Err(parse_err(
            path,
            format!("unknown row format `.{other}` (csv or npy)"),
        )),
    }
}
