//! Several runs compared: a table of final and best values and of when each run reached target
//! values, and an HTML page with their curves overlaid on aligned axes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use record::{History, StepRow};
use serde::Serialize;

use crate::html::{
    best_index, escape, format_metric, format_seconds, inline_svg, lower_is_better, page, table,
};
use crate::plot::{format_value, Legend, OverlayChart, Series};

/// What a comparison shows and measures.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// The page's heading.
    pub title: String,
    /// The `epochs.csv` column compared (`accuracy`, or `valid_loss`, …).
    pub metric: String,
    /// Values of the metric to reach: the table gives the iterations and seconds each run took.
    pub targets: Vec<f64>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            title: "Run comparison".into(),
            metric: "accuracy".into(),
            targets: Vec::new(),
        }
    }
}

/// When a run first reached a target value of the metric (at an epoch's end).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReached {
    pub target: f64,
    /// The epoch (as numbered in `epochs.csv`), its cumulative iterations and cumulative wall
    /// time; `None` if the run never reached the target.
    pub epoch: Option<usize>,
    pub iterations: Option<usize>,
    pub seconds: Option<f64>,
}

/// One run of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    pub name: String,
    pub dir: PathBuf,
    pub epochs: usize,
    pub iterations: usize,
    /// Wall time of all epochs (the sum of `epochs.csv`'s seconds).
    pub seconds: f64,
    pub final_metric: Option<f64>,
    pub best_metric: Option<f64>,
    pub final_valid_loss: Option<f64>,
    /// One entry per target, in [`CompareOptions::targets`] order.
    pub targets: Vec<TargetReached>,
}

/// Runs side by side: what [`write_compare_report`] tabulates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareTable {
    pub metric: String,
    /// Whether smaller values of the metric are better (a target is then reached at or below).
    pub lower_is_better: bool,
    pub targets: Vec<f64>,
    pub rows: Vec<CompareRow>,
}

impl CompareTable {
    /// The table as GitHub markdown (`—` where a value is missing or a target was not reached).
    pub fn to_markdown(&self) -> String {
        let (header, rows) = self.cells();
        let mut out = format!("| {} |\n|", header.join(" | "));
        for i in 0..header.len() {
            out.push_str(if i == 0 { "---|" } else { "---:|" });
        }
        out.push('\n');
        for row in rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }

    /// The header and the rows as text, shared by the markdown and the HTML.
    fn cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let m = &self.metric;
        let mut header: Vec<String> = vec![
            "run".into(),
            "epochs".into(),
            "iterations".into(),
            "time (s)".into(),
            format!("final {m}"),
            format!("best {m}"),
            "final valid loss".into(),
        ];
        for t in &self.targets {
            let t = format_value(*t);
            header.push(format!("iterations to {t}"));
            header.push(format!("time to {t} (s)"));
        }
        let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), format_metric);
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.name.replace('|', "/"),
                    r.epochs.to_string(),
                    r.iterations.to_string(),
                    format_seconds(r.seconds),
                    opt(r.final_metric),
                    opt(r.best_metric),
                    opt(r.final_valid_loss),
                ];
                for t in &r.targets {
                    row.push(t.iterations.map_or_else(|| "—".into(), |i| i.to_string()));
                    row.push(t.seconds.map_or_else(|| "—".into(), format_seconds));
                }
                row
            })
            .collect();
        (header, rows)
    }
}

/// A run of a comparison: its name, folder and history.
struct Run {
    name: String,
    dir: PathBuf,
    history: History,
    /// The metric per epoch.
    metric: Vec<f64>,
    /// Iterations and wall time at each epoch's end.
    ends: Vec<usize>,
    seconds: Vec<f64>,
}

fn load_runs(runs: &[(String, PathBuf)], metric: &str) -> Result<Vec<Run>> {
    if runs.is_empty() {
        bail!("no runs to compare");
    }
    runs.iter()
        .map(|(name, dir)| {
            let history =
                History::read(dir).with_context(|| format!("run {name} ({})", dir.display()))?;
            if history.epochs.is_empty() {
                bail!(
                    "run {name} ({}) has no finished epoch in epochs.csv",
                    dir.display()
                );
            }
            let values = history.metric(metric).with_context(|| {
                format!(
                    "run {name} ({}) has no metric {metric:?} in epochs.csv (it has: train_loss, valid_loss{})",
                    dir.display(),
                    history.metric_names.iter().map(|n| format!(", {n}")).collect::<String>()
                )
            })?;
            Ok(Run {
                name: name.clone(),
                dir: dir.clone(),
                ends: history.epoch_end_steps(),
                seconds: history.epoch_end_seconds(),
                metric: values,
                history,
            })
        })
        .collect()
}

fn row(run: &Run, options: &CompareOptions, lower: bool) -> CompareRow {
    let h = &run.history;
    let reached = |v: f64, t: f64| if lower { v <= t } else { v >= t };
    let targets = options
        .targets
        .iter()
        .map(|&t| {
            let i = run.metric.iter().position(|&v| reached(v, t));
            TargetReached {
                target: t,
                epoch: i.map(|i| h.epochs[i].epoch),
                iterations: i.map(|i| run.ends[i]),
                seconds: i.map(|i| run.seconds[i]),
            }
        })
        .collect();
    let finite = |v: f64| Some(v).filter(|v| v.is_finite());
    CompareRow {
        name: run.name.clone(),
        dir: run.dir.clone(),
        epochs: h.epochs.len(),
        iterations: h.steps.len(),
        seconds: run.seconds.last().copied().unwrap_or(0.0),
        final_metric: run.metric.last().copied().and_then(finite),
        best_metric: best_index(&run.metric, lower).map(|i| run.metric[i]),
        final_valid_loss: h.epochs.last().and_then(|e| finite(e.valid_loss)),
        targets,
    }
}

/// The comparison table of `runs` (name, run folder) without writing anything.
pub fn compare_table(runs: &[(String, PathBuf)], options: &CompareOptions) -> Result<CompareTable> {
    let lower = lower_is_better(&options.metric);
    let loaded = load_runs(runs, &options.metric)?;
    Ok(table_of(&loaded, options, lower))
}

fn table_of(runs: &[Run], options: &CompareOptions, lower: bool) -> CompareTable {
    CompareTable {
        metric: options.metric.clone(),
        lower_is_better: lower,
        targets: options.targets.clone(),
        rows: runs.iter().map(|r| row(r, options, lower)).collect(),
    }
}

/// At most about `max` of `points`, evenly picked (keeping the last): per-step curves of long runs
/// stay small in SVG.
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    let every = points.len().div_ceil(max.max(1)).max(1);
    if every == 1 {
        return points;
    }
    let last = points.last().copied();
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(every).collect();
    if out.last().copied() != last {
        out.extend(last);
    }
    out
}

/// Each run's points as a [`Series`] labelled with its name.
fn series(runs: &[Run], f: impl Fn(&Run) -> Vec<(f64, f64)>) -> Vec<Series> {
    runs.iter()
        .map(|r| Series {
            label: r.name.clone(),
            points: f(r),
        })
        .collect()
}

/// A per-step value of each run at the iteration count after the step (1-based), thinned.
fn per_step(runs: &[Run], value: fn(&StepRow) -> f64) -> Vec<Series> {
    series(runs, |r| {
        let points = r
            .history
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| ((i + 1) as f64, value(s)))
            .collect();
        thin(points, 1500)
    })
}

/// Per-epoch values of each run at its own iterations (or seconds) by each epoch's end.
fn at_ends(runs: &[Run], values: fn(&Run) -> Vec<f64>, seconds: bool) -> Vec<Series> {
    series(runs, |r| {
        let x: Vec<f64> = if seconds {
            r.seconds.clone()
        } else {
            r.ends.iter().map(|&n| n as f64).collect()
        };
        x.into_iter().zip(values(r)).collect()
    })
}

/// The overlaid charts of a comparison, as inline SVG: smoothed training loss, validation loss,
/// the metric against iterations and against wall time, and the learning rate.
fn curves(runs: &[Run], metric: &str, lower: bool) -> Result<String> {
    let valid_loss = |r: &Run| r.history.epochs.iter().map(|e| e.valid_loss).collect();
    let metric_of = |r: &Run| r.metric.clone();
    let metric_legend = if lower {
        Legend::UpperRight
    } else {
        Legend::LowerRight
    };
    let chart = |title: &str, x_desc, y_desc, series: &[Series], markers, clip_high, legend| {
        inline_svg(&OverlayChart {
            title,
            x_desc,
            y_desc,
            series,
            markers,
            clip_high,
            legend,
        })
    };
    let charts = [
        chart(
            "smoothed training loss",
            "iteration",
            "loss",
            &per_step(runs, |s| s.smooth_loss),
            false,
            true,
            Legend::UpperRight,
        )?,
        chart(
            "validation loss (epoch ends)",
            "iteration",
            "loss",
            &at_ends(runs, valid_loss, false),
            true,
            true,
            Legend::UpperRight,
        )?,
        chart(
            &format!("{metric} (epoch ends)"),
            "iteration",
            metric,
            &at_ends(runs, metric_of, false),
            true,
            false,
            metric_legend,
        )?,
        chart(
            &format!("{metric} against wall time"),
            "seconds",
            metric,
            &at_ends(runs, metric_of, true),
            true,
            false,
            metric_legend,
        )?,
        chart(
            "learning rate as applied",
            "iteration",
            "learning rate",
            &per_step(runs, |s| s.lr),
            false,
            false,
            Legend::UpperRight,
        )?,
    ];
    Ok(charts.concat())
}

/// Writes `out_html` atomically, comparing `runs` (display name, run folder): the smoothed
/// training loss, validation loss, metric and LR against iterations, and the metric against wall
/// time, all runs overlaid (epoch `e` of a run sits at that run's cumulative iterations and
/// seconds at the end of `e`); then the table, which is also returned.
pub fn write_compare_report(
    runs: &[(String, PathBuf)],
    options: &CompareOptions,
    out_html: &Path,
) -> Result<CompareTable> {
    let lower = lower_is_better(&options.metric);
    let loaded = load_runs(runs, &options.metric)?;
    let compared = table_of(&loaded, options, lower);
    let metric = options.metric.as_str();
    let mut body = format!("<h1>{}</h1>\n", escape(&options.title));
    let direction = if lower { "at or below" } else { "at or above" };
    let _ = writeln!(
        body,
        "<p class=\"note\">{} runs compared on {}. Iterations and time to a target: at the end of \
         the first epoch whose {} is {} it (cumulative wall time of epochs.csv).</p>",
        loaded.len(),
        escape(metric),
        escape(metric),
        direction
    );
    let (header, rows) = compared.cells();
    let mut numeric = vec![true; header.len()];
    numeric[0] = false;
    body.push_str(&table(&header, &rows, &numeric));
    body.push_str("<h2>Curves</h2>\n");
    body.push_str(&curves(&loaded, metric, lower)?);
    body.push_str("<h2>Run folders</h2>\n");
    let folders: Vec<Vec<String>> = loaded
        .iter()
        .map(|r| vec![r.name.clone(), r.dir.display().to_string()])
        .collect();
    let header = ["run", "folder"].map(String::from);
    body.push_str(&table(&header, &folders, &[false, false]));
    record::atomic::create_parent(out_html)?;
    record::write_atomic(out_html, page(&options.title, &body).as_bytes())?;
    Ok(compared)
}
