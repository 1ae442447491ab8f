//! Charts drawn with plotters, written atomically as PNG or SVG according to the file's extension.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::prelude::*;

mod lr;
mod overlay;
mod training;

pub use lr::{CompareChart, LrFindChart};
pub use overlay::{series_color, Legend, OverlayChart, Series};
pub use training::{schedule_points, ScheduleChart, TrainingChart};

/// The font every chart uses, embedded so that PNG text renders on machines without fonts.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 600;

/// Something that draws itself on any plotters backend.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;

    /// Width and height in pixels; figures with several panels ask for more height.
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }
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

/// Writes `figure` to `path` atomically: `.png` as a bitmap, `.svg` as vector graphics. A
/// failed write leaves the previous file as it was.
pub fn save(figure: &impl Figure, path: &Path) -> Result<()> {
    let format = Format::of(path)?;
    register_font()?;
    record::atomic::create_parent(path)?;
    match format {
        Format::Png => record::write_atomic(path, &to_png(figure)?),
        Format::Svg => record::write_atomic(path, to_svg(figure)?.as_bytes()),
    }
}

/// Draws `figure` as a PNG file in memory (written whole, so a full disk fails in one place).
pub fn to_png(figure: &impl Figure) -> Result<Vec<u8>> {
    let (w, h) = figure.size();
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        figure.draw(&area)?;
        area.present()
            .map_err(|e| anyhow!("drawing the chart as PNG: {e}"))?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, w, h, image::ColorType::Rgb8)
        .context("encoding the chart as PNG")?;
    Ok(png)
}

/// Draws `figure` as an SVG document in memory (for files and for HTML reports).
pub fn to_svg(figure: &impl Figure) -> Result<String> {
    register_font()?;
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        figure.draw(&area)?;
        area.present()
            .map_err(|e| anyhow!("drawing the chart as SVG: {e}"))?;
    }
    Ok(svg)
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

/// A loss range that keeps the interesting part: from the lowest value to at most twice the
/// median (or `first`, if higher), so that a divergence does not squash the curve.
fn loss_span<'a>(values: impl Iterator<Item = &'a (f64, f64)>, first: f64) -> std::ops::Range<f64> {
    let mut values: Vec<f64> = values.map(|p| p.1).filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return 0.0..1.0;
    }
    values.sort_by(f64::total_cmp);
    let (lo, hi, median) = (
        values[0],
        values[values.len() - 1],
        values[values.len() / 2],
    );
    let cap = lo + 2.0 * (median.max(first) - lo).max(0.0);
    let hi = if cap > lo { hi.min(cap) } else { hi };
    padded_range([lo, hi].into_iter())
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

/// Colours of successive series and markers (matplotlib's cycle).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// A short line in the colour and width of a series, for its legend entry.
fn legend_line(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}
