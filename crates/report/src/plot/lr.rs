//! Range-test charts: loss against the learning rate on a log axis, with suggestions marked.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use record::range_test::WdChoice;
use record::tune::Comparison;
use record::{LrFind, LrFindRow};
use schedule::Suggestion;

use super::{drawing, format_value, legend_line, loss_span, padded_range, Figure, PALETTE, WIDTH};

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

/// One panel: a caption, the y axis's name and range, its lines and marks.
struct Panel {
    caption: String,
    y_desc: String,
    y: std::ops::Range<f64>,
    lines: Vec<Line>,
    marks: Vec<Mark>,
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

/// [`loss_span`] of every point of `lines`.
fn lines_span(lines: &[Line], first: f64) -> std::ops::Range<f64> {
    loss_span(lines.iter().flat_map(|l| l.points.iter()), first)
}

/// Draws `panel` against a log LR axis `x` on `area`, clipping values to its y range.
fn lr_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: std::ops::Range<f64>,
    panel: Panel,
) -> Result<()> {
    let y = panel.y;
    let mut chart = drawing(
        ChartBuilder::on(area)
            .caption(&panel.caption, ("sans-serif", 20))
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
            .y_desc(&panel.y_desc)
            .y_label_formatter(&|v| format_value(*v))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw(),
    )?;
    let clip = |v: f64| v.clamp(y.start, y.end);
    for line in panel.lines {
        let style = line.color.stroke_width(line.width);
        let points: Vec<(f64, f64)> = line
            .points
            .into_iter()
            .filter(|p| p.1.is_finite())
            .map(|(a, b)| (a, clip(b)))
            .collect();
        drawing(chart.draw_series(LineSeries::new(points, style)))?
            .label(line.label)
            .legend(legend_line(style));
    }
    for mark in panel.marks {
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
    pub result: &'a LrFind,
    pub suggestions: &'a [Suggestion],
}

impl LrFindChart<'_> {
    fn panels(&self) -> usize {
        if self.result.has_validation() {
            2 + self.result.metric_names.len()
        } else {
            1
        }
    }

    /// `(lr, f(row))` for every row.
    fn series(&self, f: impl Fn(&LrFindRow) -> f64) -> Vec<(f64, f64)> {
        self.result.rows.iter().map(|r| (r.lr, f(r))).collect()
    }

    /// The training loss, raw and smoothed, with every suggestion marked.
    fn training_panel(&self) -> Panel {
        let first = self.result.rows.first().map_or(f64::NAN, |r| r.smooth_loss);
        let lines = vec![
            Line {
                label: "loss".into(),
                color: RGBColor(170, 200, 230),
                width: 1,
                points: self.series(|r| r.loss),
            },
            Line {
                label: "smoothed loss".into(),
                color: PALETTE[0],
                width: 2,
                points: self.series(|r| r.smooth_loss),
            },
        ];
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
        Panel {
            caption,
            y_desc: "training loss".into(),
            y: lines_span(&lines, first),
            lines,
            marks,
        }
    }

    /// The validation loss on the next batch after each step, raw and smoothed.
    fn validation_panel(&self) -> Panel {
        let first = self.result.rows.first().and_then(|r| r.val_smooth_loss);
        let lines = vec![
            Line {
                label: "validation loss (next batch)".into(),
                color: RGBColor(250, 200, 160),
                width: 1,
                points: self.series(|r| r.val_loss.unwrap_or(f64::NAN)),
            },
            Line {
                label: "smoothed".into(),
                color: PALETTE[1],
                width: 2,
                points: self.series(|r| r.val_smooth_loss.unwrap_or(f64::NAN)),
            },
        ];
        Panel {
            caption: "validation loss".into(),
            y_desc: "loss".into(),
            y: lines_span(&lines, first.unwrap_or(f64::NAN)),
            lines,
            marks: Vec::new(),
        }
    }

    /// Metric `m` on the next validation batch after each step.
    fn metric_panel(&self, m: usize, name: &str) -> Panel {
        let points = self.series(|r| r.metrics.get(m).copied().unwrap_or(f64::NAN));
        let y = padded_range(points.iter().map(|p| p.1).filter(|v| v.is_finite()));
        Panel {
            caption: name.to_string(),
            y_desc: name.to_string(),
            y,
            lines: vec![Line {
                label: name.to_string(),
                color: PALETTE[2 + m % 6],
                width: 2,
                points,
            }],
            marks: Vec::new(),
        }
    }
}

impl Figure for LrFindChart<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 500 + 260 * (self.panels() as u32 - 1))
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let x = lr_span(self.result.rows.iter().map(|r| r.lr));
        let extra = self.panels() - 1;
        let (top, rest) = area.split_vertically(500);
        lr_panel(&top, x.clone(), self.training_panel())?;
        if extra == 0 {
            return Ok(());
        }
        let panels = rest.split_evenly((extra, 1));
        lr_panel(&panels[0], x.clone(), self.validation_panel())?;
        for (m, name) in self.result.metric_names.iter().enumerate() {
            lr_panel(&panels[1 + m], x.clone(), self.metric_panel(m, name))?;
        }
        Ok(())
    }
}

/// Range tests at several weight decays (or constant momentums) overlaid (smoothed loss), with
/// each test's loss at the comparison LR of [`Comparison`] marked.
pub struct CompareChart<'a> {
    pub title: &'a str,
    pub runs: &'a [LrFind],
    pub choice: Option<Comparison>,
    /// Each test's legend entry.
    pub label: fn(&LrFind) -> String,
}

impl<'a> CompareChart<'a> {
    /// Tests that differ in weight decay, with [`WdChoice`]'s pick.
    pub fn by_wd(title: &'a str, runs: &'a [LrFind], choice: Option<&WdChoice>) -> Self {
        CompareChart {
            title,
            runs,
            choice: choice.map(|c| Comparison {
                index: c.index,
                lr: c.lr,
                losses: c.losses.clone(),
            }),
            label: |run| format!("wd {}", format_value(run.wd)),
        }
    }

    /// Tests at constant momentums, with their comparison.
    pub fn by_momentum(title: &'a str, runs: &'a [LrFind], choice: Option<Comparison>) -> Self {
        CompareChart {
            title,
            runs,
            choice,
            label: |run| match run.options.momentum {
                Some(m) => format!("momentum {}", format_value(m)),
                None => "momentum as configured".into(),
            },
        }
    }

    /// Each run's loss at the comparison LR; the chosen one labelled.
    fn marks(&self) -> Vec<Mark> {
        let Some(c) = &self.choice else {
            return Vec::new();
        };
        c.losses
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
            .collect()
    }
}

impl Figure for CompareChart<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let x = lr_span(self.runs.iter().flat_map(|r| r.rows.iter().map(|p| p.lr)));
        let lines: Vec<Line> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| Line {
                label: (self.label)(run),
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
        let panel = Panel {
            caption: self.title.to_string(),
            y_desc: "smoothed training loss".into(),
            y: lines_span(&lines, first),
            lines,
            marks: self.marks(),
        };
        lr_panel(area, x, panel)
    }
}
