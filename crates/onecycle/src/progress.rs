//! Progress while training: an epoch bar and a batch bar with ETA and the live smoothed loss on
//! a terminal; one line per epoch otherwise (logs, CI).

use std::io::{IsTerminal, Write};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::learner::{Callback, Ctx, EpochInfo, Flow, StepInfo};

pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    quiet: bool,
}

impl Progress {
    /// Bars when standard error is a terminal, epoch lines otherwise; `quiet` prints nothing.
    pub fn new(quiet: bool) -> Progress {
        Progress { bars: None, quiet }
    }
}

/// One human-readable line summarising an epoch.
pub fn epoch_line(e: &EpochInfo) -> String {
    let mut line = format!(
        "epoch {}/{}  train_loss {:.4}  valid_loss {:.4}",
        e.epoch + 1,
        e.epochs,
        e.train_loss,
        e.valid_loss
    );
    for (name, v) in &e.metrics {
        line.push_str(&format!("  {name} {v:.4}"));
    }
    line.push_str(&format!("  {:.1}s", e.seconds));
    line
}

impl Callback for Progress {
    fn before_fit(&mut self, _ctx: &mut Ctx, epochs: usize, batches: usize) -> Result<()> {
        if self.quiet || !std::io::stderr().is_terminal() {
            return Ok(());
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let epoch_bar = multi.add(ProgressBar::new(epochs as u64));
        epoch_bar.set_style(
            ProgressStyle::with_template(
                "epoch {pos}/{len} [{bar:30}] {elapsed_precise} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let batch_bar = multi.add(ProgressBar::new(batches as u64));
        batch_bar.set_style(
            ProgressStyle::with_template("batch {pos}/{len} [{bar:30}] {per_sec} eta {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        self.bars = Some((multi, epoch_bar, batch_bar));
        Ok(())
    }

    fn before_epoch(&mut self, _ctx: &mut Ctx, epoch: usize) -> Result<()> {
        if let Some((_, epoch_bar, batch_bar)) = &self.bars {
            epoch_bar.set_position(epoch as u64);
            batch_bar.reset();
        }
        Ok(())
    }

    fn after_step(&mut self, _ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        if let Some((_, _, batch_bar)) = &self.bars {
            batch_bar.set_position(s.batch as u64 + 1);
            batch_bar.set_message(format!("loss {:.4} lr {:.2e}", s.smooth_loss, s.lr));
        }
        Ok(Flow::Continue)
    }

    fn after_epoch(&mut self, _ctx: &mut Ctx, e: &EpochInfo) -> Result<Flow> {
        let line = epoch_line(e);
        match &self.bars {
            Some((multi, epoch_bar, _)) => {
                epoch_bar.set_position(e.epoch as u64 + 1);
                let _ = multi.println(line);
            }
            // A closed or full standard error must not stop training: the run folder is the record.
            None if !self.quiet => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            None => {}
        }
        Ok(Flow::Continue)
    }

    fn after_fit(&mut self, _ctx: &mut Ctx, _stopped: Option<&str>) -> Result<()> {
        if let Some((multi, epoch_bar, batch_bar)) = self.bars.take() {
            batch_bar.finish_and_clear();
            epoch_bar.finish_and_clear();
            let _ = multi.clear();
        }
        Ok(())
    }
}
