//! The run's history as typed rows: `steps.csv` (one row per training step, with the LR and
//! momentum actually applied) and `epochs.csv` (one row per epoch), their headers, the exact
//! text of a row (shortest round-trip floats), reading them back, and cutting them on resume.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::run_dir::RunDir;

pub const STEPS_HEADER: &str = "epoch,step,lr,momentum,loss,smooth_loss";
/// The extra last column of `steps.csv` in fp16 runs: 1 where the loss scaler skipped the step.
pub const SKIPPED_COLUMN: &str = "skipped";

/// One row of `steps.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRow {
    pub epoch: usize,
    /// The global step index.
    pub step: usize,
    pub lr: f64,
    pub momentum: f64,
    pub loss: f64,
    pub smooth_loss: f64,
    /// `Some` in files with the [`SKIPPED_COLUMN`] (fp16 runs).
    pub skipped: Option<bool>,
}

impl StepRow {
    /// The row's line (no newline), floats in their shortest round-trip form.
    pub fn to_line(&self) -> String {
        let mut out = format!(
            "{},{},{:?},{:?},{:?},{:?}",
            self.epoch, self.step, self.lr, self.momentum, self.loss, self.smooth_loss
        );
        if let Some(skipped) = self.skipped {
            let _ = write!(out, ",{}", u8::from(skipped));
        }
        out
    }
}

/// The header line of `steps.csv`, with the skipped column for fp16 runs.
pub fn steps_header(skipped: bool) -> String {
    if skipped {
        format!("{STEPS_HEADER},{SKIPPED_COLUMN}")
    } else {
        STEPS_HEADER.to_string()
    }
}

/// One row of `epochs.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_loss: f64,
    /// In the order of [`History::metric_names`].
    pub metrics: Vec<f64>,
    /// Wall-clock seconds of the epoch (written with millisecond precision).
    pub seconds: f64,
}

impl EpochRow {
    /// The row's line (no newline): round-trip floats, seconds to three decimals.
    pub fn to_line(&self) -> String {
        let mut row = vec![
            self.epoch.to_string(),
            format!("{:?}", self.train_loss),
            format!("{:?}", self.valid_loss),
        ];
        row.extend(self.metrics.iter().map(|v| format!("{v:?}")));
        row.push(format!("{:.3}", self.seconds));
        row.join(",")
    }
}

/// The header line of `epochs.csv` for these metric names.
pub fn epochs_header(metric_names: &[String]) -> String {
    let mut header = vec!["epoch", "train_loss", "valid_loss"];
    header.extend(metric_names.iter().map(String::as_str));
    header.push("seconds");
    header.join(",")
}

/// A run folder's history read back from `steps.csv` and `epochs.csv`, for plots and reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub steps: Vec<StepRow>,
    /// Metric names of `epochs.csv`, between `valid_loss` and `seconds`.
    pub metric_names: Vec<String>,
    pub epochs: Vec<EpochRow>,
}

impl History {
    /// Reads `dir/steps.csv` and, when present, `dir/epochs.csv`.
    pub fn read(dir: &Path) -> Result<History> {
        let run = RunDir::new(dir);
        let steps = read_steps(&run.steps_csv())?;
        let (metric_names, epochs) = match fs::read_to_string(run.epochs_csv()) {
            Ok(text) => parse_epochs(&run.epochs_csv(), &text)?,
            Err(_) => (Vec::new(), Vec::new()),
        };
        Ok(History {
            steps,
            metric_names,
            epochs,
        })
    }

    /// For each row of `epochs`, the number of steps done by its end (the step rows of that epoch
    /// and every earlier one; the rows are in epoch order): where the epoch's validation belongs on
    /// a step axis, right even when epochs differ in length.
    pub fn epoch_end_steps(&self) -> Vec<usize> {
        self.epochs
            .iter()
            .map(|e| self.steps.partition_point(|s| s.epoch <= e.epoch))
            .collect()
    }

    /// For each row of `epochs`, the wall-clock seconds of training by its end.
    pub fn epoch_end_seconds(&self) -> Vec<f64> {
        self.epochs
            .iter()
            .scan(0.0, |total, e| {
                *total += e.seconds;
                Some(*total)
            })
            .collect()
    }

    /// Steps per epoch, judged from the step rows (0 without any).
    pub fn steps_per_epoch(&self) -> usize {
        let epochs = self.epochs.len().max(1);
        self.steps.len().div_ceil(epochs)
    }

    /// The values of `metric` per epoch: a metric column of `epochs.csv`, or `train_loss` /
    /// `valid_loss`; `None` when the history has no such column.
    pub fn metric(&self, metric: &str) -> Option<Vec<f64>> {
        match metric {
            "train_loss" => Some(self.epochs.iter().map(|e| e.train_loss).collect()),
            "valid_loss" => Some(self.epochs.iter().map(|e| e.valid_loss).collect()),
            _ => {
                let k = self.metric_names.iter().position(|n| n == metric)?;
                Some(self.epochs.iter().map(|e| e.metrics[k]).collect())
            }
        }
    }

    /// The text of `steps.csv` and `epochs.csv` for these rows (`epochs.csv` only with epochs).
    pub fn to_csv(&self) -> (String, Option<String>) {
        let skipped = self.steps.first().is_some_and(|s| s.skipped.is_some());
        let mut steps = steps_header(skipped) + "\n";
        for s in &self.steps {
            steps.push_str(&s.to_line());
            steps.push('\n');
        }
        let epochs = (!self.epochs.is_empty()).then(|| {
            let mut out = epochs_header(&self.metric_names) + "\n";
            for e in &self.epochs {
                out.push_str(&e.to_line());
                out.push('\n');
            }
            out
        });
        (steps, epochs)
    }

    /// Writes [`History::to_csv`] into `dir` atomically (a run folder made without a Learner).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let run = RunDir::new(dir);
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (steps, epochs) = self.to_csv();
        crate::write_atomic(&run.steps_csv(), steps.as_bytes())?;
        match epochs {
            Some(text) => crate::write_atomic(&run.epochs_csv(), text.as_bytes()),
            None => Ok(()),
        }
    }
}

/// The rows of a `steps.csv`; the skipped column is read when the header has it.
fn read_steps(path: &Path) -> Result<Vec<StepRow>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let skipped = lines.next().unwrap_or_default().split(',').next_back() == Some(SKIPPED_COLUMN);
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        let bad = || anyhow!("{} line {}: expected {STEPS_HEADER}", path.display(), i + 2);
        let num = |k: usize| c.get(k).and_then(|v| v.parse::<f64>().ok()).ok_or_else(bad);
        rows.push(StepRow {
            epoch: num(0)? as usize,
            step: num(1)? as usize,
            lr: num(2)?,
            momentum: num(3)?,
            loss: num(4)?,
            smooth_loss: num(5)?,
            skipped: if skipped { Some(num(6)? != 0.0) } else { None },
        });
    }
    Ok(rows)
}

/// The metric names and rows of an `epochs.csv` (unreadable cells are NaN).
fn parse_epochs(path: &Path, text: &str) -> Result<(Vec<String>, Vec<EpochRow>)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    if header.len() < 4 {
        bail!("{}: unexpected header {:?}", path.display(), header);
    }
    let names = header[3..header.len() - 1]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let c: Vec<f64> = line
            .split(',')
            .map(|v| v.parse().unwrap_or(f64::NAN))
            .collect();
        if c.len() != header.len() {
            bail!(
                "{} line {}: {} columns, header has {}",
                path.display(),
                i + 2,
                c.len(),
                header.len()
            );
        }
        rows.push(EpochRow {
            epoch: c[0] as usize,
            train_loss: c[1],
            valid_loss: c[2],
            metrics: c[3..c.len() - 1].to_vec(),
            seconds: c[c.len() - 1],
        });
    }
    Ok((names, rows))
}

/// Rewrites a CSV atomically, keeping its header and the rows whose columns satisfy `keep`.
pub fn keep_rows(path: &Path, keep: impl Fn(&[&str]) -> bool) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        if i == 0 || keep(&cols) {
            out.push_str(line);
            out.push('\n');
        }
    }
    crate::write_atomic(path, out.as_bytes())
}

/// Cuts a run folder's history back to a checkpoint at global step `step` after `epochs_done`
/// epochs: later rows were written after the checkpoint. Refuses, changing nothing, a history
/// that lacks rows before the checkpoint (it could not be continued into a whole record).
/// Returns whether `steps.csv` has the skipped column.
pub fn cut_to_checkpoint(dir: &Path, step: usize, epochs_done: usize) -> Result<bool> {
    let run = RunDir::new(dir);
    let steps_path = run.steps_csv();
    let text = fs::read_to_string(&steps_path)
        .with_context(|| format!("reading {}", steps_path.display()))?;
    let header = text.lines().next().unwrap_or_default();
    let skipped = header.split(',').next_back() == Some(SKIPPED_COLUMN);
    check_rows_before(&steps_path, &text, 1, step, "step")?;
    let epochs_path = run.epochs_csv();
    let epochs = fs::read_to_string(&epochs_path).unwrap_or_default();
    check_rows_before(&epochs_path, &epochs, 0, epochs_done, "epoch")?;
    keep_rows(&steps_path, |cols| index(cols, 1).is_some_and(|s| s < step))?;
    if epochs_path.exists() {
        keep_rows(&epochs_path, |cols| {
            index(cols, 0).is_some_and(|e| e < epochs_done)
        })?;
    }
    Ok(skipped)
}

/// Column `k` of a CSV row as an index.
fn index(cols: &[&str], k: usize) -> Option<usize> {
    cols.get(k).and_then(|s| s.parse::<usize>().ok())
}

/// Checks that the rows of `text` (a CSV whose column `k` counts `what`s) hold `0..end` in order
/// before any later row.
fn check_rows_before(path: &Path, text: &str, k: usize, end: usize, what: &str) -> Result<()> {
    let found: Vec<usize> = text
        .lines()
        .skip(1)
        .filter_map(|line| index(&line.split(',').collect::<Vec<_>>(), k))
        .filter(|&i| i < end)
        .collect();
    if let Some(missing) = (0..end)
        .zip(&found)
        .find(|(want, got)| want != *got)
        .map(|p| p.0)
    {
        bail!(
            "{} does not hold {what} {missing} (rows {found} of the {end} before the checkpoint): \
             the history cannot be continued; start a new run",
            path.display(),
            found = found.len()
        );
    }
    if found.len() != end {
        bail!(
            "{} holds {} of the {end} {what} rows before the checkpoint (the last ones are \
             missing): the history cannot be continued; start a new run",
            path.display(),
            found.len()
        );
    }
    Ok(())
}
