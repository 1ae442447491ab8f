//! Stops training after the step in which a stop was asked for (Ctrl-C, SIGTERM: see
//! [`crate::interrupt`]); the lead rank first saves a checkpoint there, so that `--resume`
//! continues mid-epoch exactly.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::checkpoint::Position;
use crate::interrupt;
use crate::learner::{Callback, Ctx, Flow, StepInfo};

pub struct GracefulStop {
    path: PathBuf,
}

impl GracefulStop {
    /// Checkpoints to `checkpoints/last.safetensors` under `run_dir` when stopping.
    pub fn new(run_dir: &Path) -> GracefulStop {
        GracefulStop {
            path: record::RunDir::new(run_dir).checkpoint(),
        }
    }
}

impl Callback for GracefulStop {
    fn after_step(&mut self, ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        if !interrupt::requested() {
            return Ok(Flow::Continue);
        }
        // The next step to run; at an epoch's end, its validation is still to come.
        let next = Position {
            epoch: s.epoch,
            batch: s.batch + 1,
            step: s.step + 1,
        };
        if ctx.is_lead() {
            ctx.save_checkpoint(&self.path, next)?;
        }
        Ok(Flow::Stop(format!("interrupted after step {}", s.step)))
    }
}
