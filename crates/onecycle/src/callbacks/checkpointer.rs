//! Saves a checkpoint at the end of every epoch, atomically, so that a crashed run resumes
//! from its last finished epoch.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::checkpoint::Position;
use crate::learner::{Callback, Ctx, EpochInfo, Flow};

pub struct Checkpointer {
    path: PathBuf,
}

impl Checkpointer {
    /// Writes `checkpoints/last.safetensors` under `run_dir`.
    pub fn new(run_dir: &Path) -> Checkpointer {
        Checkpointer {
            path: record::RunDir::new(run_dir).checkpoint(),
        }
    }
}

impl Callback for Checkpointer {
    fn after_epoch(&mut self, ctx: &mut Ctx, e: &EpochInfo) -> Result<Flow> {
        let next = Position {
            epoch: e.epoch + 1,
            batch: 0,
            step: e.steps_done,
        };
        ctx.save_checkpoint(&self.path, next)?;
        Ok(Flow::Continue)
    }
}
