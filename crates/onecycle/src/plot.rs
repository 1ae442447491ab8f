//! Charts drawn with plotters, written as PNG or SVG according to the file's extension.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use schedule::Point;

/// The font every chart uses, embedded so that PNG text renders on machines without fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 600;

/// Something that draws itself on any plotters backend.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// The image formats a chart can be written in, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format for `path`, or an error naming the file when it is neither `.png` nor `.svg`;
    /// call it before long work so that a bad name fails at once.
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path.extension().and_then(|e| e.to_str());
        match ext.map(str::to_ascii_lowercase).as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => bail!("plot file {} must end in .png or .svg", path.display()),
        }
    }
}

/// Writes `figure` to `path`: `.png` as a bitmap, `.svg` as vector graphics.
pub fn save(figure: &impl Figure, path: &Path) -> Result<()> {
    let format = Format::of(path)?;
    register_font()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match format {
        Format::Png => {
            let area = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            figure.draw(&area)?;
            area.present()
                .map_err(|e| anyhow!("writing {}: {e}", path.display()))
        }
        Format::Svg => {
            let area = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            figure.draw(&area)?;
            area.present()
                .map_err(|e| anyhow!("writing {}: {e}", path.display()))
        }
    }
}

fn register_font() -> Result<()> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| anyhow!("the embedded chart font is not a valid font"));
    });
    result
}

/// Turns a plotters error into an anyhow error (plotters' errors borrow the backend's type).
fn drawing<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow!("drawing the chart: {e}"))
}

/// Learning rate (left axis) and momentum (right axis, when scheduled) against the step.
pub struct ScheduleChart<'a> {
    pub title: &'a str,
    pub points: &'a [Point],
}

impl Figure for ScheduleChart<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let n = self.points.len();
        let lr_max = self.points.iter().map(|p| p.lr).fold(0.0, f64::max);
        let moms: Vec<(f64, f64)> = self
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.momentum.map(|m| (i as f64, m)))
            .collect();
        // Head-room above both curves keeps the legend clear of them.
        let mom_range = padded_range(moms.iter().map(|&(_, m)| m));
        let mom_range = mom_range.start..mom_range.end + (mom_range.end - mom_range.start) * 0.25;
        let x_end = n.saturating_sub(1).max(1) as f64;

        let mut chart = drawing(
            ChartBuilder::on(area)
                .caption(self.title, ("sans-serif", 24))
                .margin(16)
                .x_label_area_size(48)
                .y_label_area_size(80)
                .right_y_label_area_size(if moms.is_empty() { 0 } else { 70 })
                .build_cartesian_2d(0.0..x_end, 0.0..lr_max * 1.25),
        )?
        .set_secondary_coord(0.0..x_end, mom_range);

        drawing(
            chart
                .configure_mesh()
                .x_desc("step")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_desc("learning rate")
                .y_label_formatter(&|v| format_value(*v))
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 18))
                .draw(),
        )?;
        let lr_color = RGBColor(31, 119, 180);
        let mom_color = RGBColor(255, 127, 14);
        drawing(
            chart.draw_series(LineSeries::new(
                self.points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i as f64, p.lr)),
                lr_color.stroke_width(2),
            )),
        )?
        .label("learning rate")
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], lr_color.stroke_width(2))
        });

        if !moms.is_empty() {
            drawing(
                chart
                    .configure_secondary_axes()
                    .y_desc("momentum")
                    .label_style(("sans-serif", 15))
                    .axis_desc_style(("sans-serif", 18))
                    .draw(),
            )?;
            drawing(chart.draw_secondary_series(LineSeries::new(
                moms.iter().copied(),
                mom_color.stroke_width(2),
            )))?
            .label("momentum")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], mom_color.stroke_width(2))
            });
        }
        drawing(
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 16))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw(),
        )
    }
}

/// The range of `values` with a margin, never empty (a flat series gets ±5 %).
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        hi.abs().max(1e-3) * 0.05
    };
    (lo - pad)..(hi + pad)
}

/// Axis labels that stay short for learning rates from 1e-7 to 10.
pub fn format_value(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-2 || v.abs() >= 1e4 {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
