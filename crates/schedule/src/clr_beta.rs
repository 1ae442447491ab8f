//! The seed's 1cycle: fastai 0.7's `use_clr_beta=(div, pct, max_mom, min_mom)` (linear, with a
//! final annihilation phase down to `max_lr / (100·div)`).

use crate::validate::{self, invalid};
use crate::{check_step, Point, Schedule, ScheduleError};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of fastai 0.7's `CircularLR_beta`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClrBetaParams {
    /// Peak learning rate (fastai 0.7's `lr`).
    pub max_lr: f64,
    /// The cycle runs between `max_lr / div` and `max_lr`.
    pub div: f64,
    /// Percentage (not fraction) of the steps left for the annihilation phase, e.g. 13.68.
    pub pct: f64,
    /// `[max_mom, min_mom]`: momentum at the low and at the peak LR; `None` leaves momentum alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moms: Option<[f64; 2]>,
}

/// A validated `use_clr_beta` schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ClrBeta {
    steps: usize,
    max_lr: f64,
    div: f64,
    moms: Option<[f64; 2]>,
    /// Half-cycle length `floor(n·(1 − pct/100)/2)`, as fastai 0.7's `cycle_nb`.
    c: f64,
}

impl ClrBeta {
    /// Validates `p` for `n` steps; the half-cycle must be at least one step.
    pub fn new(p: &ClrBetaParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        let max_lr = validate::positive("max_lr", p.max_lr)?;
        let div = validate::positive("div", p.div)?;
        if !(p.pct >= 0.0 && p.pct < 100.0) {
            return Err(invalid(format!(
                "pct must be a percentage in [0, 100), got {}",
                p.pct
            )));
        }
        if let Some([max_mom, min_mom]) = p.moms {
            validate::momentum("moms[0]", max_mom)?;
            validate::momentum("moms[1]", min_mom)?;
        }
        let c = (n as f64 * (1.0 - p.pct / 100.0) / 2.0).floor();
        if c < 1.0 {
            return Err(invalid(format!(
                "pct = {} with steps = {n} leaves a half-cycle of {c} steps; it must be at least 1 \
                 (use more steps or a smaller pct)",
                p.pct
            )));
        }
        Ok(ClrBeta {
            steps: n,
            max_lr,
            div,
            moms: p.moms,
            c,
        })
    }

    /// Length of each half of the cycle, in steps (`c`); annihilation starts after step `2c`.
    pub fn half_cycle(&self) -> usize {
        self.c as usize
    }

    fn value(&self, i: usize) -> Point {
        let (c, x) = (self.c, i as f64);
        if x > 2.0 * c {
            let u = (x - 2.0 * c) / (self.steps as f64 - 2.0 * c);
            Point {
                lr: self.max_lr * (1.0 + u * (1.0 - 100.0) / 100.0) / self.div,
                momentum: self.moms.map(|[max_mom, _]| max_mom),
            }
        } else {
            let t = if x > c { 1.0 - (x - c) / c } else { x / c };
            Point {
                lr: self.max_lr * (1.0 + t * (self.div - 1.0)) / self.div,
                momentum: self
                    .moms
                    .map(|[max_mom, min_mom]| max_mom + t * (min_mom - max_mom)),
            }
        }
    }
}

impl Schedule for ClrBeta {
    fn steps(&self) -> usize {
        self.steps
    }

    fn at(&self, i: usize) -> Result<Point, ScheduleError> {
        check_step(i, self.steps)?;
        Ok(self.value(i))
    }
}
