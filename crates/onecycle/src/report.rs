//! Self-contained HTML reports (inline SVG charts and CSS; no scripts, nothing fetched): a run
//! folder's `report.html` (config, summary, charts, range-test suggestions), and several runs
//! compared side by side with their curves overlaid on aligned axes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::history::History;
use crate::lr_find::{self, LrFind};
use crate::plot::{self, Figure, Legend, OverlayChart, Series};

/// Escapes `text` for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether smaller values of `metric` are better (losses, error rates, perplexity); accuracies
/// and the like are better when larger.
pub fn lower_is_better(metric: &str) -> bool {
    let m = metric.to_ascii_lowercase();
    ["loss", "error", "perplexity", "mse", "mae", "rmse"]
        .iter()
        .any(|w| m.contains(w))
}

/// A metric value as the reports print it: four decimals.
pub fn format_metric(v: f64) -> String {
    format!("{v:.4}")
}

/// Seconds as the reports print them: one decimal.
pub fn format_seconds(v: f64) -> String {
    format!("{v:.1}")
}

fn folder_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned())
}

/// The page around `body`: inline CSS, nothing loaded from elsewhere.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

const CSS: &str = "\
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; color: #222; \
margin: 24px auto; max-width: 1040px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { font-size: 20px; margin-top: 32px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
p.note { color: #555; font-size: 14px; margin-top: 4px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { white-space: nowrap; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 8px 12px; font-size: 13px; \
overflow-x: auto; margin: 8px 0; }
figure { margin: 16px 0; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid #eee; }
details summary { cursor: pointer; color: #335; margin: 8px 0; }
";

/// `figure` as an inline `<svg>` element (the XML prolog dropped).
fn inline_svg(figure: &impl Figure) -> Result<String> {
    let svg = plot::to_svg(figure)?;
    let start = svg.find("<svg").unwrap_or(0);
    Ok(format!("<figure>\n{}\n</figure>\n", &svg[start..]))
}

/// A two-column table of names and values.
fn key_values(rows: &[(String, String)]) -> String {
    let mut out = String::from("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td class=\"num\">{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    out.push_str("</table>\n");
    out
}

/// A table with a header row; `numeric[i]` right-aligns column `i`.
fn table(header: &[String], rows: &[Vec<String>], numeric: &[bool]) -> String {
    let mut out = String::from("<table>\n<tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if numeric.get(i).copied().unwrap_or(false) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The values of `metric` per epoch: a metric column of `epochs.csv`, or `train_loss` /
/// `valid_loss`; `None` when the history has no such column.
fn metric_values(h: &History, metric: &str) -> Option<Vec<f64>> {
    match metric {
        "train_loss" => Some(h.epochs.iter().map(|e| e.1).collect()),
        "valid_loss" => Some(h.epochs.iter().map(|e| e.2).collect()),
        _ => {
            let k = h.metric_names.iter().position(|n| n == metric)?;
            Some(h.epochs.iter().map(|e| e.3[k]).collect())
        }
    }
}

/// The index of the best finite value (the largest, or the smallest for `lower`), if any.
fn best_index(values: &[f64], lower: bool) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .fold(None, |best: Option<(usize, f64)>, (i, &v)| match best {
            Some((_, b)) if (lower && v >= b) || (!lower && v <= b) => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// The fields of a training run's `summary.json` (the serialized `FitReport`) that reports show.
#[derive(Debug, Default)]
struct FitSummary {
    images_per_sec: Option<f64>,
    tta_accuracy: Option<f64>,
    stopped: Option<String>,
}

fn read_summary(dir: &Path) -> Result<FitSummary> {
    let path = dir.join("summary.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(FitSummary::default());
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok(FitSummary {
        images_per_sec: v.get("images_per_sec").and_then(|x| x.as_f64()),
        tta_accuracy: v.get("tta_accuracy").and_then(|x| x.as_f64()),
        stopped: v
            .get("stopped")
            .and_then(|x| x.as_str())
            .map(str::to_string),
    })
}

/// The summary rows of a training history.
fn run_summary(h: &History, fit: &FitSummary) -> Vec<(String, String)> {
    let mut rows = vec![
        ("epochs".to_string(), h.epochs.len().to_string()),
        ("iterations".to_string(), h.steps.len().to_string()),
        (
            "wall time (s)".to_string(),
            format_seconds(h.epoch_seconds.iter().sum()),
        ),
    ];
    if let Some(ips) = fit.images_per_sec {
        rows.push(("images/s".into(), format!("{ips:.1}")));
    }
    if let Some(last) = h.epochs.last() {
        rows.push(("final train loss".into(), format_metric(last.1)));
        rows.push(("final valid loss".into(), format_metric(last.2)));
        if let Some(b) = best_index(&h.epochs.iter().map(|e| e.2).collect::<Vec<_>>(), true) {
            rows.push((
                "best valid loss (epoch)".into(),
                format!("{} ({})", format_metric(h.epochs[b].2), h.epochs[b].0),
            ));
        }
    }
    for (k, name) in h.metric_names.iter().enumerate() {
        let values: Vec<f64> = h.epochs.iter().map(|e| e.3[k]).collect();
        if let Some(b) = best_index(&values, lower_is_better(name)) {
            rows.push((
                format!("best {name} (epoch)"),
                format!("{} ({})", format_metric(values[b]), h.epochs[b].0),
            ));
        }
        if let Some(v) = values.last() {
            rows.push((format!("final {name}"), format_metric(*v)));
        }
    }
    if let Some(tta) = fit.tta_accuracy {
        rows.push(("TTA accuracy".into(), format_metric(tta)));
    }
    if let Some(why) = &fit.stopped {
        rows.push(("stopped early".into(), why.clone()));
    }
    rows
}

/// Every epoch's row of `epochs.csv`.
fn epochs_table(h: &History) -> String {
    let mut header: Vec<String> = ["epoch", "train loss", "valid loss"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(h.metric_names.iter().cloned());
    header.extend(["iterations".to_string(), "seconds".to_string()]);
    let ends = h.epoch_end_steps();
    let rows: Vec<Vec<String>> = h
        .epochs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut row = vec![e.0.to_string(), format_metric(e.1), format_metric(e.2)];
            row.extend(e.3.iter().map(|v| format_metric(*v)));
            row.push(ends[i].to_string());
            row.push(format_seconds(
                h.epoch_seconds.get(i).copied().unwrap_or(f64::NAN),
            ));
            row
        })
        .collect();
    table(&header, &rows, &vec![true; header.len()])
}

/// A range test's chart and its suggestions table.
fn range_test_section(stem: &str, found: &LrFind) -> Result<String> {
    let mut out = format!("<h2>Range test: {}.csv</h2>\n", escape(stem));
    let mut notes = vec![format!("{} iterations", found.rows.len())];
    if found.wd.is_finite() {
        notes.push(format!("weight decay {}", plot::format_value(found.wd)));
    }
    if found.seconds.is_finite() {
        notes.push(format!("{} s", format_seconds(found.seconds)));
    }
    if let Some(why) = &found.stopped {
        notes.push(format!("stopped: {why}"));
    }
    let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&notes.join(", ")));
    let all = found.suggestions();
    let suggestions: Vec<schedule::Suggestion> =
        all.iter().filter_map(|(_, s)| s.clone().ok()).collect();
    out.push_str(&inline_svg(&plot::LrFindChart {
        title: "range test",
        result: found,
        suggestions: &suggestions,
    })?);
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|(rule, s)| {
            let lr = match s {
                Ok(s) => format!("{:.3e}", s.lr),
                Err(e) => format!("none: {e}"),
            };
            vec![
                rule.name().to_string(),
                lr,
                schedule::Rule::explain(*rule).to_string(),
            ]
        })
        .collect();
    let header = ["rule", "suggested LR", "how"].map(String::from);
    out.push_str(&table(&header, &rows, &[false, true, false]));
    Ok(out)
}

/// Writes `dir/report.html`: the run's config, summary table, schedule and training charts,
/// and each range test in the folder with its LR suggestions. A folder holding only a range
/// test gets a report too. Returns the file's path.
pub fn write_run_report(dir: &Path) -> Result<PathBuf> {
    if !dir.is_dir() {
        bail!("{} is not a run folder", dir.display());
    }
    let name = folder_name(dir);
    let history = if dir.join("steps.csv").is_file() {
        Some(History::read(dir)?)
    } else {
        None
    };
    let tests = lr_find::read_range_tests(dir)?;
    if history.is_none() && tests.is_empty() {
        bail!(
            "{} holds neither steps.csv nor lr_find.csv: nothing to report",
            dir.display()
        );
    }
    let config_path = dir.join("config.toml");
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", config_path.display())),
    };

    let mut body = format!("<h1>{}</h1>\n", escape(&name));
    let _ = writeln!(
        body,
        "<p class=\"note\">{}</p>",
        escape(&dir.display().to_string())
    );
    body.push_str("<div class=\"row\">\n");
    if let Some(h) = &history {
        let fit = read_summary(dir)?;
        body.push_str("<div>\n<h2>Summary</h2>\n");
        body.push_str(&key_values(&run_summary(h, &fit)));
        body.push_str("</div>\n");
    }
    if let Some(text) = &config {
        let _ = write!(
            body,
            "<div>\n<h2>config.toml</h2>\n<pre>{}</pre>\n</div>\n",
            escape(text)
        );
    }
    body.push_str("</div>\n");
    if let Some(h) = &history {
        let points: Vec<schedule::Point> = h
            .steps
            .iter()
            .map(|s| schedule::Point {
                lr: s.1,
                momentum: Some(s.2),
            })
            .collect();
        body.push_str("<h2>Training</h2>\n");
        body.push_str(&inline_svg(&plot::TrainingChart {
            title: "loss and metrics",
            history: h,
        })?);
        body.push_str(&inline_svg(&plot::ScheduleChart {
            title: "schedule as applied",
            points: &points,
        })?);
        if !h.epochs.is_empty() {
            body.push_str("<details open>\n<summary>every epoch</summary>\n");
            body.push_str(&epochs_table(h));
            body.push_str("</details>\n");
        }
    }
    for (stem, found) in &tests {
        body.push_str(&range_test_section(stem, found)?);
    }
    let by_wd: Vec<LrFind> = tests
        .iter()
        .filter(|(stem, _)| stem.starts_with("lr_find_wd"))
        .map(|(_, f)| f.clone())
        .collect();
    if by_wd.len() > 1 {
        body.push_str("<h2>Range tests by weight decay</h2>\n");
        let choice = lr_find::choose_wd(&by_wd);
        body.push_str(&inline_svg(&plot::WdChart {
            title: "smoothed loss by weight decay",
            runs: &by_wd,
            choice: choice.as_ref().ok(),
        })?);
        let line = match &choice {
            Ok(c) => format!(
                "weight decay {} has the lowest smoothed loss at lr {:.3e}",
                plot::format_value(c.wd),
                c.lr
            ),
            Err(e) => format!("no comparison: {e:#}"),
        };
        let _ = writeln!(body, "<p>{}</p>", escape(&line));
    }
    let out = dir.join("report.html");
    crate::checkpoint::write_atomic(&out, page(&name, &body).as_bytes())?;
    Ok(out)
}

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
            let t = plot::format_value(*t);
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
            let values = metric_values(&history, metric).with_context(|| {
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
                epoch: i.map(|i| h.epochs[i].0),
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
        final_valid_loss: h.epochs.last().and_then(|e| finite(e.2)),
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

/// Writes `out_html`, comparing `runs` (display name, run folder): the smoothed training loss,
/// validation loss, metric and LR against iterations, and the metric against wall time, all runs
/// overlaid (epoch `e` of a run sits at that run's cumulative iterations and seconds at the end of
/// `e`); then the table, which is also returned.
pub fn write_compare_report(
    runs: &[(String, PathBuf)],
    options: &CompareOptions,
    out_html: &Path,
) -> Result<CompareTable> {
    let lower = lower_is_better(&options.metric);
    let loaded = load_runs(runs, &options.metric)?;
    let compared = table_of(&loaded, options, lower);
    let metric = options.metric.as_str();

    // Step-level series sit at the iteration count after the step (1-based), epoch-level ones at
    // the iterations done by the epoch's end.
    let series = |f: &dyn Fn(&Run) -> Vec<(f64, f64)>| -> Vec<Series> {
        loaded
            .iter()
            .map(|r| Series {
                label: r.name.clone(),
                points: f(r),
            })
            .collect()
    };
    let per_step = |k: fn(&(usize, f64, f64, f64, f64)) -> f64| {
        move |r: &Run| {
            let points = r
                .history
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| ((i + 1) as f64, k(s)))
                .collect();
            thin(points, 1500)
        }
    };
    let at_ends = |values: &dyn Fn(&Run) -> Vec<f64>, x: &dyn Fn(&Run) -> Vec<f64>| {
        series(&|r| x(r).into_iter().zip(values(r)).collect())
    };
    let iterations = |r: &Run| r.ends.iter().map(|&n| n as f64).collect::<Vec<f64>>();
    let seconds = |r: &Run| r.seconds.clone();
    let valid_loss = |r: &Run| r.history.epochs.iter().map(|e| e.2).collect::<Vec<f64>>();
    let metric_of = |r: &Run| r.metric.clone();
    let metric_legend = if lower {
        Legend::UpperRight
    } else {
        Legend::LowerRight
    };

    let charts = [
        OverlayChart {
            title: "smoothed training loss",
            x_desc: "iteration",
            y_desc: "loss",
            series: &series(&per_step(|s| s.4)),
            markers: false,
            clip_high: true,
            legend: Legend::UpperRight,
        },
        OverlayChart {
            title: "validation loss (epoch ends)",
            x_desc: "iteration",
            y_desc: "loss",
            series: &at_ends(&valid_loss, &iterations),
            markers: true,
            clip_high: true,
            legend: Legend::UpperRight,
        },
        OverlayChart {
            title: &format!("{metric} (epoch ends)"),
            x_desc: "iteration",
            y_desc: metric,
            series: &at_ends(&metric_of, &iterations),
            markers: true,
            clip_high: false,
            legend: metric_legend,
        },
        OverlayChart {
            title: &format!("{metric} against wall time"),
            x_desc: "seconds",
            y_desc: metric,
            series: &at_ends(&metric_of, &seconds),
            markers: true,
            clip_high: false,
            legend: metric_legend,
        },
        OverlayChart {
            title: "learning rate as applied",
            x_desc: "iteration",
            y_desc: "learning rate",
            series: &series(&per_step(|s| s.1)),
            markers: false,
            clip_high: false,
            legend: Legend::UpperRight,
        },
    ];

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
    for chart in &charts {
        body.push_str(&inline_svg(chart)?);
    }
    body.push_str("<h2>Run folders</h2>\n");
    let folders: Vec<Vec<String>> = loaded
        .iter()
        .map(|r| vec![r.name.clone(), r.dir.display().to_string()])
        .collect();
    let header = ["run", "folder"].map(String::from);
    body.push_str(&table(&header, &folders, &[false, false]));

    if let Some(parent) = out_html.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    crate::checkpoint::write_atomic(out_html, page(&options.title, &body).as_bytes())?;
    Ok(compared)
}
