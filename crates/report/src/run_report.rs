//! A run folder's `report.html`: config, summary, charts, each range test with its LR
//! suggestions, and the weight-decay comparison.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use record::range_test::{choose_wd, read_range_tests};
use record::run_dir::LR_FIND_WD;
use record::{History, LrFind, RunDir, Summary};

use crate::html::{
    best_index, escape, folder_name, format_metric, format_seconds, inline_svg, key_values,
    lower_is_better, page, table,
};
use crate::plot::{self, format_value};

/// What a run folder holds for its report.
struct Folder {
    name: String,
    history: Option<History>,
    tests: Vec<(String, LrFind)>,
    config: Option<String>,
    summary: Option<Summary>,
}

impl Folder {
    /// Reads the run folder; an error when it holds neither a history nor a range test.
    fn read(dir: &Path) -> Result<Folder> {
        if !dir.is_dir() {
            bail!("{} is not a run folder", dir.display());
        }
        let run = RunDir::new(dir);
        let history = if run.steps_csv().is_file() {
            Some(History::read(dir)?)
        } else {
            None
        };
        let tests = read_range_tests(dir)?;
        if history.is_none() && tests.is_empty() {
            bail!(
                "{} holds neither steps.csv nor lr_find.csv: nothing to report",
                dir.display()
            );
        }
        let config = match std::fs::read_to_string(run.config()) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", run.config().display())),
        };
        let summary = match history {
            Some(_) => Summary::read(&run.summary())?,
            None => None,
        };
        Ok(Folder {
            name: folder_name(dir),
            history,
            tests,
            config,
            summary,
        })
    }
}

/// The summary rows of a training history, with what `summary.json` adds.
fn run_summary(h: &History, fit: Option<&Summary>) -> Vec<(String, String)> {
    let seconds: f64 = h.epochs.iter().map(|e| e.seconds).sum();
    let mut rows = vec![
        ("epochs".to_string(), h.epochs.len().to_string()),
        ("iterations".to_string(), h.steps.len().to_string()),
        ("wall time (s)".to_string(), format_seconds(seconds)),
    ];
    if let Some(ips) = fit.and_then(Summary::throughput) {
        rows.push(("images/s".into(), format!("{ips:.1}")));
    }
    if let Some(last) = h.epochs.last() {
        rows.push(("final train loss".into(), format_metric(last.train_loss)));
        rows.push(("final valid loss".into(), format_metric(last.valid_loss)));
        let valid: Vec<f64> = h.epochs.iter().map(|e| e.valid_loss).collect();
        if let Some(b) = best_index(&valid, true) {
            rows.push((
                "best valid loss (epoch)".into(),
                format!("{} ({})", format_metric(valid[b]), h.epochs[b].epoch),
            ));
        }
    }
    for name in &h.metric_names {
        let values = h.metric(name).unwrap_or_default();
        if let Some(b) = best_index(&values, lower_is_better(name)) {
            rows.push((
                format!("best {name} (epoch)"),
                format!("{} ({})", format_metric(values[b]), h.epochs[b].epoch),
            ));
        }
        if let Some(v) = values.last() {
            rows.push((format!("final {name}"), format_metric(*v)));
        }
    }
    if let Some(tta) = fit.and_then(|f| f.tta_accuracy) {
        rows.push(("TTA accuracy".into(), format_metric(tta)));
    }
    if let Some(why) = fit.and_then(|f| f.stopped.as_ref()) {
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
        .zip(ends)
        .map(|(e, end)| {
            let mut row = vec![
                e.epoch.to_string(),
                format_metric(e.train_loss),
                format_metric(e.valid_loss),
            ];
            row.extend(e.metrics.iter().map(|v| format_metric(*v)));
            row.push(end.to_string());
            row.push(format_seconds(e.seconds));
            row
        })
        .collect();
    table(&header, &rows, &vec![true; header.len()])
}

/// The heading, then the summary table and `config.toml` side by side.
fn overview(dir: &Path, folder: &Folder) -> String {
    let mut body = format!("<h1>{}</h1>\n", escape(&folder.name));
    let _ = writeln!(
        body,
        "<p class=\"note\">{}</p>",
        escape(&dir.display().to_string())
    );
    if RunDir::new(dir).evaluation_html().is_file() {
        let _ = writeln!(
            body,
            "<p><a href=\"{}\">Evaluation</a>: confusion matrix, per-class scores and the \
             highest losses (<code>onecycle evaluate</code>).</p>",
            record::run_dir::EVALUATION_HTML
        );
    }
    body.push_str("<div class=\"row\">\n");
    if let Some(h) = &folder.history {
        body.push_str("<div>\n<h2>Summary</h2>\n");
        body.push_str(&key_values(&run_summary(h, folder.summary.as_ref())));
        body.push_str("</div>\n");
    }
    if let Some(text) = &folder.config {
        let _ = write!(
            body,
            "<div>\n<h2>config.toml</h2>\n<pre>{}</pre>\n</div>\n",
            escape(text)
        );
    }
    body.push_str("</div>\n");
    body
}

/// The training and schedule charts and the table of epochs.
fn training_section(h: &History) -> Result<String> {
    let points = plot::schedule_points(h);
    let mut out = String::from("<h2>Training</h2>\n");
    out.push_str(&inline_svg(&plot::TrainingChart {
        title: "loss and metrics",
        history: h,
    })?);
    out.push_str(&inline_svg(&plot::ScheduleChart {
        title: "schedule as applied",
        points: &points,
    })?);
    if !h.epochs.is_empty() {
        out.push_str("<details open>\n<summary>every epoch</summary>\n");
        out.push_str(&epochs_table(h));
        out.push_str("</details>\n");
    }
    Ok(out)
}

/// A range test's chart and its suggestions table.
fn range_test_section(stem: &str, found: &LrFind) -> Result<String> {
    let mut out = format!("<h2>Range test: {}.csv</h2>\n", escape(stem));
    let mut notes = vec![format!("{} iterations", found.rows.len())];
    if found.wd.is_finite() {
        notes.push(format!("weight decay {}", format_value(found.wd)));
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

/// The range tests at several weight decays overlaid, and which one is lowest (empty with fewer
/// than two).
fn weight_decay_section(tests: &[(String, LrFind)]) -> Result<String> {
    let by_wd: Vec<LrFind> = tests
        .iter()
        .filter(|(stem, _)| stem.starts_with(LR_FIND_WD))
        .map(|(_, f)| f.clone())
        .collect();
    if by_wd.len() < 2 {
        return Ok(String::new());
    }
    let mut out = String::from("<h2>Range tests by weight decay</h2>\n");
    let choice = choose_wd(&by_wd);
    out.push_str(&inline_svg(&plot::CompareChart::by_wd(
        "smoothed loss by weight decay",
        &by_wd,
        choice.as_ref().ok(),
    ))?);
    let line = match &choice {
        Ok(c) => format!(
            "weight decay {} has the lowest smoothed loss at lr {:.3e}",
            format_value(c.wd),
            c.lr
        ),
        Err(e) => format!("no comparison: {e:#}"),
    };
    let _ = writeln!(out, "<p>{}</p>", escape(&line));
    Ok(out)
}

/// Writes `dir/report.html` atomically: the run's config, summary table, schedule and training
/// charts, and each range test in the folder with its LR suggestions. A folder holding only a
/// range test gets a report too. Returns the file's path.
pub fn write_run_report(dir: &Path) -> Result<PathBuf> {
    let folder = Folder::read(dir)?;
    let mut body = overview(dir, &folder);
    let tune = RunDir::new(dir).tune_json();
    if tune.is_file() {
        let record = record::tune::TuneRecord::read(&tune)?;
        body.push_str(&crate::tune_report::tune_section(&record, &folder.tests)?);
    }
    if let Some(h) = &folder.history {
        body.push_str(&training_section(h)?);
    }
    for (stem, found) in &folder.tests {
        body.push_str(&range_test_section(stem, found)?);
    }
    body.push_str(&weight_decay_section(&folder.tests)?);
    let out = RunDir::new(dir).report();
    record::write_atomic(&out, page(&folder.name, &body).as_bytes())?;
    Ok(out)
}
