//! One optimisation step after the loss: backward through the unfrozen groups, the strategy's
//! gradient sync, fp16 loss scaling, clipping, and the update at the scheduled LR and momentum
//! (each group's LR scaled by its discriminative multiplier).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::amp::GradScaler;
use crate::lookahead::LookaheadConfig;
use crate::optim::{clip_grad_norm, is_bn_or_bias, Hyper, OptKind, Optimizer, Param, WdMode};
use crate::strategy::Strategy;

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
    /// Gradient accumulation: each optimizer step sums the gradients of this many consecutive
    /// batches, weighted by their sizes, so that it equals one step on their union.
    #[serde(default = "one")]
    pub accumulate: usize,
    /// BatchNorm biases step at this multiple of their group's LR, with their weight decay
    /// divided by it (airbench94's 64; see [`Param::lr_scale`]).
    #[serde(default = "one_f64")]
    pub bn_bias_lr_scale: f64,
    /// An exponential average of the weights that the weights are reset to every few steps.
    #[serde(default)]
    pub lookahead: Option<LookaheadConfig>,
}

fn one() -> usize {
    1
}

fn one_f64() -> f64 {
    1.0
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
            accumulate: 1,
            bn_bias_lr_scale: 1.0,
            lookahead: None,
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

/// The optimizer with its settings, layer groups, frozen groups and (fp16) loss scaler.
pub(crate) struct Update {
    pub opt: Optimizer,
    pub config: TrainConfig,
    pub groups: usize,
    pub frozen: Vec<bool>,
    pub lrs: Lrs,
    /// fp16's dynamic loss scaling; `None` in other precisions.
    pub scaler: Option<GradScaler>,
}

impl Update {
    /// The trainable variables of `named`, each in the group `group_of` gives it.
    pub fn new(
        named: Vec<(String, Tensor)>,
        groups: usize,
        group_of: &dyn Fn(&str) -> usize,
        config: TrainConfig,
    ) -> Result<Update> {
        let mut named = named;
        named.sort_by(|a, b| a.0.cmp(&b.0));
        // A BatchNorm layer is what keeps running statistics.
        let norms: Vec<&str> = named
            .iter()
            .filter_map(|(n, _)| n.strip_suffix(".running_mean"))
            .collect();
        let bn_biases: Vec<String> = norms.iter().map(|n| format!("{n}.bias")).collect();
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
            let lr_scale = match bn_biases.contains(&name) {
                true => config.bn_bias_lr_scale,
                false => 1.0,
            };
            params.push(Param {
                name,
                tensor,
                group,
                decay,
                lr_scale,
            });
        }
        if params.is_empty() {
            bail!("the model has no trainable parameters");
        }
        Ok(Update {
            opt: Optimizer::new(config.opt, config.wd_mode, params),
            config,
            groups,
            frozen: vec![false; groups],
            lrs: Lrs::All,
            scaler: None,
        })
    }

    /// Freezes every group before `n`; `n = 0` unfreezes all.
    pub fn freeze_to(&mut self, n: usize) {
        self.frozen = (0..self.groups).map(|g| g < n).collect();
    }

    /// The trainable parameters of the unfrozen groups: their indices and tensors.
    fn live(&self) -> (Vec<usize>, Vec<Tensor>) {
        let params = self.opt.params();
        let live: Vec<usize> = (0..params.len())
            .filter(|&i| !self.frozen[params[i].group])
            .collect();
        let trained = live
            .iter()
            .map(|&i| params[i].tensor.shallow_clone())
            .collect();
        (live, trained)
    }

    /// Backward of `loss` (fp16: scaled), its gradients added to `grads` (one per unfrozen
    /// parameter; empty before the first batch of a step).
    pub fn backward(&mut self, loss: &Tensor, grads: &mut Vec<Tensor>) -> Result<()> {
        let (_, trained) = self.live();
        let scaled = self.scaler.as_ref().map(|s| s.scale_loss(loss));
        let loss = scaled.as_ref().unwrap_or(loss);
        let new = Tensor::f_run_backward(&[loss], &trained, false, false)?;
        if grads.is_empty() {
            *grads = new;
            return Ok(());
        }
        for (sum, g) in grads.iter_mut().zip(new) {
            if !g.defined() {
                continue;
            }
            *sum = if sum.defined() { &*sum + g } else { g };
        }
        Ok(())
    }

    /// Sync, unscale, clip and update with the gradients of [`Update::backward`]; returns true
    /// when fp16's scaler skipped the update because the gradients overflowed.
    pub fn apply(
        &mut self,
        mut grads: Vec<Tensor>,
        lr: f64,
        momentum: f64,
        strategy: &mut dyn Strategy,
    ) -> Result<bool> {
        let (live, trained) = self.live();
        strategy.sync_grads(&trained, &mut grads)?;
        if self.unscale_overflowed(&grads)? {
            return Ok(true);
        }
        let mut all: Vec<Option<Tensor>> = (0..self.opt.params().len()).map(|_| None).collect();
        for (i, g) in live.into_iter().zip(grads) {
            all[i] = Some(g);
        }
        if let Some(max_norm) = self.config.clip {
            clip_grad_norm(&mut all, max_norm);
        }
        let hypers: Vec<Hyper> = self
            .lrs
            .multipliers(self.groups)
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

    /// fp16: unscales the gradients in place and updates the scale; true when they overflowed.
    fn unscale_overflowed(&mut self, grads: &[Tensor]) -> Result<bool> {
        let Some(scaler) = self.scaler.as_mut() else {
            return Ok(false);
        };
        let mut defined: Vec<Tensor> = grads
            .iter()
            .filter(|g| g.defined())
            .map(Tensor::shallow_clone)
            .collect();
        let found_inf = scaler.unscale(&mut defined)?;
        scaler.update(found_inf);
        Ok(found_inf)
    }
}
