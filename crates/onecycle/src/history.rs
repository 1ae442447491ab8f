//! The run folder's history: `steps.csv` (one row per training step, with the LR and momentum
//! actually applied) and `epochs.csv` (one row per epoch), written as training goes and cut back
//! to the checkpoint when a run resumes.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::learner::{Callback, Ctx, EpochInfo, Flow, StepInfo};

pub const STEPS_HEADER: &str = "epoch,step,lr,momentum,loss,smooth_loss";
/// The extra last column of `steps.csv` in fp16 runs: 1 where the loss scaler skipped the step.
pub const SKIPPED_COLUMN: &str = "skipped";

/// Appends to `steps.csv` and `epochs.csv` in a run folder (a [`Callback`]).
pub struct RunLog {
    dir: PathBuf,
    steps: BufWriter<File>,
    epochs: Option<BufWriter<File>>,
    /// Write the `skipped` column (fp16 runs).
    skipped: bool,
}

impl RunLog {
    /// Starts fresh files in `dir` (created if needed).
    pub fn create(dir: &Path) -> Result<RunLog> {
        RunLog::create_with(dir, false)
    }

    /// Like [`RunLog::create`]; `skipped` adds the [`SKIPPED_COLUMN`] to `steps.csv` (for fp16
    /// runs, whose loss scaler may skip steps).
    pub fn create_with(dir: &Path, skipped: bool) -> Result<RunLog> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("steps.csv");
        let mut steps = BufWriter::new(
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        if skipped {
            writeln!(steps, "{STEPS_HEADER},{SKIPPED_COLUMN}")?;
        } else {
            writeln!(steps, "{STEPS_HEADER}")?;
        }
        let _ = fs::remove_file(dir.join("epochs.csv"));
        Ok(RunLog {
            dir: dir.to_path_buf(),
            steps,
            epochs: None,
            skipped,
        })
    }

    /// Continues the files in `dir` for a run resumed at global step `step` after `epochs_done`
    /// epochs: rows from later steps and epochs (written after the checkpoint) are dropped. The
    /// `skipped` column is kept if `steps.csv` has it.
    pub fn resume(dir: &Path, step: usize, epochs_done: usize) -> Result<RunLog> {
        let steps_path = dir.join("steps.csv");
        let header = fs::read_to_string(&steps_path)
            .with_context(|| format!("reading {}", steps_path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let skipped = header.split(',').next_back() == Some(SKIPPED_COLUMN);
        keep_rows(&dir.join("steps.csv"), |cols| {
            cols.get(1)
                .and_then(|s| s.parse::<usize>().ok())
                .is_some_and(|s| s < step)
        })?;
        let epochs_path = dir.join("epochs.csv");
        let epochs = if epochs_path.exists() {
            keep_rows(&epochs_path, |cols| {
                cols.first()
                    .and_then(|s| s.parse::<usize>().ok())
                    .is_some_and(|e| e < epochs_done)
            })?;
            Some(BufWriter::new(
                OpenOptions::new().append(true).open(&epochs_path)?,
            ))
        } else {
            None
        };
        let steps = BufWriter::new(
            OpenOptions::new()
                .append(true)
                .open(dir.join("steps.csv"))?,
        );
        Ok(RunLog {
            dir: dir.to_path_buf(),
            steps,
            epochs,
            skipped,
        })
    }

    fn epochs_writer(&mut self, info: &EpochInfo) -> Result<&mut BufWriter<File>> {
        if self.epochs.is_none() {
            let path = self.dir.join("epochs.csv");
            let mut w = BufWriter::new(
                File::create(&path).with_context(|| format!("creating {}", path.display()))?,
            );
            let names: Vec<&str> = info.metrics.iter().map(|(n, _)| n.as_str()).collect();
            let mut header = vec!["epoch", "train_loss", "valid_loss"];
            header.extend(names);
            header.push("seconds");
            writeln!(w, "{}", header.join(","))?;
            self.epochs = Some(w);
        }
        Ok(self.epochs.as_mut().expect("just set"))
    }
}

/// Rewrites a CSV keeping its header and the rows whose columns satisfy `keep`.
fn keep_rows(path: &Path, keep: impl Fn(&[&str]) -> bool) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = String::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        let cols: Vec<&str> = line.split(',').collect();
        if i == 0 || keep(&cols) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    crate::checkpoint::write_atomic(path, out.as_bytes())
}

impl RunLog {
    /// Appends a step's row to `steps.csv`.
    pub fn record_step(&mut self, s: &StepInfo) -> Result<()> {
        write!(
            self.steps,
            "{},{},{:?},{:?},{:?},{:?}",
            s.epoch, s.step, s.lr, s.momentum, s.loss, s.smooth_loss
        )
        .context("writing steps.csv")?;
        if self.skipped {
            write!(self.steps, ",{}", u8::from(s.skipped)).context("writing steps.csv")?;
        }
        writeln!(self.steps).context("writing steps.csv")?;
        Ok(())
    }

    /// Appends an epoch's row to `epochs.csv` (creating it with the metrics' header) and
    /// flushes both files.
    pub fn record_epoch(&mut self, e: &EpochInfo) -> Result<()> {
        self.steps.flush().context("writing steps.csv")?;
        let w = self.epochs_writer(e)?;
        let mut row = vec![
            e.epoch.to_string(),
            format!("{:?}", e.train_loss),
            format!("{:?}", e.valid_loss),
        ];
        row.extend(e.metrics.iter().map(|(_, v)| format!("{v:?}")));
        row.push(format!("{:.3}", e.seconds));
        writeln!(w, "{}", row.join(",")).context("writing epochs.csv")?;
        w.flush().context("writing epochs.csv")?;
        Ok(())
    }

    /// Flushes both files.
    pub fn flush(&mut self) -> Result<()> {
        self.steps.flush().context("writing steps.csv")?;
        if let Some(w) = self.epochs.as_mut() {
            w.flush().context("writing epochs.csv")?;
        }
        Ok(())
    }
}

impl Callback for RunLog {
    fn after_step(&mut self, _ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        self.record_step(s).map(|()| Flow::Continue)
    }

    fn after_epoch(&mut self, _ctx: &mut Ctx, e: &EpochInfo) -> Result<Flow> {
        self.record_epoch(e).map(|()| Flow::Continue)
    }

    fn after_fit(&mut self, _ctx: &mut Ctx, _stopped: Option<&str>) -> Result<()> {
        self.flush()
    }
}

/// A run folder's history read back from `steps.csv` and `epochs.csv`, for plots and reports.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// `(step, lr, momentum, loss, smooth_loss)` per training step.
    pub steps: Vec<(usize, f64, f64, f64, f64)>,
    /// Metric names of `epochs.csv`, between `valid_loss` and `seconds`.
    pub metric_names: Vec<String>,
    /// `(epoch, train_loss, valid_loss, metrics…)` per epoch.
    pub epochs: Vec<(usize, f64, f64, Vec<f64>)>,
    /// The epoch of each step row (`steps.csv`'s first column), in `steps` order.
    pub step_epochs: Vec<usize>,
    /// Wall-clock seconds of each epoch (`epochs.csv`'s last column), in `epochs` order.
    pub epoch_seconds: Vec<f64>,
}

impl History {
    /// Reads `dir/steps.csv` and, when present, `dir/epochs.csv`.
    pub fn read(dir: &Path) -> Result<History> {
        let mut h = History::default();
        let steps = dir.join("steps.csv");
        let text =
            fs::read_to_string(&steps).with_context(|| format!("reading {}", steps.display()))?;
        for (i, line) in text.lines().enumerate().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            let bad = || {
                anyhow::anyhow!(
                    "{} line {}: expected {STEPS_HEADER}",
                    steps.display(),
                    i + 1
                )
            };
            let num = |k: usize| c.get(k).and_then(|v| v.parse::<f64>().ok()).ok_or_else(bad);
            h.step_epochs.push(num(0)? as usize);
            h.steps
                .push((num(1)? as usize, num(2)?, num(3)?, num(4)?, num(5)?));
        }
        let epochs = dir.join("epochs.csv");
        if let Ok(text) = fs::read_to_string(&epochs) {
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
            if header.len() < 4 {
                anyhow::bail!("{}: unexpected header {:?}", epochs.display(), header);
            }
            h.metric_names = header[3..header.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            for (i, line) in lines.enumerate() {
                let c: Vec<f64> = line
                    .split(',')
                    .map(|v| v.parse().unwrap_or(f64::NAN))
                    .collect();
                if c.len() != header.len() {
                    anyhow::bail!(
                        "{} line {}: {} columns, header has {}",
                        epochs.display(),
                        i + 2,
                        c.len(),
                        header.len()
                    );
                }
                h.epoch_seconds.push(c[c.len() - 1]);
                h.epochs
                    .push((c[0] as usize, c[1], c[2], c[3..c.len() - 1].to_vec()));
            }
        }
        Ok(h)
    }

    /// For each row of `epochs`, the number of steps done by its end (the step rows of that epoch
    /// and every earlier one; the rows are in epoch order): where the epoch's validation belongs on
    /// a step axis, right even when epochs differ in length.
    pub fn epoch_end_steps(&self) -> Vec<usize> {
        self.epochs
            .iter()
            .map(|e| self.step_epochs.partition_point(|&s| s <= e.0))
            .collect()
    }

    /// For each row of `epochs`, the wall-clock seconds of training by its end.
    pub fn epoch_end_seconds(&self) -> Vec<f64> {
        self.epoch_seconds
            .iter()
            .scan(0.0, |total, s| {
                *total += s;
                Some(*total)
            })
            .collect()
    }

    /// Steps per epoch, judged from the step rows (0 without any).
    pub fn steps_per_epoch(&self) -> usize {
        let epochs = self.epochs.len().max(1);
        self.steps.len().div_ceil(epochs)
    }
}
