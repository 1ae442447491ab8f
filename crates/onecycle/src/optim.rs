//! Scheduled optimizers on tch tensors: SGD (momentum, Nesterov) and Adam/AdamW, whose learning
//! rate, momentum (β1 for Adam) and weight decay may change at every step and per parameter group.
//! The updates are PyTorch's single-tensor `torch.optim.SGD` / `Adam` / `AdamW` operation for
//! operation, and the state is plain named tensors, so a checkpoint restores it exactly.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::ops::{add_scaled, add_scaled_, addcdiv_, addcmul_};

/// Which update rule, with the hyper-parameters that are not scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "opt", rename_all = "kebab-case")]
pub enum OptKind {
    /// SGD with momentum (dampening 0, as PyTorch's default), optionally Nesterov.
    Sgd { nesterov: bool },
    /// Adam (L2 weight decay) or AdamW (decoupled), by the optimizer's [`WdMode`].
    Adam { beta2: f64, eps: f64 },
}

impl OptKind {
    /// PyTorch's Adam defaults: β2 = 0.999, ε = 1e-8.
    pub fn adam() -> OptKind {
        OptKind::Adam {
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// How weight decay is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WdMode {
    /// Added to the gradient (`g += wd·p`): PyTorch's SGD and Adam `weight_decay`.
    #[default]
    L2,
    /// Applied to the weights (`p *= 1 − lr·wd`): AdamW, and fastai's `true_wd` for SGD.
    Decoupled,
}

/// The values an optimizer step uses for one parameter group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    pub lr: f64,
    /// SGD momentum, or Adam's β1.
    pub momentum: f64,
    pub wd: f64,
}

/// A trainable tensor with the group it belongs to, whether weight decay applies to it, and a
/// factor on its group's learning rate (1 for most; airbench's BatchNorm biases take 64).
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
    pub group: usize,
    pub decay: bool,
    /// The parameter steps at `lr_scale · lr` with weight decay `wd / lr_scale`: a faster
    /// parameter whose decay per step (`lr · wd`) stays its group's.
    pub lr_scale: f64,
}

impl Param {
    /// A parameter of `group` with weight decay and its group's learning rate.
    pub fn new(name: impl Into<String>, tensor: Tensor, group: usize) -> Param {
        Param {
            name: name.into(),
            tensor,
            group,
            decay: true,
            lr_scale: 1.0,
        }
    }
}

/// Per-parameter state: SGD's momentum buffer, or Adam's moments and step count.
#[derive(Debug, Default)]
struct State {
    buf: Option<Tensor>,
    sq: Option<Tensor>,
    step: u64,
}

/// An optimizer over named parameters split into groups; see the module docs.
#[derive(Debug)]
pub struct Optimizer {
    kind: OptKind,
    wd_mode: WdMode,
    params: Vec<Param>,
    state: Vec<State>,
}

impl Optimizer {
    pub fn new(kind: OptKind, wd_mode: WdMode, params: Vec<Param>) -> Optimizer {
        let state = params.iter().map(|_| State::default()).collect();
        Optimizer {
            kind,
            wd_mode,
            params,
            state,
        }
    }

    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn kind(&self) -> OptKind {
        self.kind
    }

    /// Number of parameter groups (one more than the highest group index).
    pub fn group_count(&self) -> usize {
        self.params.iter().map(|p| p.group + 1).max().unwrap_or(0)
    }

    /// Applies one update. `grads[i]` belongs to `params()[i]`; `None` (a frozen or unused
    /// parameter) leaves it and its state untouched, as PyTorch does for `grad is None`.
    /// `hypers[g]` holds group `g`'s values for this step.
    pub fn step(&mut self, grads: &[Option<Tensor>], hypers: &[Hyper]) -> Result<()> {
        if grads.len() != self.params.len() {
            bail!(
                "{} gradients for {} parameters",
                grads.len(),
                self.params.len()
            );
        }
        if hypers.len() < self.group_count() {
            bail!(
                "{} hyper-parameter sets for {} groups",
                hypers.len(),
                self.group_count()
            );
        }
        let _guard = tch::no_grad_guard();
        for ((param, state), grad) in self.params.iter_mut().zip(&mut self.state).zip(grads) {
            let Some(grad) = grad else { continue };
            let group = hypers[param.group];
            let h = Hyper {
                lr: group.lr * param.lr_scale,
                wd: group.wd / param.lr_scale,
                ..group
            };
            let wd = if param.decay { h.wd } else { 0.0 };
            let p = &mut param.tensor;
            match self.kind {
                OptKind::Sgd { nesterov } => sgd(p, grad, state, h, wd, self.wd_mode, nesterov)?,
                OptKind::Adam { beta2, eps } => {
                    adam(p, grad, state, h, wd, self.wd_mode, beta2, eps)?
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors (`<param>.buf`, `<param>.sq`, `<param>.step`), for checkpoints.
    pub fn state_tensors(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (param, state) in self.params.iter().zip(&self.state) {
            if let Some(buf) = &state.buf {
                out.insert(format!("{}.buf", param.name), buf.shallow_clone());
            }
            if let Some(sq) = &state.sq {
                out.insert(format!("{}.sq", param.name), sq.shallow_clone());
            }
            if state.step > 0 {
                out.insert(
                    format!("{}.step", param.name),
                    Tensor::from(state.step as i64),
                );
            }
        }
        out
    }

    /// Restores the state saved by [`Optimizer::state_tensors`]; every entry must name a known
    /// parameter and match its shape, and parameters without entries start fresh.
    pub fn load_state_tensors(&mut self, named: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut fresh: Vec<State> = self.params.iter().map(|_| State::default()).collect();
        for (key, value) in named {
            let (name, field) = key
                .rsplit_once('.')
                .with_context(|| format!("optimizer state entry {key:?} has no field suffix"))?;
            let i = self
                .params
                .iter()
                .position(|p| p.name == name)
                .with_context(|| format!("optimizer state names an unknown parameter {name:?}"))?;
            let shape = self.params[i].tensor.size();
            let check_shape = |t: &Tensor| -> Result<Tensor> {
                if t.size() != shape {
                    bail!(
                        "optimizer state {key:?} has shape {:?}, parameter has {shape:?}",
                        t.size()
                    );
                }
                Ok(t.to_device(self.params[i].tensor.device()).copy())
            };
            match field {
                "buf" => fresh[i].buf = Some(check_shape(value)?),
                "sq" => fresh[i].sq = Some(check_shape(value)?),
                "step" => fresh[i].step = u64::try_from(value.int64_value(&[]))?,
                other => bail!("unknown optimizer state field {other:?} in {key:?}"),
            }
        }
        self.state = fresh;
        Ok(())
    }
}

/// Applies weight decay the way `mode` says and returns the gradient to use: L2 adds `wd·p` to
/// the gradient (PyTorch's `weight_decay`); decoupled shrinks `p` by `1 − lr·wd` (AdamW).
fn weight_decay(p: &mut Tensor, grad: &Tensor, lr: f64, wd: f64, mode: WdMode) -> Result<Tensor> {
    if wd == 0.0 {
        return Ok(grad.shallow_clone());
    }
    match mode {
        WdMode::L2 => Ok(add_scaled(grad, p, wd)?),
        WdMode::Decoupled => {
            let _ = p.g_mul_scalar_(1.0 - lr * wd);
            Ok(grad.shallow_clone())
        }
    }
}

/// PyTorch's `_single_tensor_sgd` with dampening 0, plus decoupled decay for `true_wd`.
fn sgd(
    p: &mut Tensor,
    grad: &Tensor,
    state: &mut State,
    h: Hyper,
    wd: f64,
    mode: WdMode,
    nesterov: bool,
) -> Result<()> {
    let mut g = weight_decay(p, grad, h.lr, wd, mode)?;
    if h.momentum != 0.0 {
        let buf = match state.buf.as_mut() {
            None => state.buf.insert(g.detach().copy()),
            Some(buf) => {
                let _ = buf.g_mul_scalar_(h.momentum);
                add_scaled_(buf, &g, 1.0)?;
                buf
            }
        };
        g = if nesterov {
            add_scaled(&g, buf, h.momentum)?
        } else {
            buf.shallow_clone()
        };
    }
    add_scaled_(p, &g, -h.lr)?;
    Ok(())
}

/// PyTorch's `_single_tensor_adam` (L2 decay) and `_single_tensor_adamw` (decoupled decay).
#[allow(clippy::too_many_arguments)]
fn adam(
    p: &mut Tensor,
    grad: &Tensor,
    state: &mut State,
    h: Hyper,
    wd: f64,
    mode: WdMode,
    beta2: f64,
    eps: f64,
) -> Result<()> {
    let beta1 = h.momentum;
    state.step += 1;
    let g = weight_decay(p, grad, h.lr, wd, mode)?;
    let m = state.buf.get_or_insert_with(|| p.zeros_like());
    let _ = m.lerp_(&g, 1.0 - beta1);
    let v = state.sq.get_or_insert_with(|| p.zeros_like());
    let _ = v.g_mul_scalar_(beta2);
    addcmul_(v, &g, &g, 1.0 - beta2)?;
    let step = state.step as f64;
    let bias_correction1 = 1.0 - beta1.powf(step);
    let bias_correction2 = 1.0 - beta2.powf(step);
    // Python computes `bias_correction2 ** 0.5`, i.e. pow, not sqrt.
    let step_size = h.lr / bias_correction1;
    let denom = (v.sqrt() / bias_correction2.powf(0.5)).g_add_scalar_(eps);
    addcdiv_(p, m, &denom, -step_size)?;
    Ok(())
}

/// Scales the gradients in place so that their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Option<Tensor>], max_norm: f64) -> f64 {
    let _guard = tch::no_grad_guard();
    let norms: Vec<Tensor> = grads.iter().flatten().map(|g| g.norm()).collect();
    if norms.is_empty() {
        return 0.0;
    }
    let total = Tensor::stack(&norms, 0).norm();
    let coef = (max_norm / (total.double_value(&[]) + 1e-6)).min(1.0);
    let total_norm = total.double_value(&[]);
    if coef < 1.0 {
        for g in grads.iter_mut().flatten() {
            let _ = g.g_mul_scalar_(coef);
        }
    }
    total_norm
}

/// Whether a parameter is a batch-norm weight/bias or a bias (fastai's `bn_wd=False` skips
/// weight decay for these): judged by rank, since both are vectors.
pub fn is_bn_or_bias(tensor: &Tensor) -> bool {
    tensor.dim() <= 1 && tensor.kind() != Kind::Int64
}
