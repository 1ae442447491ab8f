//! Validation metrics accumulated over batches. A metric sees each batch's model outputs and
//! targets and reports one number per validation pass; add one by implementing [`Metric`].

use tch::{Kind, Tensor};

pub trait Metric: Send {
    /// Column name in `epochs.csv` and the reports.
    fn name(&self) -> String;
    /// Starts a new validation pass.
    fn reset(&mut self);
    /// Adds one batch.
    fn update(&mut self, outputs: &Tensor, targets: &Tensor);
    /// The value over the batches since `reset` (NaN when there were none).
    fn value(&self) -> f64;
    /// The sums `value` is computed from (e.g. hits and items), so that processes that each
    /// validated a share can add theirs up.
    fn sums(&self) -> Vec<f64>;
    /// Replaces the sums (by their totals over processes); `sums` is as long as [`Metric::sums`].
    fn set_sums(&mut self, sums: &[f64]);
}

/// Fraction of items whose target is among the `k` highest outputs (k = 1: accuracy).
#[derive(Debug, Clone, Default)]
pub struct TopK {
    k: i64,
    correct: i64,
    total: i64,
}

impl TopK {
    pub fn new(k: i64) -> TopK {
        TopK {
            k: k.max(1),
            correct: 0,
            total: 0,
        }
    }
}

/// Top-1 accuracy.
pub fn accuracy() -> TopK {
    TopK::new(1)
}

impl Metric for TopK {
    fn name(&self) -> String {
        if self.k == 1 {
            "accuracy".into()
        } else {
            format!("top{}_accuracy", self.k)
        }
    }

    fn reset(&mut self) {
        self.correct = 0;
        self.total = 0;
    }

    fn update(&mut self, outputs: &Tensor, targets: &Tensor) {
        let _guard = tch::no_grad_guard();
        let k = self.k.min(*outputs.size().last().unwrap_or(&1));
        let (_, top) = outputs.topk(k, -1, true, true);
        let hit = top.eq_tensor(&targets.unsqueeze(-1)).any_dim(-1, false);
        self.correct += hit.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]);
        self.total += targets.numel() as i64;
    }

    fn value(&self) -> f64 {
        if self.total == 0 {
            f64::NAN
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    fn sums(&self) -> Vec<f64> {
        vec![self.correct as f64, self.total as f64]
    }

    fn set_sums(&mut self, sums: &[f64]) {
        self.correct = sums[0].round() as i64;
        self.total = sums[1].round() as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_top2_count_hits_over_batches() {
        let outputs =
            Tensor::from_slice(&[0.1f32, 0.7, 0.2, 0.5, 0.3, 0.2, 0.3, 0.25, 0.45]).view([3, 3]);
        let targets = Tensor::from_slice(&[1i64, 1, 1]);
        let mut acc = accuracy();
        let mut top2 = TopK::new(2);
        acc.update(&outputs, &targets);
        top2.update(&outputs, &targets);
        // Row 0 predicts 1 (hit); row 1 predicts 0, then 1; row 2 predicts 2, then 0 (miss).
        assert_eq!(acc.value(), 1.0 / 3.0);
        assert_eq!(top2.value(), 2.0 / 3.0);
        acc.update(&outputs.narrow(0, 0, 1), &targets.narrow(0, 0, 1));
        assert_eq!(acc.value(), 2.0 / 4.0);
        acc.reset();
        assert!(acc.value().is_nan());
        assert_eq!(acc.name(), "accuracy");
        assert_eq!(top2.name(), "top2_accuracy");
    }
}
