//! Charts of a training run against the step: the schedule as applied, and the losses and metrics.

use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use record::History;
use schedule::Point;

use super::{drawing, format_value, legend_line, padded_range, Figure, WIDTH};

/// The schedule as applied, one point per step row of the history: what [`ScheduleChart`] draws.
pub fn schedule_points(history: &History) -> Vec<Point> {
    history
        .steps
        .iter()
        .map(|s| Point {
            lr: s.lr,
            momentum: Some(s.momentum),
        })
        .collect()
}

/// Learning rate (left axis) and momentum (right axis, when scheduled) against the step.
pub struct ScheduleChart<'a> {
    pub title: &'a str,
    pub points: &'a [Point],
}

impl ScheduleChart<'_> {
    /// `(step, momentum)` where the schedule sets a momentum.
    fn momenta(&self) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.momentum.map(|m| (i as f64, m)))
            .collect()
    }
}

impl Figure for ScheduleChart<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let lr_max = self.points.iter().map(|p| p.lr).fold(0.0, f64::max);
        let moms = self.momenta();
        // Head-room above both curves keeps the legend clear of them.
        let mom_range = padded_range(moms.iter().map(|&(_, m)| m));
        let mom_range = mom_range.start..mom_range.end + (mom_range.end - mom_range.start) * 0.25;
        let x_end = self.points.len().saturating_sub(1).max(1) as f64;
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
        let lr_style = RGBColor(31, 119, 180).stroke_width(2);
        let lrs = self
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, p.lr));
        drawing(chart.draw_series(LineSeries::new(lrs, lr_style)))?
            .label("learning rate")
            .legend(legend_line(lr_style));
        if !moms.is_empty() {
            drawing(
                chart
                    .configure_secondary_axes()
                    .y_desc("momentum")
                    .label_style(("sans-serif", 15))
                    .axis_desc_style(("sans-serif", 18))
                    .draw(),
            )?;
            let mom_style = RGBColor(255, 127, 14).stroke_width(2);
            drawing(chart.draw_secondary_series(LineSeries::new(moms, mom_style)))?
                .label("momentum")
                .legend(legend_line(mom_style));
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

/// A training run: the loss per step (raw and smoothed) with the validation loss at each epoch's
/// end, and each metric per epoch below it, all against the step.
pub struct TrainingChart<'a> {
    pub title: &'a str,
    pub history: &'a History,
}

impl TrainingChart<'_> {
    /// The last step of each epoch (epochs may differ in length): where its values are drawn.
    fn epoch_ends(&self) -> Vec<f64> {
        self.history
            .epoch_end_steps()
            .iter()
            .map(|&n| n.max(1) as f64 - 1.0)
            .collect()
    }

    /// `(last step of the epoch, f(epoch))` for every epoch with a finite value.
    fn at_epoch_ends(&self, f: impl Fn(&record::EpochRow) -> f64) -> Vec<(f64, f64)> {
        self.history
            .epochs
            .iter()
            .zip(self.epoch_ends())
            .map(|(e, x)| (x, f(e)))
            .filter(|p| p.1.is_finite())
            .collect()
    }

    /// The top panel: training loss per step, raw and smoothed, and the validation loss.
    fn draw_losses<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let h = self.history;
        let losses = h
            .steps
            .iter()
            .flat_map(|s| [s.loss, s.smooth_loss])
            .chain(h.epochs.iter().map(|e| e.valid_loss));
        let range = padded_range(losses.filter(|v| v.is_finite()));
        let mut chart = drawing(
            ChartBuilder::on(area)
                .caption(self.title, ("sans-serif", 22))
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..self.x_end(), range),
        )?;
        step_mesh(&mut chart, "loss")?;
        let raw = RGBColor(31, 119, 180).mix(0.35);
        let smooth = RGBColor(31, 119, 180).stroke_width(2);
        let valid = RGBColor(214, 39, 40);
        let step =
            |f: fn(&record::StepRow) -> f64| h.steps.iter().map(move |s| (s.step as f64, f(s)));
        drawing(chart.draw_series(LineSeries::new(step(|s| s.loss), raw)))?
            .label("training loss")
            .legend(legend_line(raw.into()));
        drawing(chart.draw_series(LineSeries::new(step(|s| s.smooth_loss), smooth)))?
            .label("smoothed training loss")
            .legend(legend_line(smooth));
        let val = self.at_epoch_ends(|e| e.valid_loss);
        drawing(chart.draw_series(LineSeries::new(val.iter().copied(), valid.stroke_width(2))))?
            .label("validation loss")
            .legend(legend_line(valid.stroke_width(2)));
        drawing(chart.draw_series(val.iter().map(|&p| Circle::new(p, 4, valid.filled()))))?;
        drawing(
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw(),
        )
    }

    /// A lower panel: metric `k` at each epoch's end.
    fn draw_metric<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        k: usize,
        name: &str,
    ) -> Result<()> {
        let points = self.at_epoch_ends(|e| e.metrics[k]);
        let mut chart = drawing(
            ChartBuilder::on(area)
                .caption(name, ("sans-serif", 18))
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..self.x_end(), padded_range(points.iter().map(|p| p.1))),
        )?;
        step_mesh(&mut chart, name)?;
        let color = RGBColor(44, 160, 44);
        drawing(chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        )))?;
        drawing(chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled()))))?;
        Ok(())
    }

    fn x_end(&self) -> f64 {
        self.history.steps.len().max(2) as f64
    }
}

/// The grid and axes of a panel against the step.
fn step_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    y_desc: &str,
) -> Result<()> {
    drawing(
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(y_desc)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format_value(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw(),
    )
}

impl Figure for TrainingChart<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 420 + 260 * self.history.metric_names.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        drawing(area.fill(&WHITE))?;
        let (top, rest) = area.split_vertically(420);
        self.draw_losses(&top)?;
        let panels = self.history.metric_names.len();
        if panels == 0 {
            return Ok(());
        }
        for (k, (panel, name)) in rest
            .split_evenly((panels, 1))
            .iter()
            .zip(&self.history.metric_names)
            .enumerate()
        {
            self.draw_metric(panel, k, name)?;
        }
        Ok(())
    }
}
