//! Learning-rate and momentum schedules as pure functions of the step index.
//!
//! Every schedule maps a step `i` in `0..steps()` (the step the optimizer is about to run) to a
//! [`Point`]: the learning rate and, when the schedule drives it, the momentum. Parameters are
//! validated once, in the constructors; asking for a step past the end is an error, never a clamp.

mod anneal;
mod clr_beta;
mod cyclic;
mod divergence;
mod one_cycle;
mod policy;
mod simple;
mod smooth;
pub mod suggest;
mod validate;

pub use anneal::{anneal_cos, anneal_linear, fastai_cos, Anneal};
pub use clr_beta::{ClrBeta, ClrBetaParams};
pub use cyclic::{Cyclic, CyclicMode, CyclicParams};
pub use divergence::{Divergence, Diverging};
pub use one_cycle::{Convention, MomsSetting, OneCycle, OneCycleParams};
pub use policy::Policy;
pub use simple::{
    Constant, ConstantParams, FlatCos, FlatCosParams, Sgdr, SgdrParams, Steps, StepsParams, Sweep,
    SweepKind, SweepParams,
};
pub use smooth::SmoothLoss;
pub use suggest::{Curve, Rule, SuggestError, Suggestion};

/// What a schedule prescribes for one step: the learning rate and, if scheduled, the momentum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Learning rate for this step.
    pub lr: f64,
    /// Momentum (or Adam's β1) for this step; `None` when the schedule leaves it alone.
    pub momentum: Option<f64>,
}

/// Why a schedule could not be built or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// A hyper-parameter is out of range; the message names the parameter by its field name.
    #[error("{0}")]
    Invalid(String),
    /// A step at or past the end of the schedule was requested.
    #[error("step {step} is past the end of the schedule ({steps} steps: 0..{steps})")]
    PastEnd {
        /// The step that was asked for.
        step: usize,
        /// The schedule's length.
        steps: usize,
    },
}

/// A learning-rate (and momentum) schedule over a fixed number of steps.
pub trait Schedule: Send + Sync {
    /// Number of steps `n`; valid indices are `0..n`.
    fn steps(&self) -> usize;

    /// The point for step `i`; `ScheduleError::PastEnd` when `i >= steps()`.
    fn at(&self, i: usize) -> Result<Point, ScheduleError>;

    /// All `steps()` points in order, for plotting and tests.
    fn points(&self) -> Vec<Point> {
        (0..self.steps()).map_while(|i| self.at(i).ok()).collect()
    }
}

/// Lets `Result<Box<dyn Schedule>, _>` be unwrapped and logged without requiring `Debug` of
/// every implementor.
impl std::fmt::Debug for dyn Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schedule({} steps)", self.steps())
    }
}

/// Returns `PastEnd` unless `i < steps`; shared by every `Schedule::at`.
fn check_step(i: usize, steps: usize) -> Result<(), ScheduleError> {
    if i < steps {
        Ok(())
    } else {
        Err(ScheduleError::PastEnd { step: i, steps })
    }
}
