//! The comparison chart (`compare.svg`): wall time per backend, and the secure metric
//! next to the plaintext twin's, drawn with plotters' SVG backend.

use plotters::prelude::*;

use crate::compare::{CompareReport, Row, Status};

const W: u32 = 1200;
const ROW: u32 = 30;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// The chart as an SVG document (backends that did not run are left out).
pub fn svg(report: &CompareReport) -> Result<String, String> {
    // plotters draws segment 0 at the bottom: reverse, so the first backend is on top.
    let rows: Vec<&Row> = report.rows.iter().filter(|r| r.status == Status::Ok).rev().collect();
    let n = rows.len().max(1) as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, 110 + 2 * ROW * n)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let title = format!("consort compare — {} ({} members)", report.job, report.parties);
        let root = root.titled(&title, ("sans-serif", 22)).map_err(e)?;
        let (left, right) = root.split_horizontally(W / 2);
        let name = |k: usize| rows.get(k).map_or_else(String::new, |r| r.backend.clone());

        let tmax = rows.iter().filter_map(|r| r.wall_secs).fold(0.0f64, f64::max).max(1e-3) * 1.15;
        let mut time = ChartBuilder::on(&left)
            .margin(14)
            .caption("wall time, seconds", ("sans-serif", 16))
            .x_label_area_size(30)
            .y_label_area_size(150)
            // A segmented 0..k has k + 1 segments.
            .build_cartesian_2d(0.0..tmax, (0..n - 1).into_segmented())
            .map_err(e)?;
        let time_label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(k) => name(*k as usize),
            _ => String::new(),
        };
        time.configure_mesh().y_label_formatter(&time_label).disable_y_mesh().draw().map_err(e)?;
        time.draw_series(rows.iter().zip(0u32..).map(|(r, k)| {
            let (lo, hi) = (SegmentValue::Exact(k), SegmentValue::Exact(k + 1));
            Rectangle::new([(0.0, lo), (r.wall_secs.unwrap_or(0.0), hi)], BLUE.mix(0.55).filled())
        }))
        .map_err(e)?;

        // Two segments per backend: the secure result, then its plaintext twin.
        let metric = rows.iter().find_map(|r| r.metric.clone()).unwrap_or_else(|| "metric".into());
        let top = rows.iter().flat_map(|r| [r.secure, r.plaintext]).flatten().fold(0.0f64, f64::max);
        let mmax = if metric == "accuracy" { 1.0 } else { top.max(1e-9) * 1.15 };
        let mut acc = ChartBuilder::on(&right)
            .margin(14)
            .caption(format!("{metric}: secure (green), plaintext twin (grey)"), ("sans-serif", 16))
            .x_label_area_size(30)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..mmax, (0..2 * n - 1).into_segmented())
            .map_err(e)?;
        let acc_label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(k) if k % 2 == 1 => name((k / 2) as usize),
            SegmentValue::CenterOf(_) => "twin".to_string(),
            _ => String::new(),
        };
        acc.configure_mesh()
            .y_label_formatter(&acc_label)
            .y_labels(2 * n as usize)
            .disable_y_mesh()
            .draw()
            .map_err(e)?;
        for (twin, color) in [(false, GREEN.mix(0.7)), (true, BLACK.mix(0.3))] {
            acc.draw_series(rows.iter().zip(0u32..).map(|(r, k)| {
                // The twin's bar below its backend's.
                let s = 2 * k + u32::from(!twin);
                let v = if twin { r.plaintext } else { r.secure };
                Rectangle::new(
                    [(0.0, SegmentValue::Exact(s)), (v.unwrap_or(0.0), SegmentValue::Exact(s + 1))],
                    color.filled(),
                )
            }))
            .map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    Ok(out)
}
