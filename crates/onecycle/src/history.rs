//! The run log: a callback that appends each step to `steps.csv` and each epoch to `epochs.csv`
//! of a run folder as training goes, and cuts them back to the checkpoint when a run resumes.
//! Row text, headers and file names come from `record`, which also reads them back
//! ([`record::History`]).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use record::history::{self, EpochRow, StepRow};
use record::RunDir;

use crate::learner::{Callback, Ctx, EpochInfo, Flow, StepInfo};

/// Appends to `steps.csv` and `epochs.csv` in a run folder (a [`Callback`]).
pub struct RunLog {
    run: RunDir,
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

    /// Like [`RunLog::create`]; `skipped` adds the [`record::history::SKIPPED_COLUMN`] to `steps.csv` (for fp16
    /// runs, whose loss scaler may skip steps).
    pub fn create_with(dir: &Path, skipped: bool) -> Result<RunLog> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let run = RunDir::new(dir);
        let path = run.steps_csv();
        let mut steps = BufWriter::new(
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        writeln!(steps, "{}", history::steps_header(skipped))?;
        let _ = fs::remove_file(run.epochs_csv());
        Ok(RunLog {
            run,
            steps,
            epochs: None,
            skipped,
        })
    }

    /// Continues the files in `dir` for a run resumed at global step `step` after `epochs_done`
    /// epochs: rows from later steps and epochs (written after the checkpoint) are dropped. The
    /// `skipped` column is kept if `steps.csv` has it.
    pub fn resume(dir: &Path, step: usize, epochs_done: usize) -> Result<RunLog> {
        let run = RunDir::new(dir);
        let skipped = history::cut_to_checkpoint(dir, step, epochs_done)?;
        let epochs = if run.epochs_csv().exists() {
            Some(BufWriter::new(
                OpenOptions::new().append(true).open(run.epochs_csv())?,
            ))
        } else {
            None
        };
        let steps = BufWriter::new(OpenOptions::new().append(true).open(run.steps_csv())?);
        Ok(RunLog {
            run,
            steps,
            epochs,
            skipped,
        })
    }

    fn epochs_writer(&mut self, info: &EpochInfo) -> Result<&mut BufWriter<File>> {
        if self.epochs.is_none() {
            let path = self.run.epochs_csv();
            let mut w = BufWriter::new(
                File::create(&path).with_context(|| format!("creating {}", path.display()))?,
            );
            let names: Vec<String> = info.metrics.iter().map(|(n, _)| n.clone()).collect();
            writeln!(w, "{}", history::epochs_header(&names))?;
            self.epochs = Some(w);
        }
        Ok(self.epochs.as_mut().expect("just set"))
    }
}

impl RunLog {
    /// Appends a step's row to `steps.csv`, on disk before any checkpoint of that step.
    pub fn record_step(&mut self, s: &StepInfo) -> Result<()> {
        let row = StepRow {
            epoch: s.epoch,
            step: s.step,
            lr: s.lr,
            momentum: s.momentum,
            loss: s.loss,
            smooth_loss: s.smooth_loss,
            skipped: self.skipped.then_some(s.skipped),
        };
        writeln!(self.steps, "{}", row.to_line()).context("writing steps.csv")?;
        self.steps.flush().context("writing steps.csv")?;
        Ok(())
    }

    /// Appends an epoch's row to `epochs.csv` (creating it with the metrics' header) and
    /// flushes both files.
    pub fn record_epoch(&mut self, e: &EpochInfo) -> Result<()> {
        self.steps.flush().context("writing steps.csv")?;
        let row = EpochRow {
            epoch: e.epoch,
            train_loss: e.train_loss,
            valid_loss: e.valid_loss,
            metrics: e.metrics.iter().map(|(_, v)| *v).collect(),
            seconds: e.seconds,
        };
        let w = self.epochs_writer(e)?;
        writeln!(w, "{}", row.to_line()).context("writing epochs.csv")?;
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
