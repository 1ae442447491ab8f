//! Annealing functions: move from `start` to `end` as `p` goes from 0 to 1.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Shape of an annealing phase (PyTorch's `anneal_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anneal {
    /// Half a cosine wave: slow at both ends.
    #[default]
    Cos,
    /// A straight line.
    Linear,
}

impl Anneal {
    /// Value at fraction `p` of the way from `start` to `end`, with this shape.
    pub fn apply(self, start: f64, end: f64, p: f64) -> f64 {
        match self {
            Anneal::Cos => anneal_cos(start, end, p),
            Anneal::Linear => anneal_linear(start, end, p),
        }
    }
}

/// PyTorch's `_annealing_cos` (also fastai v1's `annealing_cos`), same operation order.
pub fn anneal_cos(start: f64, end: f64, p: f64) -> f64 {
    let cos_out = (PI * p).cos() + 1.0;
    end + (start - end) / 2.0 * cos_out
}

/// PyTorch's `_annealing_linear`, same operation order.
pub fn anneal_linear(start: f64, end: f64, p: f64) -> f64 {
    (end - start) * p + start
}

/// fastai v2's `_cos_anneal`: the same curve as [`anneal_cos`], written from the start value.
pub fn fastai_cos(start: f64, end: f64, p: f64) -> f64 {
    start + (1.0 + (PI * (1.0 - p)).cos()) * (end - start) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_annealer_starts_at_start_and_ends_at_end() {
        for f in [anneal_cos, anneal_linear, fastai_cos] {
            assert!((f(2.0, 0.5, 0.0) - 2.0).abs() < 1e-15);
            assert!((f(2.0, 0.5, 1.0) - 0.5).abs() < 1e-15);
        }
    }

    #[test]
    fn cos_is_halfway_at_the_middle_and_linear_is_proportional() {
        assert!((anneal_cos(1.0, 3.0, 0.5) - 2.0).abs() < 1e-15);
        assert!((fastai_cos(1.0, 3.0, 0.5) - 2.0).abs() < 1e-15);
        assert_eq!(anneal_linear(1.0, 3.0, 0.25), 1.5);
        assert_eq!(Anneal::Linear.apply(1.0, 3.0, 0.25), 1.5);
        assert_eq!(Anneal::Cos.apply(1.0, 3.0, 0.3), anneal_cos(1.0, 3.0, 0.3));
    }
}
