//! The serde-facing choice of schedule, as written in `config.toml` (`policy = "one-cycle"`, …).

use crate::{
    ClrBeta, ClrBetaParams, Constant, ConstantParams, Cyclic, CyclicParams, FlatCos, FlatCosParams,
    OneCycle, OneCycleParams, Schedule, ScheduleError, Sgdr, SgdrParams, Steps, StepsParams, Sweep,
    SweepParams,
};
use serde::{Deserialize, Serialize};

/// A schedule and its hyper-parameters, tagged by `policy`; `build` validates and sizes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum Policy {
    /// 1cycle (PyTorch, fastai or fastai v1 convention).
    OneCycle(OneCycleParams),
    /// The seed's fastai 0.7 `use_clr_beta`.
    ClrBeta(ClrBetaParams),
    /// Cyclical learning rates.
    Cyclic(CyclicParams),
    /// Cosine annealing with warm restarts.
    Sgdr(SgdrParams),
    /// Flat, then cosine down.
    FlatCos(FlatCosParams),
    /// Piecewise-constant decay at milestones.
    Steps(StepsParams),
    /// One learning rate throughout.
    Constant(ConstantParams),
    /// LR range-test sweep.
    Sweep(SweepParams),
}

impl Policy {
    /// Validates the parameters and builds the schedule for `n` steps.
    pub fn build(&self, n: usize) -> Result<Box<dyn Schedule>, ScheduleError> {
        Ok(match self {
            Policy::OneCycle(p) => Box::new(OneCycle::new(p, n)?),
            Policy::ClrBeta(p) => Box::new(ClrBeta::new(p, n)?),
            Policy::Cyclic(p) => Box::new(Cyclic::new(p, n)?),
            Policy::Sgdr(p) => Box::new(Sgdr::new(p, n)?),
            Policy::FlatCos(p) => Box::new(FlatCos::new(p, n)?),
            Policy::Steps(p) => Box::new(Steps::new(p, n)?),
            Policy::Constant(p) => Box::new(Constant::new(p, n)?),
            Policy::Sweep(p) => Box::new(Sweep::new(p, n)?),
        })
    }

    /// Whether some lengths of this policy count epochs in a fit config (milestones, cycle_len,
    /// step sizes): see [`Policy::epochs_to_steps`].
    pub fn counts_epochs(&self) -> bool {
        matches!(self, Policy::Steps(_) | Policy::Sgdr(_) | Policy::Cyclic(_))
    }

    /// The same policy with lengths given in epochs (`milestones`, `cycle_len`, the cyclic
    /// step sizes) turned into steps of `batches_per_epoch` each; other policies are unchanged.
    pub fn epochs_to_steps(&self, batches_per_epoch: usize) -> Policy {
        let nb = batches_per_epoch;
        let mut policy = self.clone();
        match &mut policy {
            Policy::Steps(p) => p.milestones.iter_mut().for_each(|m| *m *= nb),
            Policy::Sgdr(p) => p.cycle_len *= nb,
            Policy::Cyclic(p) => {
                p.step_size_up *= nb;
                if let Some(down) = p.step_size_down.as_mut() {
                    *down *= nb;
                }
            }
            _ => {}
        }
        policy
    }

    /// The same policy with its peak (or only) learning rate set to `lr`, e.g. the LR a range
    /// test chose; `None` for the range-test sweep, which has no such LR.
    pub fn with_max_lr(&self, lr: f64) -> Option<Policy> {
        let mut policy = self.clone();
        match &mut policy {
            Policy::OneCycle(p) => p.max_lr = lr,
            Policy::ClrBeta(p) => p.max_lr = lr,
            Policy::Cyclic(p) => p.max_lr = lr,
            Policy::Sgdr(p) => p.max_lr = lr,
            Policy::FlatCos(p) => p.lr = lr,
            Policy::Steps(p) => p.lr = lr,
            Policy::Constant(p) => p.lr = lr,
            Policy::Sweep(_) => return None,
        }
        Some(policy)
    }

    /// The policy's name as written in config files (`one-cycle`, `clr-beta`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Policy::OneCycle(_) => "one-cycle",
            Policy::ClrBeta(_) => "clr-beta",
            Policy::Cyclic(_) => "cyclic",
            Policy::Sgdr(_) => "sgdr",
            Policy::FlatCos(_) => "flat-cos",
            Policy::Steps(_) => "steps",
            Policy::Constant(_) => "constant",
            Policy::Sweep(_) => "sweep",
        }
    }
}
