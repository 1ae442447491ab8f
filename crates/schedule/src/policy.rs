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
