//! Lookahead onto an exponential average of the weights (airbench94's): every `every` steps the
//! average moves toward the weights and the weights are set to it, and after the last step the
//! weights become the average. The average's decay grows as the cube of training's progress, so
//! early steps are barely held back and the last ones are smoothed most.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// How often the weights are pulled back, and how much of the average each pull keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookaheadConfig {
    /// Steps between two pulls (airbench: 5).
    pub every: usize,
    /// The per-step decay of the average at the end of training (airbench: 0.95); a pull after
    /// `done` of `total` steps keeps `rate^every · (done / total)³` of the average.
    pub rate: f64,
}

impl LookaheadConfig {
    /// airbench94's values: every 5 steps, rate 0.95.
    pub fn airbench() -> LookaheadConfig {
        LookaheadConfig {
            every: 5,
            rate: 0.95,
        }
    }

    /// The share of the average a pull after `done` of `total` steps keeps, `None` when no
    /// pull is due. After the last step there is always one: the weights become the average,
    /// with the last steps blended in when a regular pull falls there.
    pub fn decay(&self, done: usize, total: usize) -> Option<f64> {
        let progress = done as f64 / total.max(1) as f64;
        if done.is_multiple_of(self.every) {
            Some(self.rate.powi(self.every as i32) * progress.powi(3))
        } else {
            (done >= total).then_some(1.0)
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.every == 0 {
            bail!("lookahead.every must be at least 1 step, got 0");
        }
        if !(self.rate > 0.0 && self.rate < 1.0) {
            bail!("lookahead.rate must be in (0, 1), got {}", self.rate);
        }
        Ok(())
    }
}

/// The average of the weights during a fit: named copies of the model's floating-point
/// variables (weights and BatchNorm statistics), taken when the fit starts.
pub(crate) struct Lookahead {
    pub config: LookaheadConfig,
    pub average: Option<Vec<(String, Tensor)>>,
}

impl Lookahead {
    pub fn new(config: LookaheadConfig) -> Lookahead {
        Lookahead {
            config,
            average: None,
        }
    }

    /// Starts the average at `vars` unless it holds one already (a resumed fit's).
    pub fn start(&mut self, vars: &[(String, Tensor)]) {
        if self.average.is_none() {
            let _guard = tch::no_grad_guard();
            let floats = vars.iter().filter(|(_, v)| v.is_floating_point());
            self.average = Some(floats.map(|(k, v)| (k.clone(), v.copy())).collect());
        }
    }

    /// After `done` of `total` steps: a pull when one is due (see [`LookaheadConfig::decay`]).
    /// `vars` are the model's variables in the order [`Lookahead::start`] saw them.
    pub fn after_step(&mut self, vars: &[(String, Tensor)], done: usize, total: usize) {
        let (Some(decay), Some(average)) = (self.config.decay(done, total), &mut self.average)
        else {
            return;
        };
        let _guard = tch::no_grad_guard();
        for ((_, avg), (_, var)) in average
            .iter_mut()
            .zip(vars.iter().filter(|(_, v)| v.is_floating_point()))
        {
            let _ = avg.lerp_(var, 1.0 - decay);
            var.shallow_clone().copy_(avg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_come_every_period_and_after_the_last_step() {
        let c = LookaheadConfig::airbench();
        assert_eq!(c.decay(4, 100), None);
        let d = c.decay(50, 100).unwrap();
        assert!((d - 0.95f64.powi(5) / 8.0).abs() < 1e-15, "{d}");
        assert_eq!(c.decay(98, 98), Some(1.0));
        assert_eq!(c.decay(100, 100), Some(0.95f64.powi(5)));
    }

    #[test]
    fn a_pull_moves_average_and_weights_to_the_blend_and_skips_integers() {
        let w = Tensor::from_slice(&[0.0f32, 4.0]);
        let count = Tensor::from_slice(&[7i64]);
        let vars = vec![("count".to_string(), count), ("w".to_string(), w)];
        let mut la = Lookahead::new(LookaheadConfig::airbench());
        la.start(&vars);
        let _ = vars[1].1.shallow_clone().fill_(8.0);
        // Half-way through: decay 0.95⁵/8 ≈ 0.0967 of the average (0, 4) and the rest of (8, 8).
        la.after_step(&vars, 50, 100);
        let d = 0.95f64.powi(5) / 8.0;
        let want = [8.0 * (1.0 - d), 4.0 * d + 8.0 * (1.0 - d)];
        let got = Vec::<f32>::try_from(&vars[1].1).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
        assert_eq!(la.average.as_ref().unwrap().len(), 1);
        // A last step off the period sets the weights to the average alone.
        let _ = vars[1].1.shallow_clone().fill_(-1.0);
        la.after_step(&vars, 99, 99);
        let got = Vec::<f32>::try_from(&vars[1].1).unwrap();
        assert!((got[0] as f64 - want[0]).abs() < 1e-5, "{got:?}");
    }
}
