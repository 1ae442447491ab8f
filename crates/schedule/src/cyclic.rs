//! Cyclical learning rates (Smith 2015), as PyTorch's `CyclicLR` computes them.

use crate::validate::{self, invalid};
use crate::{check_step, Point, Schedule, ScheduleError};
use serde::{Deserialize, Serialize};

/// How the cycle's amplitude evolves (PyTorch's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CyclicMode {
    /// Constant amplitude.
    #[default]
    Triangular,
    /// Amplitude halves every cycle.
    Triangular2,
    /// Amplitude scaled by `gamma^i` (by iteration).
    ExpRange,
}

/// Hyper-parameters of PyTorch's `CyclicLR`, stepped once per iteration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclicParams {
    /// Learning rate at the bottom of each cycle.
    pub base_lr: f64,
    /// Learning rate at the top of the first cycle.
    pub max_lr: f64,
    /// Steps from base to max.
    pub step_size_up: usize,
    /// Steps from max back to base (default `step_size_up`; 0 gives a sawtooth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size_down: Option<usize>,
    /// Amplitude policy.
    #[serde(default)]
    pub mode: CyclicMode,
    /// Decay base for `exp_range` (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// `[at base_lr, at max_lr]` momentum (PyTorch's max_momentum, base_momentum); `None` = not cycled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moms: Option<[f64; 2]>,
}

/// A validated cyclical schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Cyclic {
    steps: usize,
    base_lr: f64,
    max_lr: f64,
    total_size: f64,
    step_ratio: f64,
    mode: CyclicMode,
    gamma: f64,
    moms: Option<[f64; 2]>,
}

impl Cyclic {
    /// Validates `p` for `n` steps.
    pub fn new(p: &CyclicParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        let base_lr = validate::positive("base_lr", p.base_lr)?;
        let max_lr = validate::positive("max_lr", p.max_lr)?;
        if p.step_size_up < 1 {
            return Err(invalid(format!(
                "step_size_up must be at least 1, got {}",
                p.step_size_up
            )));
        }
        let gamma = validate::positive("gamma", p.gamma.unwrap_or(1.0))?;
        if let Some([at_base, at_max]) = p.moms {
            validate::momentum("moms[0]", at_base)?;
            validate::momentum("moms[1]", at_max)?;
        }
        let up = p.step_size_up as f64;
        let down = p.step_size_down.unwrap_or(p.step_size_up) as f64;
        let total_size = up + down;
        Ok(Cyclic {
            steps: n,
            base_lr,
            max_lr,
            total_size,
            step_ratio: up / total_size,
            mode: p.mode,
            gamma,
            moms: p.moms,
        })
    }

    fn value(&self, i: usize) -> Point {
        let it = i as f64;
        let cycle = (1.0 + it / self.total_size).floor();
        let x = 1.0 + it / self.total_size - cycle;
        let scale = if x <= self.step_ratio {
            x / self.step_ratio
        } else {
            (x - 1.0) / (self.step_ratio - 1.0)
        };
        let scale_fn = match self.mode {
            CyclicMode::Triangular => 1.0,
            CyclicMode::Triangular2 => 1.0 / 2f64.powf(cycle - 1.0),
            CyclicMode::ExpRange => self.gamma.powf(it),
        };
        let height = (self.max_lr - self.base_lr) * scale;
        Point {
            lr: self.base_lr + height * scale_fn,
            momentum: self.moms.map(|[max_mom, base_mom]| {
                let h = (max_mom - base_mom) * scale;
                max_mom - h * scale_fn
            }),
        }
    }
}

impl Schedule for Cyclic {
    fn steps(&self) -> usize {
        self.steps
    }

    fn at(&self, i: usize) -> Result<Point, ScheduleError> {
        check_step(i, self.steps)?;
        Ok(self.value(i))
    }
}
