//! The Learner: a model, its data, a loss, metrics and a scheduled optimizer, trained step by step
//! with the schedule's learning rate and momentum, watched by callbacks, checkpointed atomically
//! and resumable mid-schedule.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use schedule::{
    ClrBetaParams, FlatCosParams, OneCycleParams, Policy, Schedule, SgdrParams, SmoothLoss,
    StepsParams,
};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::amp::{Autocast, GradScaler, Precision, ScalerConfig};
use crate::callback::{Callback, EpochInfo, Flow, StepInfo};
use crate::checkpoint::{self, Checkpoint};
use crate::data::{Batch, Data};
use crate::device;
use crate::dist::Shard;
use crate::metrics::Metric;
use crate::optim::{clip_grad_norm, is_bn_or_bias, Hyper, OptKind, Optimizer, Param, WdMode};

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

/// Optimizer settings that the schedule does not drive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub opt: OptKind,
    pub wd: f64,
    pub wd_mode: WdMode,
    /// Apply weight decay to batch-norm and bias parameters too (fastai's `bn_wd`).
    pub bn_wd: bool,
    /// Momentum (β1) when the schedule does not set one.
    pub momentum: f64,
    /// Clip the global gradient norm to this value.
    pub clip: Option<f64>,
    /// Stop when the smoothed loss exceeds this multiple of its best value (or is not finite).
    pub diverge_factor: f64,
}

impl Default for TrainConfig {
    /// SGD with momentum 0.9, no weight decay, stop on NaN or a 10× loss explosion.
    fn default() -> Self {
        TrainConfig {
            opt: OptKind::Sgd { nesterov: false },
            wd: 0.0,
            wd_mode: WdMode::L2,
            bn_wd: true,
            momentum: 0.9,
            clip: None,
            diverge_factor: 10.0,
        }
    }
}

/// Learning rates per layer group: one value for all, or fastai's `slice(lo, hi)` spread
/// geometrically from the first group to the last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lrs {
    All,
    Slice { lo: f64, hi: f64 },
}

impl Lrs {
    /// Multipliers applied to the schedule's LR (which is the last group's LR), per group.
    pub fn multipliers(self, groups: usize) -> Vec<f64> {
        match self {
            Lrs::All => vec![1.0; groups],
            Lrs::Slice { lo, hi } => {
                if groups <= 1 {
                    return vec![1.0; groups];
                }
                let step = (hi / lo).powf(1.0 / (groups - 1) as f64);
                (0..groups).map(|g| lo * step.powi(g as i32) / hi).collect()
            }
        }
    }
}

/// Where a fit stands: the next step to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Position {
    pub epoch: usize,
    pub batch: usize,
    pub step: usize,
}

/// The outcome of a fit.
#[derive(Debug, Clone)]
pub struct FitSummary {
    pub epochs: Vec<EpochInfo>,
    pub steps: usize,
    pub seconds: f64,
    pub items: usize,
    /// Why training stopped early, if it did.
    pub stopped: Option<String>,
}

impl FitSummary {
    /// Value of metric `name` after the last epoch.
    pub fn final_metric(&self, name: &str) -> Option<f64> {
        let last = self.epochs.last()?;
        last.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }
}

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

pub struct Learner<D: Data> {
    pub vs: nn::VarStore,
    net: Box<dyn nn::ModuleT>,
    pub data: D,
    loss_fn: LossFn,
    metrics: Vec<Box<dyn Metric>>,
    opt: Optimizer,
    config: TrainConfig,
    groups: usize,
    frozen: Vec<bool>,
    lrs: Lrs,
    callbacks: Vec<Box<dyn Callback>>,
    checkpoint_dir: Option<PathBuf>,
    input_fn: Option<Box<dyn Fn(Tensor) -> Tensor>>,
    /// Arithmetic of the forward pass (the weights and optimizer state stay fp32).
    precision: Precision,
    /// fp16's dynamic loss scaling; `None` in other precisions.
    scaler: Option<GradScaler>,
    smooth: SmoothLoss,
    /// Lowest smoothed training loss seen after the first steps (for the divergence guard).
    best_smooth: f64,
    /// Data parallelism: averages the gradients over processes after backward.
    grad_sync: Option<GradSync>,
    /// Data parallelism: averages each step's loss over processes before it is judged.
    loss_sync: Option<LossSync>,
    /// Data parallelism: this process's share of every validation batch, and how the sums of the
    /// shares are added up.
    valid_split: Option<(Shard, ValidSync)>,
}

/// See [`Learner::set_grad_sync`].
pub type GradSync = Box<dyn FnMut(&[Tensor], &[Tensor]) -> Result<()>>;
/// See [`Learner::set_loss_sync`].
pub type LossSync = Box<dyn FnMut(f64, usize) -> Result<(f64, usize)>>;
/// See [`Learner::set_valid_split`].
pub type ValidSync = Box<dyn FnMut(&mut [f64]) -> Result<()>>;

impl<D: Data> Learner<D> {
    /// `group_of` maps a variable name to its layer group (`0..groups`, input to output).
    pub fn new(
        vs: nn::VarStore,
        net: Box<dyn nn::ModuleT>,
        data: D,
        loss_fn: LossFn,
        groups: usize,
        group_of: impl Fn(&str) -> usize,
        config: TrainConfig,
    ) -> Result<Self> {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut params = Vec::new();
        for (name, tensor) in named {
            if !tensor.requires_grad() {
                continue; // batch-norm running statistics
            }
            let group = group_of(&name);
            if group >= groups {
                bail!("variable {name} is in group {group}, but the model has {groups} groups");
            }
            let decay = config.bn_wd || !is_bn_or_bias(&tensor);
            params.push(Param {
                name,
                tensor,
                group,
                decay,
            });
        }
        if params.is_empty() {
            bail!("the model has no trainable parameters");
        }
        let opt = Optimizer::new(config.opt, config.wd_mode, params);
        Ok(Learner {
            vs,
            net,
            data,
            loss_fn,
            metrics: Vec::new(),
            opt,
            config,
            groups,
            frozen: vec![false; groups],
            lrs: Lrs::All,
            callbacks: Vec::new(),
            checkpoint_dir: None,
            input_fn: None,
            smooth: SmoothLoss::default(),
            best_smooth: f64::INFINITY,
            precision: Precision::Fp32,
            scaler: None,
            grad_sync: None,
            loss_sync: None,
            valid_split: None,
        })
    }

    pub fn add_metric(&mut self, metric: Box<dyn Metric>) {
        self.metrics.push(metric);
    }

    pub fn add_callback(&mut self, callback: Box<dyn Callback>) {
        self.callbacks.push(callback);
    }

    /// Applies `f` to every input batch after it reaches the device (e.g. channels-last).
    pub fn set_input_fn(&mut self, f: impl Fn(Tensor) -> Tensor + 'static) {
        self.input_fn = Some(Box::new(f));
    }

    /// Called after every backward with the trainable parameters being trained and their
    /// gradients (undefined ones replaced by zeros), before the update: data parallelism averages
    /// the gradients in place.
    pub fn set_grad_sync(&mut self, f: GradSync) {
        self.grad_sync = Some(f);
    }

    /// Called with every training step's loss and batch size before they are recorded or judged;
    /// returns the ones to use instead (data parallelism: the global batch's mean loss and size).
    pub fn set_loss_sync(&mut self, f: LossSync) {
        self.loss_sync = Some(f);
    }

    /// Data parallelism: [`Learner::validate`] evaluates only `shard`'s rows of each validation
    /// batch, and `sync` turns this process's sums (loss × items, items, each metric's
    /// [`Metric::sums`]) into their totals over processes, in place.
    pub fn set_valid_split(&mut self, shard: Shard, sync: ValidSync) {
        self.valid_split = Some((shard, sync));
    }

    /// The step's loss as the loss sync (if any) has it.
    fn synced_loss(&mut self, loss: f64, items: usize) -> Result<(f64, usize)> {
        match self.loss_sync.as_mut() {
            Some(f) => f(loss, items),
            None => Ok((loss, items)),
        }
    }

    /// Trains (and evaluates) with the forward pass in `precision` under autocast on the
    /// learner's device; fp16 also scales the loss dynamically ([`GradScaler`] with PyTorch's
    /// defaults). Weights, gradients and optimizer state stay fp32.
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        if let Some(kind) = precision.autocast_kind() {
            // Refuse a device or dtype autocast cannot use now rather than at the first step.
            drop(Autocast::new(self.device(), kind)?);
        }
        self.scaler = match precision {
            Precision::Fp16 => Some(GradScaler::new(ScalerConfig::default())?),
            _ => None,
        };
        self.precision = precision;
        Ok(())
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Replaces fp16's loss scaler (e.g. other growth settings); fp16 precision must be set.
    pub fn set_grad_scaler(&mut self, scaler: GradScaler) -> Result<()> {
        if self.precision != Precision::Fp16 {
            bail!(
                "a loss scaler is for fp16 training, but the precision is {}",
                self.precision
            );
        }
        self.scaler = Some(scaler);
        Ok(())
    }

    /// fp16's loss scaler (its current scale), `None` in other precisions.
    pub fn grad_scaler(&self) -> Option<&GradScaler> {
        self.scaler.as_ref()
    }

    /// The device of the weights, where batches are moved.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The model's outputs for `inputs` (already prepared), the forward pass under autocast in
    /// reduced precision; the outputs come back as fp32 so that losses and metrics run in fp32.
    pub fn forward(&self, inputs: &Tensor, train: bool) -> Result<Tensor> {
        let Some(kind) = self.precision.autocast_kind() else {
            return self.net_forward(inputs, train);
        };
        let out = {
            let _autocast = Autocast::new(self.device(), kind)?;
            self.net_forward(inputs, train)?
        };
        Ok(match out.kind() {
            Kind::Half | Kind::BFloat16 => out.to_kind(Kind::Float),
            _ => out,
        })
    }

    /// The model's forward pass; a panic inside it (tch panics on libtorch errors, e.g. a shape
    /// mismatch or a failed collective) becomes an error naming the cause.
    fn net_forward(&self, inputs: &Tensor, train: bool) -> Result<Tensor> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.net.forward_t(inputs, train)
        }))
        .map_err(|payload| {
            let why = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            anyhow::anyhow!("the forward pass failed: {why}")
        })
    }

    /// Writes `checkpoints/last.safetensors` under `run_dir` at the end of every epoch.
    pub fn checkpoint_to(&mut self, run_dir: &Path) {
        self.checkpoint_dir = Some(record::RunDir::new(run_dir).checkpoints());
    }

    /// Discriminative learning rates (see [`Lrs`]).
    pub fn set_lrs(&mut self, lrs: Lrs) {
        self.lrs = lrs;
    }

    /// Freezes every group before `n` (fastai's `freeze_to`); `n = 0` unfreezes all.
    pub fn freeze_to(&mut self, n: usize) {
        self.frozen = (0..self.groups).map(|g| g < n).collect();
    }

    pub fn groups(&self) -> usize {
        self.groups
    }

    pub fn optimizer(&self) -> &Optimizer {
        &self.opt
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
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
        let cycle_len = cycle_len * self.data.train_batches();
        let params = SgdrParams {
            max_lr,
            cycle_len,
            cycle_mult: Some(cycle_mult),
            ..Default::default()
        };
        self.fit(epochs, &Policy::Sgdr(params))
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
        let nb = self.data.train_batches();
        let milestones = milestones.iter().map(|m| m * nb).collect();
        let params = StepsParams {
            lr,
            milestones,
            gamma: Some(gamma),
            momentum: None,
        };
        self.fit(epochs, &Policy::Steps(params))
    }

    /// Trains `epochs` epochs following `policy` over all their steps.
    pub fn fit(&mut self, epochs: usize, policy: &Policy) -> Result<FitSummary> {
        self.fit_from(epochs, policy, Position::default())
    }

    /// Like [`Learner::fit`], starting at `start` (after restoring a checkpoint).
    pub fn fit_from(
        &mut self,
        epochs: usize,
        policy: &Policy,
        start: Position,
    ) -> Result<FitSummary> {
        let nb = self.data.train_batches();
        if nb == 0 {
            bail!("the training data has no batches");
        }
        if epochs == 0 {
            bail!("epochs must be at least 1, got 0");
        }
        let schedule = policy
            .build(epochs * nb)
            .context("the schedule's parameters")?;
        if start.step != start.epoch * nb + start.batch {
            bail!("resume position {start:?} does not match {nb} batches per epoch");
        }
        let began = Instant::now();
        let mut summary = FitSummary {
            epochs: Vec::new(),
            steps: 0,
            seconds: 0.0,
            items: 0,
            stopped: None,
        };
        for cb in &mut self.callbacks {
            cb.before_fit(epochs, nb)?;
        }
        let result = self.run_epochs(epochs, &*schedule, start, &mut summary);
        summary.seconds = began.elapsed().as_secs_f64();
        let stopped = match &result {
            Ok(()) => summary.stopped.clone(),
            Err(e) => Some(format!("{e:#}")),
        };
        for cb in &mut self.callbacks {
            cb.after_fit(stopped.as_deref())?;
        }
        result.map(|()| summary)
    }

    fn run_epochs(
        &mut self,
        epochs: usize,
        schedule: &dyn Schedule,
        start: Position,
        summary: &mut FitSummary,
    ) -> Result<()> {
        let nb = self.data.train_batches();
        let mults = self.lrs.multipliers(self.groups);
        for epoch in start.epoch..epochs {
            let epoch_began = Instant::now();
            let snapshot = self.snapshot();
            let smooth_at_start = (self.smooth, self.best_smooth);
            for cb in &mut self.callbacks {
                cb.before_epoch(epoch)?;
            }
            let skip = if epoch == start.epoch { start.batch } else { 0 };
            let (mut loss_sum, mut loss_items) = (0.0, 0usize);
            let batches = device::prefetch(self.data.train_epoch(epoch, skip)?, self.device());
            for (i, batch) in batches.enumerate() {
                let batch =
                    batch.with_context(|| format!("loading training batch {}", skip + i))?;
                let b = skip + i;
                let step = epoch * nb + b;
                let point = schedule.at(step)?;
                let momentum = point.momentum.unwrap_or(self.config.momentum);
                let inputs = self.prepare(batch.inputs);
                let targets = batch.targets.to_device(self.vs.device());
                let items = targets.size().first().copied().unwrap_or(0) as usize;
                let out = self.forward(&inputs, true)?;
                let loss = (self.loss_fn)(&out, &targets);
                let (loss_value, items) = self.synced_loss(loss.double_value(&[]), items)?;
                let smooth_loss = self.smooth.push(loss_value);
                let mut info = StepInfo {
                    epoch,
                    epochs,
                    batch: b,
                    batches: nb,
                    step,
                    lr: point.lr,
                    momentum,
                    loss: loss_value,
                    smooth_loss,
                    items,
                    skipped: false,
                };
                if let Some(why) = self.diverged(&info) {
                    self.restore(&snapshot)?;
                    (self.smooth, self.best_smooth) = smooth_at_start;
                    summary.stopped = Some(why);
                    return Err(Diverged {
                        step,
                        epoch,
                        lr: point.lr,
                        loss: loss_value,
                    }
                    .into());
                }
                let mut flow = Flow::Continue;
                for cb in &mut self.callbacks {
                    merge(&mut flow, cb.after_loss(&info)?);
                }
                if let Flow::Stop(why) = flow {
                    summary.stopped = Some(why);
                    return Ok(());
                }
                info.skipped = self.backward_and_step(&loss, point.lr, momentum, &mults)?;
                info.items = items;
                loss_sum += loss_value * items as f64;
                loss_items += items;
                summary.steps += 1;
                summary.items += items;
                for cb in &mut self.callbacks {
                    merge(&mut flow, cb.after_step(&info)?);
                }
                if let Flow::Stop(why) = flow {
                    summary.stopped = Some(why);
                    return Ok(());
                }
            }
            let (valid_loss, metrics) = self.validate()?;
            let info = EpochInfo {
                epoch,
                epochs,
                train_loss: loss_sum / loss_items.max(1) as f64,
                valid_loss,
                metrics,
                seconds: epoch_began.elapsed().as_secs_f64(),
                steps_done: (epoch + 1) * nb,
            };
            if let Some(dir) = self.checkpoint_dir.clone() {
                let at = Position {
                    epoch: epoch + 1,
                    batch: 0,
                    step: (epoch + 1) * nb,
                };
                self.save_checkpoint(&dir.join(record::run_dir::LAST_CHECKPOINT), at)?;
            }
            summary.epochs.push(info.clone());
            let mut flow = Flow::Continue;
            for cb in &mut self.callbacks {
                merge(&mut flow, cb.after_epoch(&info)?);
            }
            if let Flow::Stop(why) = flow {
                summary.stopped = Some(why);
                return Ok(());
            }
        }
        Ok(())
    }

    /// Non-finite loss, or a smoothed loss above `diverge_factor` × its best so far (judged
    /// after the first 10 steps, so that the start of training cannot trigger it).
    fn diverged(&mut self, info: &StepInfo) -> Option<String> {
        if !info.loss.is_finite() {
            return Some(format!("loss is {} at step {}", info.loss, info.step));
        }
        if self.smooth.count() > 10 {
            let limit = self.config.diverge_factor * self.best_smooth;
            if info.smooth_loss > limit {
                return Some(format!(
                    "smoothed loss {:.4} exceeds {}× its best {:.4} at step {}",
                    info.smooth_loss, self.config.diverge_factor, self.best_smooth, info.step
                ));
            }
            self.best_smooth = self.best_smooth.min(info.smooth_loss);
        }
        None
    }

    fn prepare(&self, inputs: Tensor) -> Tensor {
        let x = inputs.to_device(self.vs.device());
        match &self.input_fn {
            Some(f) => f(x),
            None => x,
        }
    }

    /// Backward through the trainable parameters of unfrozen groups, then one optimizer step.
    /// In fp16 the loss is scaled first and the gradients unscaled after the gradient sync;
    /// returns true when the step was skipped because they overflowed.
    fn backward_and_step(
        &mut self,
        loss: &Tensor,
        lr: f64,
        momentum: f64,
        mults: &[f64],
    ) -> Result<bool> {
        let params = self.opt.params();
        let live: Vec<usize> = (0..params.len())
            .filter(|&i| !self.frozen[params[i].group])
            .collect();
        let inputs: Vec<&Tensor> = live.iter().map(|&i| &params[i].tensor).collect();
        let scaled = self.scaler.as_ref().map(|s| s.scale_loss(loss));
        let loss = scaled.as_ref().unwrap_or(loss);
        let mut grads = Tensor::f_run_backward(&[loss], &inputs, false, false)?;
        if let Some(sync) = self.grad_sync.as_mut() {
            for (g, p) in grads.iter_mut().zip(&inputs) {
                if !g.defined() {
                    *g = p.zeros_like();
                }
            }
            let trained: Vec<Tensor> = inputs.iter().map(|p| p.shallow_clone()).collect();
            sync(&trained, &grads)?;
        }
        if let Some(scaler) = self.scaler.as_mut() {
            let mut defined: Vec<Tensor> = grads
                .iter()
                .filter(|g| g.defined())
                .map(Tensor::shallow_clone)
                .collect();
            let found_inf = scaler.unscale(&mut defined)?;
            scaler.update(found_inf);
            if found_inf {
                return Ok(true);
            }
        }
        let mut all: Vec<Option<Tensor>> = (0..params.len()).map(|_| None).collect();
        for (i, g) in live.into_iter().zip(grads) {
            all[i] = Some(g);
        }
        if let Some(max_norm) = self.config.clip {
            clip_grad_norm(&mut all, max_norm);
        }
        let hypers: Vec<Hyper> = mults
            .iter()
            .map(|m| Hyper {
                lr: lr * m,
                momentum,
                wd: self.config.wd,
            })
            .collect();
        self.opt.step(&all, &hypers)?;
        Ok(false)
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
        let inputs = self.prepare(inputs);
        let out = self.forward(&inputs, true)?;
        let loss = (self.loss_fn)(&out, targets);
        let items = targets.size().first().copied().unwrap_or(0) as usize;
        let (value, _) = self.synced_loss(loss.double_value(&[]), items)?;
        let mults = self.lrs.multipliers(self.groups);
        self.backward_and_step(&loss, lr, momentum, &mults)?;
        Ok(value)
    }

    /// Keeps 4-D weights and input batches in channels-last (NHWC) memory order: the same
    /// arithmetic, but oneDNN's convolutions run faster on it (+27–40 % on CPU here). Call before
    /// training.
    pub fn use_channels_last(&mut self) {
        let _guard = tch::no_grad_guard();
        for (_, mut var) in self.vs.variables() {
            if var.dim() == 4 {
                let nhwc = to_channels_last(&var);
                var.set_data(&nhwc);
            }
        }
        let previous = self.input_fn.take();
        self.input_fn = Some(Box::new(move |x| {
            let x = match &previous {
                Some(f) => f(x),
                None => x,
            };
            to_channels_last(&x)
        }));
    }

    /// Mean loss over the validation set and each metric; NaN loss without validation data.
    pub fn validate(&mut self) -> Result<(f64, Vec<(String, f64)>)> {
        let _guard = tch::no_grad_guard();
        for m in &mut self.metrics {
            m.reset();
        }
        let (mut sum, mut items) = (0.0, 0usize);
        let batches = match &self.valid_split {
            Some((shard, _)) => self.data.valid_share(*shard)?,
            None => self.data.valid()?,
        };
        for batch in device::prefetch(batches, self.device()) {
            let batch = batch.context("loading a validation batch")?;
            let inputs = self.prepare(batch.inputs);
            let targets = batch.targets.to_device(self.vs.device());
            let out = self.forward(&inputs, false)?;
            let n = targets.size().first().copied().unwrap_or(0) as usize;
            sum += (self.loss_fn)(&out, &targets).double_value(&[]) * n as f64;
            items += n;
            for m in &mut self.metrics {
                m.update(&out, &targets);
            }
        }
        if let Some((_, sync)) = self.valid_split.as_mut() {
            let mut sums = vec![sum, items as f64];
            for m in &self.metrics {
                sums.extend(m.sums());
            }
            sync(&mut sums)?;
            (sum, items) = (sums[0], sums[1].round() as usize);
            let mut rest = &sums[2..];
            for m in &mut self.metrics {
                let n = m.sums().len();
                m.set_sums(&rest[..n]);
                rest = &rest[n..];
            }
        }
        let loss = if items == 0 {
            f64::NAN
        } else {
            sum / items as f64
        };
        Ok((
            loss,
            self.metrics.iter().map(|m| (m.name(), m.value())).collect(),
        ))
    }

    /// Predictions (`softmax` of the outputs) over the validation set, in order.
    pub fn predict_valid(&self, transform: impl Fn(&Tensor) -> Tensor) -> Result<(Tensor, Tensor)> {
        let _guard = tch::no_grad_guard();
        let (mut preds, mut targets) = (Vec::new(), Vec::new());
        for batch in device::prefetch(self.data.valid()?, self.device()) {
            let batch = batch.context("loading a validation batch")?;
            let inputs = transform(&self.prepare(batch.inputs));
            preds.push(
                self.forward(&inputs, false)?
                    .softmax(-1, Kind::Float)
                    .to_device(Device::Cpu),
            );
            targets.push(batch.targets.to_device(Device::Cpu));
        }
        if preds.is_empty() {
            bail!("there is no validation data to predict");
        }
        Ok((Tensor::cat(&preds, 0), Tensor::cat(&targets, 0)))
    }

    /// Loss and metrics of one batch in evaluation mode, for the range test's per-step validation.
    pub(crate) fn eval_batch(&mut self, batch: Batch) -> Result<(f64, Vec<(String, f64)>)> {
        let _guard = tch::no_grad_guard();
        let inputs = self.prepare(batch.inputs);
        let targets = batch.targets.to_device(self.vs.device());
        let out = self.forward(&inputs, false)?;
        let loss = (self.loss_fn)(&out, &targets).double_value(&[]);
        for m in &mut self.metrics {
            m.reset();
            m.update(&out, &targets);
        }
        let metrics = self.metrics.iter().map(|m| (m.name(), m.value())).collect();
        Ok((loss, metrics))
    }

    /// The optimizer settings, for the range test's temporary weight decay and momentum.
    pub(crate) fn config_mut(&mut self) -> &mut TrainConfig {
        &mut self.config
    }

    /// Model weights, batch-norm statistics, optimizer state and (fp16) the loss scaler's state
    /// as named tensors.
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .map(|(k, v)| (format!("model.{k}"), v))
            .collect();
        out.extend(
            self.opt
                .state_tensors()
                .into_iter()
                .map(|(k, v)| (format!("opt.{k}"), v)),
        );
        if let Some(scaler) = &self.scaler {
            out.extend(
                scaler
                    .state_tensors()
                    .into_iter()
                    .map(|(k, v)| (format!("amp.{k}"), v)),
            );
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, Tensor)> {
        let _guard = tch::no_grad_guard();
        self.state()
            .into_iter()
            .map(|(k, v)| (k, v.copy()))
            .collect()
    }

    /// Puts back weights, statistics and optimizer state from named tensors.
    pub(crate) fn restore(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let mut vars = self.vs.variables();
        let mut opt_state = std::collections::BTreeMap::new();
        let mut amp_state = std::collections::BTreeMap::new();
        let mut seen = 0;
        for (name, value) in state {
            if let Some(var) = name.strip_prefix("model.") {
                let Some(target) = vars.get_mut(var) else {
                    bail!("the checkpoint has a variable {var:?} that the model does not");
                };
                if target.size() != value.size() {
                    bail!(
                        "variable {var:?}: checkpoint shape {:?}, model {:?}",
                        value.size(),
                        target.size()
                    );
                }
                target.copy_(value);
                seen += 1;
            } else if let Some(key) = name.strip_prefix("opt.") {
                opt_state.insert(key.to_string(), value.shallow_clone());
            } else if let Some(key) = name.strip_prefix("amp.") {
                amp_state.insert(key, value);
            }
        }
        if seen != vars.len() {
            bail!(
                "the checkpoint holds {seen} of the model's {} variables",
                vars.len()
            );
        }
        // A checkpoint of another precision has no scaler state: the scaler keeps its own.
        if let (Some(scaler), Some(scale), Some(tracker)) = (
            self.scaler.as_mut(),
            amp_state.get("scale"),
            amp_state.get("growth_tracker"),
        ) {
            scaler.load_state_tensors(scale, tracker)?;
        }
        self.opt.load_state_tensors(&opt_state)
    }

    /// Writes weights, optimizer state, the schedule position and the loss smoother atomically.
    pub fn save_checkpoint(&self, path: &Path, at: Position) -> Result<()> {
        let meta = Checkpoint {
            position: at,
            smooth: self.smooth,
            best_smooth: self.best_smooth,
        };
        checkpoint::save(path, &self.state(), &meta)
    }

    /// Restores a checkpoint written by [`Learner::save_checkpoint`]; returns where to resume.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<Position> {
        let (tensors, meta) = checkpoint::load(path)?;
        self.restore(&tensors)
            .with_context(|| format!("restoring {}", path.display()))?;
        self.smooth = meta.smooth;
        self.best_smooth = meta.best_smooth;
        Ok(meta.position)
    }
}

/// The same 4-D tensor with NHWC strides (PyTorch's `memory_format=torch.channels_last`).
pub fn to_channels_last(t: &Tensor) -> Tensor {
    if t.dim() != 4 {
        return t.shallow_clone();
    }
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// A stop from any callback wins over continuing.
fn merge(flow: &mut Flow, next: Flow) {
    if let Flow::Stop(_) = next {
        if *flow == Flow::Continue {
            *flow = next;
        }
    }
}
