//! Several runs' lines on shared axes: the comparison charts.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{drawing, format_value, legend_line, loss_span, padded_range, Figure, PALETTE, WIDTH};

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

fn finite(p: &&(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

impl OverlayChart<'_> {
    /// Every finite point of every series.
    fn points(&self) -> impl Iterator<Item = &(f64, f64)> + '_ {
        self.series
            .iter()
            .flat_map(|s| s.points.iter().filter(finite))
    }

    /// The x range over all series.
    fn x_range(&self) -> std::ops::Range<f64> {
        let start = self.points().map(|p| p.0).fold(0.0, f64::min);
        let end = self.points().map(|p| p.0).fold(1.0, f64::max);
        start..end
    }

    /// The y range: padded, or clipped to the interesting part; with head-room for the legend
    /// above (or below) the curves.
    fn y_range(&self) -> std::ops::Range<f64> {
        let y = if self.clip_high {
            // The lowest first value keeps the usual start of the curves in view, while a run
            // whose first epoch went astray is clipped.
            let first = self
                .series
                .iter()
                .filter_map(|s| s.points.iter().find(finite).map(|p| p.1))
                .fold(f64::INFINITY, f64::min);
            loss_span(self.series.iter().flat_map(|s| s.points.iter()), first)
        } else {
            padded_range(self.points().map(|p| p.1))
        };
        let room = (y.end - y.start) * 0.06 * self.series.len().min(8) as f64;
        match self.legend {
            Legend::UpperRight => y.start..y.end + room,
            Legend::LowerRight => y.start - room..y.end,
        }
    }
}

impl Figure for OverlayChart<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 480)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let x = self.x_range();
        let y = self.y_range();
        let mut chart = drawing(
            ChartBuilder::on(area)
                .caption(self.title, ("sans-serif", 22))
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(80)
                .build_cartesian_2d(x.clone(), y.clone()),
        )?;
        let wide = x.end - x.start >= 20.0;
        drawing(
            chart
                .configure_mesh()
                .x_desc(self.x_desc)
                .y_desc(self.y_desc)
                .x_label_formatter(&|v| {
                    if wide {
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
                .legend(legend_line(style));
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
