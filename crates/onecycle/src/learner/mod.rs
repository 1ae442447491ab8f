//! The Learner: a model, its data, a loss, metrics and a scheduled optimizer, trained step by
//! step with the schedule's learning rate and momentum, in the processes its [`Strategy`] says,
//! watched by callbacks. Build one with [`Learner::builder`]; train it with [`Learner::fit`] or
//! one of the `fit_*` shorthands; the loop itself is in `fit.rs`.

mod builder;
mod events;
mod fit;
mod guard;
mod model;
mod state;
mod update;

use std::path::Path;

use anyhow::{bail, Context, Result};
use schedule::{ClrBetaParams, FlatCosParams, OneCycleParams, Policy, SgdrParams, StepsParams};
use tch::{nn, Device, Kind, Tensor};

pub use builder::LearnerBuilder;
pub use events::{Callback, Ctx, EpochInfo, Flow, StepInfo};
pub use fit::FitSummary;
pub(crate) use fit::Plan;
pub use guard::{Diverged, DivergenceGuard};
pub use model::to_channels_last;
pub use state::{FitState, Snapshot};
pub use update::{Lrs, TrainConfig};

use crate::amp::{Autocast, GradScaler, Precision, ScalerConfig};
use crate::checkpoint::Position;
use crate::data::{Batch, Data};
use crate::device;
use crate::lookahead::Lookahead;
use crate::metrics::Metric;
use crate::optim::Optimizer;
use crate::strategy::Strategy;
use model::Model;
use update::Update;

/// Computes the loss of a batch from the model's outputs and the targets.
pub type LossFn = Box<dyn Fn(&Tensor, &Tensor) -> Tensor>;

/// Cross-entropy on class indices, optionally with label smoothing (0 = none).
pub fn cross_entropy(label_smoothing: f64) -> LossFn {
    Box::new(move |out, target| {
        out.cross_entropy_loss::<Tensor>(target, None, tch::Reduction::Mean, -100, label_smoothing)
    })
}

/// Mean squared error, for regression.
pub fn mse() -> LossFn {
    Box::new(|out, target| out.mse_loss(target, tch::Reduction::Mean))
}

pub struct Learner<D: Data> {
    core: Core,
    data: D,
    callbacks: Vec<Box<dyn Callback>>,
}

/// What a step's backward pass still needs after the forward pass.
pub(crate) enum Pending {
    /// The loss of the step's one batch.
    Loss(Tensor),
    /// The summed gradients of accumulated batches.
    Grads(Vec<Tensor>),
}

/// The Learner without its data and callbacks: what callbacks act on through [`Ctx`].
pub(crate) struct Core {
    model: Model,
    loss_fn: LossFn,
    metrics: Vec<Box<dyn Metric>>,
    update: Update,
    strategy: Box<dyn Strategy>,
    state: FitState,
    /// The weights' average that lookahead pulls them to (see [`crate::lookahead`]).
    lookahead: Option<Lookahead>,
}

impl Core {
    /// The model's variables (weights and BatchNorm statistics), in name order.
    fn variables(&self) -> Vec<(String, Tensor)> {
        let mut vars: Vec<(String, Tensor)> = self.model.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// The model's outputs for `batch` and its targets, both on the model's device.
    fn outputs(&self, batch: Batch, train: bool) -> Result<(Tensor, Tensor)> {
        let inputs = self.model.prepare(batch.inputs);
        let targets = batch.targets.to_device(self.model.device());
        Ok((self.model.forward(&inputs, train)?, targets))
    }

    /// The forward pass of a step's batches: the loss of their union and its item count as the
    /// strategy reduces them, and what the backward pass still needs. One batch is run forward
    /// only (callbacks see the loss before backward, and a data-parallel strategy's gradient
    /// hooks are armed by the reduction); several (gradient accumulation) run forward and
    /// backward one at a time, each loss weighted by its share of the items.
    fn forward(&mut self, micro: Vec<Batch>) -> Result<(f64, usize, Pending)> {
        let rows = |b: &Batch| b.targets.size().first().copied().unwrap_or(0) as usize;
        let items: usize = micro.iter().map(rows).sum();
        if let [_] = micro.as_slice() {
            let batch = micro.into_iter().next().expect("one batch");
            let (out, targets) = self.outputs(batch, true)?;
            let loss = (self.loss_fn)(&out, &targets);
            let (value, items) = self.strategy.reduce_loss(loss.double_value(&[]), items)?;
            return Ok((value, items, Pending::Loss(loss)));
        }
        let (mut loss_sum, mut grads) = (0.0, Vec::new());
        for batch in micro {
            let share = rows(&batch) as f64 / items.max(1) as f64;
            let (out, targets) = self.outputs(batch, true)?;
            let loss = (self.loss_fn)(&out, &targets) * share;
            loss_sum += loss.double_value(&[]);
            self.update.backward(&loss, &mut grads)?;
        }
        let (value, items) = self.strategy.reduce_accumulated_loss(loss_sum, items)?;
        Ok((value, items, Pending::Grads(grads)))
    }

    /// Finishes what [`Core::forward`] left: backward if needed, then the update.
    fn backward_update(&mut self, pending: Pending, lr: f64, momentum: f64) -> Result<bool> {
        let grads = match pending {
            Pending::Loss(loss) => {
                let mut grads = Vec::new();
                self.update.backward(&loss, &mut grads)?;
                grads
            }
            Pending::Grads(grads) => grads,
        };
        self.update
            .apply(grads, lr, momentum, self.strategy.as_mut())
    }

    /// Loss and metrics of one batch in evaluation mode.
    fn eval_batch(&mut self, batch: Batch) -> Result<(f64, Vec<(String, f64)>)> {
        let _guard = tch::no_grad_guard();
        let (out, targets) = self.outputs(batch, false)?;
        let loss = (self.loss_fn)(&out, &targets).double_value(&[]);
        for m in &mut self.metrics {
            m.reset();
            m.update(&out, &targets);
        }
        Ok((loss, self.metric_values()))
    }

    fn metric_values(&self) -> Vec<(String, f64)> {
        self.metrics.iter().map(|m| (m.name(), m.value())).collect()
    }

    /// Mean loss over this process's share of the validation set and each metric, added up
    /// over processes; NaN loss without validation data.
    fn validate(&mut self, data: &dyn Data) -> Result<(f64, Vec<(String, f64)>)> {
        let _guard = tch::no_grad_guard();
        for m in &mut self.metrics {
            m.reset();
        }
        let (mut sum, mut items) = (0.0, 0usize);
        let batches = match self.strategy.valid_shard() {
            Some(shard) => data.valid_share(shard)?,
            None => data.valid()?,
        };
        for batch in device::prefetch(batches, self.model.device()) {
            let batch = batch.context("loading a validation batch")?;
            let (out, targets) = self.outputs(batch, false)?;
            let n = targets.size().first().copied().unwrap_or(0) as usize;
            sum += (self.loss_fn)(&out, &targets).double_value(&[]) * n as f64;
            items += n;
            for m in &mut self.metrics {
                m.update(&out, &targets);
            }
        }
        (sum, items) = self.reduce_validation(sum, items)?;
        let loss = if items == 0 {
            f64::NAN
        } else {
            sum / items as f64
        };
        Ok((loss, self.metric_values()))
    }

    /// The validation sums (loss × items, items, each metric's) totalled over processes.
    fn reduce_validation(&mut self, sum: f64, items: usize) -> Result<(f64, usize)> {
        if self.strategy.valid_shard().is_none() {
            return Ok((sum, items));
        }
        let mut sums = vec![sum, items as f64];
        for m in &self.metrics {
            sums.extend(m.sums());
        }
        self.strategy.reduce_sums(&mut sums)?;
        let mut rest = &sums[2..];
        for m in &mut self.metrics {
            let n = m.sums().len();
            m.set_sums(&rest[..n]);
            rest = &rest[n..];
        }
        Ok((sums[0], sums[1].round() as usize))
    }
}

impl<D: Data> Learner<D> {
    /// A builder for a Learner of `net` (whose weights are in `vs`) on `data`.
    pub fn builder(
        vs: nn::VarStore,
        net: impl nn::ModuleT + 'static,
        data: D,
    ) -> LearnerBuilder<D> {
        LearnerBuilder::new(vs, Box::new(net), data)
    }

    pub fn add_metric(&mut self, metric: Box<dyn Metric>) {
        self.core.metrics.push(metric);
    }

    pub fn add_callback(&mut self, callback: Box<dyn Callback>) {
        self.callbacks.push(callback);
    }

    /// Trains in the processes `strategy` says (e.g. `dist::Ddp`, c10d data parallelism).
    pub fn set_strategy(&mut self, strategy: impl Strategy + 'static) {
        self.core.strategy = Box::new(strategy);
    }

    /// Whether this process writes files and prints.
    pub fn is_lead(&self) -> bool {
        self.core.strategy.is_lead()
    }

    /// The model's weights and buffers.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.core.model.vs
    }

    pub fn data(&self) -> &D {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut D {
        &mut self.data
    }

    /// Applies `f` to every input batch after it reaches the device (e.g. channels-last).
    pub fn set_input_fn(&mut self, f: impl Fn(Tensor) -> Tensor + 'static) {
        self.core.model.set_input_fn(f);
    }

    /// Trains (and evaluates) with the forward pass in `precision` under autocast on the
    /// learner's device; fp16 also scales the loss dynamically ([`GradScaler`] with PyTorch's
    /// defaults). Weights, gradients and optimizer state stay fp32.
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        if let Some(kind) = precision.autocast_kind() {
            // Refuse a device or dtype autocast cannot use now rather than at the first step.
            drop(Autocast::new(self.device(), kind)?);
        }
        self.core.update.scaler = match precision {
            Precision::Fp16 => Some(GradScaler::new(ScalerConfig::default())?),
            _ => None,
        };
        self.core.model.precision = precision;
        Ok(())
    }

    pub fn precision(&self) -> Precision {
        self.core.model.precision
    }

    /// Replaces fp16's loss scaler (e.g. other growth settings); fp16 precision must be set.
    pub fn set_grad_scaler(&mut self, scaler: GradScaler) -> Result<()> {
        if self.precision() != Precision::Fp16 {
            bail!(
                "a loss scaler is for fp16 training, but the precision is {}",
                self.precision()
            );
        }
        self.core.update.scaler = Some(scaler);
        Ok(())
    }

    /// fp16's loss scaler (its current scale), `None` in other precisions.
    pub fn grad_scaler(&self) -> Option<&GradScaler> {
        self.core.update.scaler.as_ref()
    }

    /// The device of the weights, where batches are moved.
    pub fn device(&self) -> Device {
        self.core.model.device()
    }

    /// The model's outputs for `inputs` (already prepared), in the learner's precision; the
    /// outputs come back as fp32.
    pub fn forward(&self, inputs: &Tensor, train: bool) -> Result<Tensor> {
        self.core.model.forward(inputs, train)
    }

    /// The weight decay of later training (what `tune` chose, say).
    pub fn set_wd(&mut self, wd: f64) {
        self.core.update.config.wd = wd;
    }

    /// Discriminative learning rates (see [`Lrs`]).
    pub fn set_lrs(&mut self, lrs: Lrs) {
        self.core.update.lrs = lrs;
    }

    /// Freezes every group before `n` (fastai's `freeze_to`); `n = 0` unfreezes all.
    pub fn freeze_to(&mut self, n: usize) {
        self.core.update.freeze_to(n);
    }

    pub fn groups(&self) -> usize {
        self.core.update.groups
    }

    pub fn optimizer(&self) -> &Optimizer {
        &self.core.update.opt
    }

    pub fn config(&self) -> &TrainConfig {
        &self.core.update.config
    }

    /// Optimizer steps per epoch: the training batches, `accumulate` of them a step.
    pub fn steps_per_epoch(&self) -> usize {
        let n = self.core.update.config.accumulate.max(1);
        self.data.train_batches().div_ceil(n)
    }

    /// Keeps 4-D weights and input batches in channels-last (NHWC) memory order: the same
    /// arithmetic, but oneDNN's convolutions run faster on it (+27–40 % on CPU here). Call before
    /// training.
    pub fn use_channels_last(&mut self) {
        self.core.model.use_channels_last();
    }

    /// Mean loss over the validation set and each metric; NaN loss without validation data.
    pub fn validate(&mut self) -> Result<(f64, Vec<(String, f64)>)> {
        self.core.validate(&self.data)
    }

    /// Class probabilities (`softmax` of the outputs, on the CPU) for a batch of inputs as the
    /// data gives them, in evaluation mode.
    pub fn predict(&self, inputs: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let inputs = self.core.model.prepare(inputs.to_device(self.device()));
        let probs = self.forward(&inputs, false)?.softmax(-1, Kind::Float);
        Ok(probs.to_device(Device::Cpu))
    }

    /// Predictions (`softmax` of the outputs) over the validation set, in order.
    pub fn predict_valid(&self, transform: impl Fn(&Tensor) -> Tensor) -> Result<(Tensor, Tensor)> {
        let _guard = tch::no_grad_guard();
        let (mut preds, mut targets) = (Vec::new(), Vec::new());
        for batch in device::prefetch(self.data.valid()?, self.device()) {
            let batch = batch.context("loading a validation batch")?;
            let inputs = transform(&self.core.model.prepare(batch.inputs));
            let probs = self.forward(&inputs, false)?.softmax(-1, Kind::Float);
            preds.push(probs.to_device(Device::Cpu));
            targets.push(batch.targets.to_device(Device::Cpu));
        }
        if preds.is_empty() {
            bail!("there is no validation data to predict");
        }
        Ok((Tensor::cat(&preds, 0), Tensor::cat(&targets, 0)))
    }

    /// One optimisation step on a batch (forward, loss, backward, update) at `lr` for the last
    /// group (others scaled by the discriminative multipliers) and `momentum`, in the learner's
    /// precision; returns the loss (fp16: the update is skipped if the gradients overflowed).
    /// For benchmarks and custom loops: no schedule, callbacks or history.
    pub fn train_step(
        &mut self,
        inputs: Tensor,
        targets: &Tensor,
        lr: f64,
        momentum: f64,
    ) -> Result<f64> {
        let batch = Batch {
            inputs,
            targets: targets.shallow_clone(),
        };
        let (value, _, pending) = self.core.forward(vec![batch])?;
        self.core.backward_update(pending, lr, momentum)?;
        Ok(value)
    }

    /// Writes weights, optimizer state, the schedule position and the loss statistics atomically.
    pub fn save_checkpoint(&self, path: &Path, at: Position) -> Result<()> {
        self.core.save_checkpoint(path, at)
    }

    /// Restores a checkpoint written by [`Learner::save_checkpoint`]; returns where to resume.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<Position> {
        self.core.load_checkpoint(path)
    }

    /// Runs `f` (a range test) at weight decay `wd` from fresh loss statistics, then puts the
    /// model, optimizer state, weight decay and loss statistics back as they were, also when
    /// `f` failed.
    pub(crate) fn with_fit_state<T>(
        &mut self,
        wd: f64,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let snapshot = self.core.snapshot();
        let saved_wd = std::mem::replace(&mut self.core.update.config.wd, wd);
        let fresh = FitState::new(self.core.state.guard.factor);
        let saved_state = std::mem::replace(&mut self.core.state, fresh);
        let result = f(self);
        self.core.update.config.wd = saved_wd;
        self.core.state = saved_state;
        self.core
            .restore(&snapshot)
            .context("restoring the model after the range test")?;
        result
    }

    /// Trains with the 1cycle policy (see [`OneCycleParams`]) for `epochs`.
    pub fn fit_one_cycle(&mut self, epochs: usize, params: OneCycleParams) -> Result<FitSummary> {
        self.fit(epochs, &Policy::OneCycle(params))
    }

    /// The seed's `use_clr_beta=(div, pct, max_mom, min_mom)` at `max_lr`.
    pub fn fit_clr_beta(&mut self, epochs: usize, params: ClrBetaParams) -> Result<FitSummary> {
        self.fit(epochs, &Policy::ClrBeta(params))
    }

    /// SGDR with the first cycle `cycle_len` epochs long, each next `cycle_mult` times longer.
    pub fn fit_sgdr(
        &mut self,
        epochs: usize,
        max_lr: f64,
        cycle_len: usize,
        cycle_mult: usize,
    ) -> Result<FitSummary> {
        let params = SgdrParams {
            max_lr,
            cycle_len,
            cycle_mult: Some(cycle_mult),
            ..Default::default()
        };
        let nb = self.steps_per_epoch();
        self.fit(epochs, &Policy::Sgdr(params).epochs_to_steps(nb))
    }

    /// fastai's `fit_flat_cos`.
    pub fn fit_flat_cos(&mut self, epochs: usize, params: FlatCosParams) -> Result<FitSummary> {
        self.fit(epochs, &Policy::FlatCos(params))
    }

    /// Piecewise-constant LR, multiplied by `gamma` at each of the `milestones` (in epochs).
    pub fn fit_steps(
        &mut self,
        epochs: usize,
        lr: f64,
        milestones: &[usize],
        gamma: f64,
    ) -> Result<FitSummary> {
        let params = StepsParams {
            lr,
            milestones: milestones.to_vec(),
            gamma: Some(gamma),
            momentum: None,
        };
        let nb = self.steps_per_epoch();
        self.fit(epochs, &Policy::Steps(params).epochs_to_steps(nb))
    }
}
