//! Rows split over the cores with scoped threads (each row's work is independent and costs
//! about the same, so equal contiguous chunks balance well).

/// Apply `f(row, out_row)` to every row of `rows` (`width` values each) writing `out_width`
/// values per row into `out`, on all cores.
pub(crate) fn rows<F>(rows: &[f64], width: usize, out: &mut [f64], out_width: usize, f: F)
where
    F: Fn(&[f64], &mut [f64]) + Sync,
{
    let n = rows.len().checked_div(width).unwrap_or(0);
    if n == 0 || out_width == 0 {
        return;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n);
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        for (x, o) in rows
            .chunks(per * width)
            .zip(out.chunks_mut(per * out_width))
        {
            let f = &f;
            s.spawn(move || {
                for (xr, or) in x.chunks(width).zip(o.chunks_mut(out_width)) {
                    f(xr, or);
                }
            });
        }
    });
}
