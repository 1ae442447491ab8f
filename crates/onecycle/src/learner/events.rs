//! The events of a fit and what callbacks see at each: the step and epoch records, whether
//! training goes on, and a [`Ctx`] through which a callback may act on the learner (save a
//! checkpoint, roll back the weights, evaluate a batch).

use std::path::Path;

use anyhow::Result;
use tch::Device;

use super::state::{FitState, Snapshot};
use super::Core;
use crate::checkpoint::Position;
use crate::data::{Batch, Data};

/// What the Learner is doing, as callbacks see it.
#[derive(Debug, Clone, Default)]
pub struct StepInfo {
    /// Epoch being trained (0-based).
    pub epoch: usize,
    /// Epochs in this fit.
    pub epochs: usize,
    /// Batch within the epoch (0-based).
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Global step index in the schedule (0-based).
    pub step: usize,
    /// Learning rate of the last group applied at this step (the schedule's value).
    pub lr: f64,
    /// Momentum (SGD) or β1 (Adam) applied at this step.
    pub momentum: f64,
    /// Training loss of this batch.
    pub loss: f64,
    /// Debiased exponential moving average of the training loss (β = 0.98).
    pub smooth_loss: f64,
    /// Items in this batch.
    pub items: usize,
    /// The fp16 loss scaler skipped this step's update (its gradients overflowed); known after
    /// the step, always false in `after_loss`.
    pub skipped: bool,
}

/// The result of a validation pass.
#[derive(Debug, Clone, Default)]
pub struct EpochInfo {
    pub epoch: usize,
    pub epochs: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Mean validation loss (NaN without validation data).
    pub valid_loss: f64,
    /// `(name, value)` of each metric.
    pub metrics: Vec<(String, f64)>,
    /// Wall time of the epoch, training and validation.
    pub seconds: f64,
    /// Global steps done when the epoch ended.
    pub steps_done: usize,
}

/// Whether training goes on after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop after this event; the reason reaches the caller of `fit`.
    Stop(String),
}

/// Events of a fit, in the order they happen. Every method has a do-nothing default; `ctx` is
/// the learner without its callbacks.
#[allow(unused_variables)]
pub trait Callback {
    fn before_fit(&mut self, ctx: &mut Ctx, epochs: usize, batches: usize) -> Result<()> {
        Ok(())
    }
    fn before_epoch(&mut self, ctx: &mut Ctx, epoch: usize) -> Result<()> {
        Ok(())
    }
    /// After the forward pass and the loss, before backward: the place to refuse a bad loss.
    fn after_loss(&mut self, ctx: &mut Ctx, step: &StepInfo) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// After the optimizer step.
    fn after_step(&mut self, ctx: &mut Ctx, step: &StepInfo) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// After validation, at the end of an epoch.
    fn after_epoch(&mut self, ctx: &mut Ctx, epoch: &EpochInfo) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// Once at the end, also when training stopped early (`stopped` holds the reason).
    fn after_fit(&mut self, ctx: &mut Ctx, stopped: Option<&str>) -> Result<()> {
        Ok(())
    }
}

/// The learner as a callback may use it during a fit.
pub struct Ctx<'a> {
    pub(super) core: &'a mut Core,
    pub(super) data: &'a dyn Data,
}

impl Ctx<'_> {
    /// The data being trained on.
    pub fn data(&self) -> &dyn Data {
        self.data
    }

    pub fn device(&self) -> Device {
        self.core.model.device()
    }

    /// Whether this process writes files and prints (see [`crate::strategy::Strategy`]).
    pub fn is_lead(&self) -> bool {
        self.core.strategy.is_lead()
    }

    /// Weights, statistics, optimizer and loss-scaler state, copied.
    pub fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    /// Puts back a [`Ctx::snapshot`].
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.core.restore(snapshot)
    }

    /// Writes a checkpoint to resume at `at` (see [`crate::learner::Learner::save_checkpoint`]).
    pub fn save_checkpoint(&self, path: &Path, at: Position) -> Result<()> {
        self.core.save_checkpoint(path, at)
    }

    /// Freezes every layer group before `n` and unfreezes the rest ([`super::Learner::freeze_to`]).
    pub fn freeze_to(&mut self, n: usize) {
        self.core.update.freeze_to(n);
    }

    /// Loss and metrics of one batch in evaluation mode.
    pub fn eval_batch(&mut self, batch: Batch) -> Result<(f64, Vec<(String, f64)>)> {
        self.core.eval_batch(batch)
    }

    /// The loss smoother and the divergence rule's state.
    pub(crate) fn fit_state(&mut self) -> &mut FitState {
        &mut self.core.state
    }
}
