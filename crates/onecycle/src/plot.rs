//! Charts drawn with plotters, written as PNG or SVG according to the file's extension.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use schedule::Point;

/// The font every chart uses, embedded so that PNG text renders on machines without fonts.
static FONT: &[u8] = include_bytes!("../../report/assets/DejaVuSans.ttf");
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

/// Writes `figure` to `path`: `.png` as a bitmap, `.svg` as vector graphics.
pub fn save(figure: &impl Figure, path: &Path) -> Result<()> {
    let format = Format::of(path)?;
    register_font()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match format {
        Format::Png => {
            let area = BitMapBackend::new(path, figure.size()).into_drawing_area();
            figure.draw(&area)?;
            area.present()
                .map_err(|e| anyhow!("writing {}: {e}", path.display()))
        }
        Format::Svg => std::fs::write(path, to_svg(figure)?)
            .with_context(|| format!("writing {}", path.display())),
    }
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

/// One line on an LR panel.
struct Line {
    label: String,
    color: RGBColor,
    width: u32,
    points: Vec<(f64, f64)>,
}

/// A labelled point on an LR panel.
struct Mark {
    label: String,
    color: RGBColor,
    at: (f64, f64),
}

/// The LR span of `lrs` for a log axis (never empty).
fn lr_span(lrs: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = lrs
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 1e-7..10.0;
    }
    if hi > lo {
        lo..hi
    } else {
        lo / 2.0..lo * 2.0
    }
}

/// A loss range that keeps the interesting part: from the lowest value to at most twice the
/// median (or the first smoothed value, if higher), so that a divergence does not squash the curve.
fn loss_span(lines: &[Line], first: f64) -> std::ops::Range<f64> {
    let mut values: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .collect();
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

/// Draws `lines` and `marks` against a log LR axis on `area`, clipping values to `y`.
fn lr_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    lines: Vec<Line>,
    marks: Vec<Mark>,
) -> Result<()> {
    let mut chart = drawing(
        ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x.log_scale(), y.clone()),
    )?;
    drawing(
        chart
            .configure_mesh()
            .x_desc("learning rate (log scale)")
            .x_label_formatter(&|v| format_value(*v))
            .y_desc(y_desc)
            .y_label_formatter(&|v| format_value(*v))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw(),
    )?;
    let clip = |v: f64| v.clamp(y.start, y.end);
    for line in lines {
        let style = line.color.stroke_width(line.width);
        let points: Vec<(f64, f64)> = line
            .points
            .into_iter()
            .filter(|p| p.1.is_finite())
            .map(|(a, b)| (a, clip(b)))
            .collect();
        drawing(chart.draw_series(LineSeries::new(points, style)))?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for mark in marks {
        let color = mark.color;
        let at = (mark.at.0, clip(mark.at.1));
        let anno = drawing(chart.draw_series(std::iter::once(Circle::new(at, 7, color.filled()))))?;
        if !mark.label.is_empty() {
            anno.label(mark.label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        }
    }
    drawing(
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw(),
    )
}

/// A range test: training loss (raw and smoothed) against the LR on a log axis with the
/// suggestions marked; with per-step validation, the validation loss and each metric below it.
pub struct LrFindChart<'a> {
    pub title: &'a str,
    pub result: &'a crate::lr_find::LrFind,
    pub suggestions: &'a [schedule::Suggestion],
}

impl LrFindChart<'_> {
    fn panels(&self) -> usize {
        if self.result.has_validation() {
            2 + self.result.metric_names.len()
        } else {
            1
        }
    }
}

impl Figure for LrFindChart<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 500 + 260 * (self.panels() as u32 - 1))
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let rows = &self.result.rows;
        let x = lr_span(rows.iter().map(|r| r.lr));
        let extra = self.panels() - 1;
        let (top, rest) = area.split_vertically(500);
        let series = |f: &dyn Fn(&crate::lr_find::LrFindRow) -> f64| -> Vec<(f64, f64)> {
            rows.iter().map(|r| (r.lr, f(r))).collect()
        };
        let first = rows.first().map_or(f64::NAN, |r| r.smooth_loss);
        let lines = vec![
            Line {
                label: "loss".into(),
                color: RGBColor(170, 200, 230),
                width: 1,
                points: series(&|r| r.loss),
            },
            Line {
                label: "smoothed loss".into(),
                color: PALETTE[0],
                width: 2,
                points: series(&|r| r.smooth_loss),
            },
        ];
        let y = loss_span(&lines, first);
        let marks = self
            .suggestions
            .iter()
            .enumerate()
            .map(|(i, s)| Mark {
                label: format!("{} {}", s.rule, format_value(s.lr)),
                color: PALETTE[(i + 1) % PALETTE.len()],
                at: s.mark,
            })
            .collect();
        // A range test read back from a CSV alone may not know its weight decay.
        let caption = if self.result.wd.is_finite() {
            format!("{} (wd {})", self.title, format_value(self.result.wd))
        } else {
            self.title.to_string()
        };
        lr_panel(&top, &caption, "training loss", x.clone(), y, lines, marks)?;
        if extra == 0 {
            return Ok(());
        }
        let panels = rest.split_evenly((extra, 1));
        let first_val = rows
            .first()
            .and_then(|r| r.val_smooth_loss)
            .unwrap_or(f64::NAN);
        let val_lines = vec![
            Line {
                label: "validation loss (next batch)".into(),
                color: RGBColor(250, 200, 160),
                width: 1,
                points: series(&|r| r.val_loss.unwrap_or(f64::NAN)),
            },
            Line {
                label: "smoothed".into(),
                color: PALETTE[1],
                width: 2,
                points: series(&|r| r.val_smooth_loss.unwrap_or(f64::NAN)),
            },
        ];
        let y = loss_span(&val_lines, first_val);
        lr_panel(
            &panels[0],
            "validation loss",
            "loss",
            x.clone(),
            y,
            val_lines,
            Vec::new(),
        )?;
        for (m, name) in self.result.metric_names.iter().enumerate() {
            let points = series(&|r| r.metrics.get(m).copied().unwrap_or(f64::NAN));
            let y = padded_range(points.iter().map(|p| p.1).filter(|v| v.is_finite()));
            let line = Line {
                label: name.clone(),
                color: PALETTE[2 + m % 6],
                width: 2,
                points,
            };
            lr_panel(
                &panels[1 + m],
                name,
                name,
                x.clone(),
                y,
                vec![line],
                Vec::new(),
            )?;
        }
        Ok(())
    }
}

/// Range tests at several weight decays overlaid (smoothed loss), with each run's loss at the
/// comparison LR of [`crate::lr_find::WdChoice`] marked.
pub struct WdChart<'a> {
    pub title: &'a str,
    pub runs: &'a [crate::lr_find::LrFind],
    pub choice: Option<&'a crate::lr_find::WdChoice>,
}

impl Figure for WdChart<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let x = lr_span(self.runs.iter().flat_map(|r| r.rows.iter().map(|p| p.lr)));
        let lines: Vec<Line> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| Line {
                label: format!("wd {}", format_value(run.wd)),
                color: PALETTE[i % PALETTE.len()],
                width: 2,
                points: run.rows.iter().map(|r| (r.lr, r.smooth_loss)).collect(),
            })
            .collect();
        let first = self
            .runs
            .iter()
            .filter_map(|r| r.rows.first().map(|p| p.smooth_loss))
            .fold(f64::NAN, f64::max);
        let y = loss_span(&lines, first);
        let marks = match self.choice {
            Some(c) => c
                .losses
                .iter()
                .enumerate()
                .map(|(i, &loss)| Mark {
                    label: if i == c.index {
                        format!("lowest at lr {}", format_value(c.lr))
                    } else {
                        String::new()
                    },
                    color: PALETTE[i % PALETTE.len()],
                    at: (c.lr, loss),
                })
                .collect(),
            None => Vec::new(),
        };
        lr_panel(
            area,
            self.title,
            "smoothed training loss",
            x,
            y,
            lines,
            marks,
        )
    }
}

/// A training run: the loss per step (raw and smoothed) with the validation loss at each epoch's
/// end, and each metric per epoch below it, all against the step.
pub struct TrainingChart<'a> {
    pub title: &'a str,
    pub history: &'a crate::history::History,
}

impl Figure for TrainingChart<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 420 + 260 * self.history.metric_names.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let h = self.history;
        let x_end = h.steps.len().max(2) as f64;
        // The last step of each epoch (epochs may differ in length).
        let ends: Vec<f64> = h
            .epoch_end_steps()
            .iter()
            .map(|&n| n.max(1) as f64 - 1.0)
            .collect();
        let (top, rest) = area.split_vertically(420);
        let losses = h
            .steps
            .iter()
            .flat_map(|s| [s.3, s.4])
            .chain(h.epochs.iter().map(|e| e.2));
        let range = padded_range(losses.filter(|v| v.is_finite()));
        let mut chart = drawing(
            ChartBuilder::on(&top)
                .caption(self.title, ("sans-serif", 22))
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..x_end, range),
        )?;
        drawing(
            chart
                .configure_mesh()
                .x_desc("step")
                .y_desc("loss")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format_value(*v))
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17))
                .draw(),
        )?;
        let raw = RGBColor(31, 119, 180).mix(0.35);
        let smooth = RGBColor(31, 119, 180);
        let valid = RGBColor(214, 39, 40);
        drawing(chart.draw_series(LineSeries::new(
            h.steps.iter().map(|s| (s.0 as f64, s.3)),
            raw,
        )))?
        .label("training loss")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], raw));
        drawing(chart.draw_series(LineSeries::new(
            h.steps.iter().map(|s| (s.0 as f64, s.4)),
            smooth.stroke_width(2),
        )))?
        .label("smoothed training loss")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], smooth.stroke_width(2)));
        let val: Vec<(f64, f64)> = h
            .epochs
            .iter()
            .zip(&ends)
            .map(|(e, &x)| (x, e.2))
            .filter(|p| p.1.is_finite())
            .collect();
        drawing(chart.draw_series(LineSeries::new(val.iter().copied(), valid.stroke_width(2))))?
            .label("validation loss")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], valid.stroke_width(2))
            });
        drawing(chart.draw_series(val.iter().map(|&p| Circle::new(p, 4, valid.filled()))))?;
        drawing(
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw(),
        )?;

        let panels = h.metric_names.len();
        if panels == 0 {
            return Ok(());
        }
        for (k, (panel, name)) in rest
            .split_evenly((panels, 1))
            .iter()
            .zip(&h.metric_names)
            .enumerate()
        {
            let points: Vec<(f64, f64)> = h
                .epochs
                .iter()
                .zip(&ends)
                .map(|(e, &x)| (x, e.3[k]))
                .filter(|p| p.1.is_finite())
                .collect();
            let mut chart = drawing(
                ChartBuilder::on(panel)
                    .caption(name, ("sans-serif", 18))
                    .margin(14)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d(0.0..x_end, padded_range(points.iter().map(|p| p.1))),
            )?;
            drawing(
                chart
                    .configure_mesh()
                    .x_desc("step")
                    .y_desc(name.as_str())
                    .x_label_formatter(&|v| format!("{v:.0}"))
                    .y_label_formatter(&|v| format_value(*v))
                    .label_style(("sans-serif", 15))
                    .axis_desc_style(("sans-serif", 17))
                    .draw(),
            )?;
            let color = RGBColor(44, 160, 44);
            drawing(chart.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            )))?;
            drawing(chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled()))))?;
        }
        Ok(())
    }
}

/// The colour of the `i`-th series: matplotlib's cycle, then hues spread around the wheel.
pub fn series_color(i: usize) -> RGBColor {
    if let Some(&c) = PALETTE.get(i) {
        return c;
    }
    let hue = ((i - PALETTE.len()) as f64 * 0.618_034).fract();
    let (r, g, b) = HSLColor(hue, 0.65, 0.45).to_backend_color().rgb;
    RGBColor(r, g, b)
}

/// One named line of an [`OverlayChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Where an [`OverlayChart`] puts its legend (away from where the curves usually are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    UpperRight,
    LowerRight,
}

/// Several runs' lines on shared axes, one colour and legend entry each: the comparison charts.
pub struct OverlayChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub series: &'a [Series],
    /// Circles on the points (for values known only at epoch ends).
    pub markers: bool,
    /// Keep the y axis on the interesting part (lowest value to about twice the median), clipping
    /// the spikes of early losses to the top edge.
    pub clip_high: bool,
    pub legend: Legend,
}

impl Figure for OverlayChart<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 480)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
        let all = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().filter(finite))
        };
        let x_end = all().map(|p| p.0).fold(1.0, f64::max);
        let x_start = all().map(|p| p.0).fold(0.0, f64::min);
        let y = if self.clip_high {
            let lines: Vec<Line> = self
                .series
                .iter()
                .map(|s| Line {
                    label: String::new(),
                    color: BLACK,
                    width: 1,
                    points: s.points.clone(),
                })
                .collect();
            // The lowest first value keeps the usual start of the curves in view, while a run
            // whose first epoch went astray is clipped.
            let first = self
                .series
                .iter()
                .filter_map(|s| s.points.iter().find(finite).map(|p| p.1))
                .fold(f64::INFINITY, f64::min);
            loss_span(&lines, first)
        } else {
            padded_range(all().map(|p| p.1))
        };
        // Head-room for the legend above (or below) the curves.
        let room = (y.end - y.start) * 0.06 * self.series.len().min(8) as f64;
        let y = match self.legend {
            Legend::UpperRight => y.start..y.end + room,
            Legend::LowerRight => y.start - room..y.end,
        };
        let mut chart = drawing(
            ChartBuilder::on(area)
                .caption(self.title, ("sans-serif", 22))
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(80)
                .build_cartesian_2d(x_start..x_end, y.clone()),
        )?;
        drawing(
            chart
                .configure_mesh()
                .x_desc(self.x_desc)
                .y_desc(self.y_desc)
                .x_label_formatter(&|v| {
                    if x_end - x_start >= 20.0 {
                        format!("{v:.0}")
                    } else {
                        format_value(*v)
                    }
                })
                .y_label_formatter(&|v| format_value(*v))
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17))
                .draw(),
        )?;
        let clip = |v: f64| v.clamp(y.start, y.end);
        for (i, series) in self.series.iter().enumerate() {
            let color = series_color(i);
            let style = color.stroke_width(2);
            let points: Vec<(f64, f64)> = series
                .points
                .iter()
                .filter(finite)
                .map(|&(a, b)| (a, clip(b)))
                .collect();
            drawing(chart.draw_series(LineSeries::new(points.iter().copied(), style)))?
                .label(series.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            if self.markers {
                drawing(
                    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))),
                )?;
            }
        }
        drawing(
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 17))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(match self.legend {
                    Legend::UpperRight => SeriesLabelPosition::UpperRight,
                    Legend::LowerRight => SeriesLabelPosition::LowerRight,
                })
                .draw(),
        )
    }
}

/// A chart that [`run_charts`] draws from a run folder's CSV files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunChart {
    /// `schedule.<ext>`: LR and momentum per step, from `steps.csv`.
    Schedule,
    /// `training.<ext>`: losses and metrics, from `steps.csv` and `epochs.csv`.
    Training,
    /// `<stem>.<ext>` for every range test (`lr_find.csv`, `lr_find_wd*.csv`).
    LrFind,
}

/// Draws the `which` charts of run folder `dir` (all it has data for when `which` is empty)
/// as `<name>.<ext>` files in it; returns their paths.
pub fn run_charts(dir: &Path, ext: &str, which: &[RunChart]) -> Result<Vec<std::path::PathBuf>> {
    let has_steps = dir.join("steps.csv").is_file();
    let tests = crate::lr_find::read_range_tests(dir)?;
    let wanted = |c: RunChart| which.is_empty() || which.contains(&c);
    let mut out = Vec::new();
    if wanted(RunChart::Schedule) || wanted(RunChart::Training) {
        if has_steps {
            out.extend(training_charts(dir, ext, which)?);
        } else if !which.is_empty() {
            anyhow::bail!("{} has no steps.csv to draw from", dir.display());
        }
    }
    if wanted(RunChart::LrFind) {
        if tests.is_empty() && !which.is_empty() {
            anyhow::bail!("{} has no range test (lr_find*.csv)", dir.display());
        }
        for (stem, found) in &tests {
            let path = dir.join(format!("{stem}.{ext}"));
            crate::lr_find::save_chart(found, &format!("range test ({stem})"), &path)?;
            out.push(path);
        }
    }
    if out.is_empty() {
        anyhow::bail!("{} holds neither steps.csv nor lr_find.csv", dir.display());
    }
    Ok(out)
}

fn training_charts(dir: &Path, ext: &str, which: &[RunChart]) -> Result<Vec<std::path::PathBuf>> {
    let wanted = |c: RunChart| which.is_empty() || which.contains(&c);
    let history = crate::history::History::read(dir)?;
    let name = dir
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().into_owned());
    let mut out = Vec::new();
    if wanted(RunChart::Schedule) {
        let points: Vec<Point> = history
            .steps
            .iter()
            .map(|s| Point {
                lr: s.1,
                momentum: Some(s.2),
            })
            .collect();
        let schedule = dir.join(format!("schedule.{ext}"));
        save(
            &ScheduleChart {
                title: &format!("{name}: schedule as applied"),
                points: &points,
            },
            &schedule,
        )?;
        out.push(schedule);
    }
    if wanted(RunChart::Training) {
        let training = dir.join(format!("training.{ext}"));
        save(
            &TrainingChart {
                title: &format!("{name}: loss and metrics"),
                history: &history,
            },
            &training,
        )?;
        out.push(training);
    }
    Ok(out)
}
