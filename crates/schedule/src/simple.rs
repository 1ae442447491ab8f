//! The single-formula schedules: SGDR, flat-then-cosine, piecewise-constant steps, constant, and
//! the range-test sweeps. Each holds momentum constant (or leaves it alone).

use crate::anneal::fastai_cos;
use crate::validate::{self, invalid};
use crate::{check_step, Point, Schedule, ScheduleError};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Implements `Schedule` for a struct with `steps` and a `value(i) -> Point` method.
macro_rules! impl_schedule {
    ($t:ty) => {
        impl Schedule for $t {
            fn steps(&self) -> usize {
                self.steps
            }

            fn at(&self, i: usize) -> Result<Point, ScheduleError> {
                check_step(i, self.steps)?;
                Ok(self.value(i))
            }
        }
    };
}

/// Hyper-parameters of cosine annealing with warm restarts (PyTorch's
/// `CosineAnnealingWarmRestarts` stepped per iteration; fastai's SGDR).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdrParams {
    /// LR at the start of every cycle.
    pub max_lr: f64,
    /// LR each cycle anneals towards (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
    /// Steps in the first cycle (PyTorch's `T_0`).
    pub cycle_len: usize,
    /// Each cycle is `cycle_mult` times longer than the previous (integer, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_mult: Option<usize>,
    /// Constant momentum; `None` leaves momentum alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
}

/// A validated SGDR schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Sgdr {
    steps: usize,
    max_lr: f64,
    min_lr: f64,
    cycle_len: usize,
    cycle_mult: usize,
    momentum: Option<f64>,
}

impl Sgdr {
    /// Validates `p` for `n` steps.
    pub fn new(p: &SgdrParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        let max_lr = validate::positive("max_lr", p.max_lr)?;
        let min_lr = validate::non_negative("min_lr", p.min_lr.unwrap_or(0.0))?;
        if p.cycle_len < 1 {
            return Err(invalid(format!(
                "cycle_len must be at least 1, got {}",
                p.cycle_len
            )));
        }
        let cycle_mult = p.cycle_mult.unwrap_or(1);
        if cycle_mult < 1 {
            return Err(invalid(format!(
                "cycle_mult must be an integer >= 1, got {cycle_mult}"
            )));
        }
        Ok(Sgdr {
            steps: n,
            max_lr,
            min_lr,
            cycle_len: p.cycle_len,
            cycle_mult,
            momentum: validate::opt_momentum(p.momentum)?,
        })
    }

    /// Position inside the current cycle and that cycle's length (PyTorch's `T_cur`, `T_i`).
    pub fn cycle_position(&self, i: usize) -> (usize, usize) {
        if self.cycle_mult == 1 {
            return (i % self.cycle_len, self.cycle_len);
        }
        let (mut t_cur, mut t_i) = (i, self.cycle_len);
        while t_cur >= t_i {
            t_cur -= t_i;
            t_i = t_i.saturating_mul(self.cycle_mult);
        }
        (t_cur, t_i)
    }

    fn value(&self, i: usize) -> Point {
        let (t_cur, t_i) = self.cycle_position(i);
        let cos = (PI * t_cur as f64 / t_i as f64).cos();
        Point {
            lr: self.min_lr + (self.max_lr - self.min_lr) * (1.0 + cos) / 2.0,
            momentum: self.momentum,
        }
    }
}

impl_schedule!(Sgdr);

/// Hyper-parameters of fastai v2's `fit_flat_cos`: flat, then a cosine down.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatCosParams {
    /// LR of the flat part.
    pub lr: f64,
    /// Final LR is `lr / final_div` (fastai's `div_final`, default 1e5).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "div_final")]
    pub final_div: Option<f64>,
    /// Fraction of the steps held flat (default 0.75).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct_start: Option<f64>,
    /// Constant momentum; `None` leaves momentum alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
}

/// A validated flat-then-cosine schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatCos {
    steps: usize,
    lr: f64,
    final_lr: f64,
    pct: f64,
    momentum: Option<f64>,
}

impl FlatCos {
    /// Validates `p` for `n` steps.
    pub fn new(p: &FlatCosParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        let lr = validate::positive("lr", p.lr)?;
        let final_div = validate::positive("final_div", p.final_div.unwrap_or(1e5))?;
        Ok(FlatCos {
            steps: n,
            lr,
            final_lr: lr / final_div,
            pct: validate::fraction("pct_start", p.pct_start.unwrap_or(0.75))?,
            momentum: validate::opt_momentum(p.momentum)?,
        })
    }

    fn value(&self, i: usize) -> Point {
        let pos = i as f64 / self.steps as f64;
        let lr = if pos < self.pct {
            self.lr
        } else {
            fastai_cos(self.lr, self.final_lr, (pos - self.pct) / (1.0 - self.pct))
        };
        Point {
            lr,
            momentum: self.momentum,
        }
    }
}

impl_schedule!(FlatCos);

/// Hyper-parameters of piecewise-constant decay (PyTorch's `MultiStepLR`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepsParams {
    /// Initial learning rate.
    pub lr: f64,
    /// Steps at which the LR is multiplied by `gamma` (strictly increasing, each below `steps`).
    pub milestones: Vec<usize>,
    /// Decay factor per milestone (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Constant momentum; `None` leaves momentum alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
}

/// A validated piecewise-constant schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps {
    steps: usize,
    lr: f64,
    milestones: Vec<usize>,
    gamma: f64,
    momentum: Option<f64>,
}

impl Steps {
    /// Validates `p` for `n` steps.
    pub fn new(p: &StepsParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        let lr = validate::positive("lr", p.lr)?;
        let gamma = validate::positive("gamma", p.gamma.unwrap_or(0.1))?;
        if p.milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(format!(
                "milestones must be strictly increasing, got {:?}",
                p.milestones
            )));
        }
        if let Some(&m) = p.milestones.iter().find(|&&m| m >= n) {
            return Err(invalid(format!(
                "milestones must be below steps = {n}, got {m}"
            )));
        }
        Ok(Steps {
            steps: n,
            lr,
            milestones: p.milestones.clone(),
            gamma,
            momentum: validate::opt_momentum(p.momentum)?,
        })
    }

    fn value(&self, i: usize) -> Point {
        let passed = self.milestones.partition_point(|&m| m <= i);
        Point {
            lr: self.lr * self.gamma.powf(passed as f64),
            momentum: self.momentum,
        }
    }
}

impl_schedule!(Steps);

/// Hyper-parameters of a constant schedule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantParams {
    /// The learning rate at every step.
    pub lr: f64,
    /// Constant momentum; `None` leaves momentum alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
}

/// A validated constant schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    steps: usize,
    point: Point,
}

impl Constant {
    /// Validates `p` for `n` steps.
    pub fn new(p: &ConstantParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        Ok(Constant {
            steps: n,
            point: Point {
                lr: validate::positive("lr", p.lr)?,
                momentum: validate::opt_momentum(p.momentum)?,
            },
        })
    }

    fn value(&self, _i: usize) -> Point {
        self.point
    }
}

impl_schedule!(Constant);

/// Spacing of an LR range test's sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SweepKind {
    /// Geometric: `start·(end/start)^(i/n)` (fastai, Smith's later papers).
    #[default]
    Exponential,
    /// Arithmetic: `start + (end − start)·i/n` (Smith's original range test).
    Linear,
}

/// Hyper-parameters of an LR range-test sweep.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepParams {
    /// LR at step 0.
    pub start_lr: f64,
    /// LR the sweep approaches (reached at step `n`, one past the end).
    pub end_lr: f64,
    /// Exponential (default) or linear spacing.
    #[serde(default)]
    pub kind: SweepKind,
    /// Constant momentum; `None` leaves momentum alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
}

/// A validated range-test sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    steps: usize,
    start_lr: f64,
    end_lr: f64,
    kind: SweepKind,
    momentum: Option<f64>,
}

impl Sweep {
    /// Validates `p` for `n` steps.
    pub fn new(p: &SweepParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        let start_lr = validate::positive("start_lr", p.start_lr)?;
        let end_lr = validate::positive("end_lr", p.end_lr)?;
        // The range test reads the loss against an increasing LR (divergence stops it, the
        // suggestions look for the steepest fall before it); fastai and Smith sweep upwards only.
        if end_lr <= start_lr {
            return Err(invalid(format!(
                "end_lr must be above start_lr (the sweep raises the LR), got start_lr {start_lr} \
                 and end_lr {end_lr}"
            )));
        }
        Ok(Sweep {
            steps: n,
            start_lr,
            end_lr,
            kind: p.kind,
            momentum: validate::opt_momentum(p.momentum)?,
        })
    }

    fn value(&self, i: usize) -> Point {
        let frac = i as f64 / self.steps as f64;
        let lr = match self.kind {
            SweepKind::Exponential => self.start_lr * (self.end_lr / self.start_lr).powf(frac),
            SweepKind::Linear => self.start_lr + (self.end_lr - self.start_lr) * frac,
        };
        Point {
            lr,
            momentum: self.momentum,
        }
    }
}

impl_schedule!(Sweep);
