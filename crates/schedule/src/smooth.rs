//! Loss smoothing for the range test: a debiased exponential moving average.

use crate::validate::invalid;
use crate::ScheduleError;
use serde::{Deserialize, Serialize};

/// Debiased EMA: `avg = β·avg + (1 − β)·x`, reported as `avg / (1 − β^k)` after `k` values.
/// Serialisable, so that a resumed run continues the same smoothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SmoothLoss {
    beta: f64,
    avg: f64,
    count: u64,
}

impl Default for SmoothLoss {
    /// β = 0.98, as in fastai and Smith's range test.
    fn default() -> Self {
        SmoothLoss {
            beta: 0.98,
            avg: 0.0,
            count: 0,
        }
    }
}

impl SmoothLoss {
    /// A smoother with weight `beta` on the past, which must be in [0, 1).
    pub fn new(beta: f64) -> Result<Self, ScheduleError> {
        if !(0.0..1.0).contains(&beta) {
            return Err(invalid(format!("beta must be in [0, 1), got {beta}")));
        }
        Ok(SmoothLoss {
            beta,
            ..SmoothLoss::default()
        })
    }

    /// Adds one raw value and returns the smoothed value including it.
    pub fn push(&mut self, x: f64) -> f64 {
        self.avg = self.beta * self.avg + (1.0 - self.beta) * x;
        self.count += 1;
        self.smoothed()
    }

    /// The current smoothed value; `NaN` before the first value.
    pub fn smoothed(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.avg / (1.0 - self.beta.powf(self.count as f64))
    }

    /// How many values have been pushed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Forgets every value (keeps β).
    pub fn reset(&mut self) {
        self.avg = 0.0;
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_is_returned_unchanged_by_the_debiasing() {
        let mut s = SmoothLoss::default();
        assert!(s.smoothed().is_nan());
        assert!((s.push(2.5) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn constant_input_gives_constant_output() {
        let mut s = SmoothLoss::new(0.9).unwrap();
        for _ in 0..50 {
            assert!((s.push(3.0) - 3.0).abs() < 1e-12);
        }
        assert_eq!(s.count(), 50);
        s.reset();
        assert_eq!(s.count(), 0);
    }

    #[test]
    fn matches_the_formula_by_hand() {
        // beta 0.98, values 1, 2, 3:
        // avg1 = 0.02, avg2 = 0.98*0.02 + 0.04 = 0.0596, avg3 = 0.98*0.0596 + 0.06 = 0.118408
        // smoothed3 = 0.118408 / (1 - 0.98^3) = 0.118408 / 0.058808 = 2.013467555434632 (python3, same recurrence)
        let mut s = SmoothLoss::default();
        s.push(1.0);
        assert!((s.push(2.0) - 0.0596 / (1.0 - 0.98f64 * 0.98)).abs() < 1e-12);
        assert!((s.push(3.0) - 2.013_467_555_434_632).abs() < 1e-12);
    }

    #[test]
    fn beta_outside_unit_interval_is_rejected() {
        assert_eq!(
            SmoothLoss::new(1.0).unwrap_err().to_string(),
            "beta must be in [0, 1), got 1"
        );
        assert!(SmoothLoss::new(f64::NAN).is_err());
    }
}
