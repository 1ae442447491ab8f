//! The divergence guard, a callback every Learner has: when a step's loss is not finite or its
//! smoothed loss exceeds `diverge_factor` × its best (the rule shared with the range test,
//! [`schedule::Divergence`]), training stops with [`Diverged`] and the weights, optimizer state
//! and loss statistics go back to the start of the epoch.

use anyhow::Result;

use super::events::{Callback, Ctx, Flow, StepInfo};
use super::state::{FitState, Snapshot};

/// Training stopped because the loss diverged; the weights were rolled back.
#[derive(Debug, thiserror::Error)]
#[error(
    "training diverged at step {step} (epoch {epoch}, lr {lr:.3e}): loss {loss}; weights and optimizer state rolled back to the start of epoch {epoch}"
)]
pub struct Diverged {
    pub step: usize,
    pub epoch: usize,
    pub lr: f64,
    pub loss: f64,
}

/// See the module doc; the rule's state lives in the learner's [`FitState`], so that
/// checkpoints carry it.
#[derive(Default)]
pub struct DivergenceGuard {
    epoch_start: Option<(Snapshot, FitState)>,
}

impl Callback for DivergenceGuard {
    fn before_epoch(&mut self, ctx: &mut Ctx, _epoch: usize) -> Result<()> {
        let state = *ctx.fit_state();
        self.epoch_start = Some((ctx.snapshot(), state));
        Ok(())
    }

    fn after_loss(&mut self, ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        let state = ctx.fit_state();
        let count = state.smooth.count();
        if state.guard.check(count, s.loss, s.smooth_loss).is_none() {
            return Ok(Flow::Continue);
        }
        if let Some((snapshot, at_start)) = self.epoch_start.take() {
            ctx.restore(&snapshot)?;
            *ctx.fit_state() = at_start;
        }
        Err(Diverged {
            step: s.step,
            epoch: s.epoch,
            lr: s.lr,
            loss: s.loss,
        }
        .into())
    }
}
