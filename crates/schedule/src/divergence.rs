//! The divergence rule shared by training's guard and the LR range test: a non-finite loss, or a
//! smoothed loss above `factor` × the best smoothed loss, where the best is tracked only once
//! more than `warmup` losses were seen (so the noisy first iterations can neither set nor trip it).

/// Why a loss counts as diverged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Diverging {
    /// The raw or the smoothed loss is NaN or infinite.
    NotFinite { loss: f64 },
    /// The smoothed loss exceeds `factor` × its best.
    Exploded { smooth: f64, best: f64, factor: f64 },
}

/// The rule and its one piece of state, the best smoothed loss so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergence {
    pub factor: f64,
    pub warmup: usize,
    best: f64,
}

impl Divergence {
    /// No best yet.
    pub fn new(factor: f64, warmup: usize) -> Divergence {
        Divergence {
            factor,
            warmup,
            best: f64::INFINITY,
        }
    }

    /// Training's guard: 10× the best, after the first 10 steps.
    pub fn training() -> Divergence {
        Divergence::new(10.0, 10)
    }

    /// fastai's range-test stop: 4× the best, after the first 10 iterations.
    pub fn range_test() -> Divergence {
        Divergence::new(4.0, 10)
    }

    /// The best smoothed loss so far (infinite before the warm-up ends).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// The same rule resumed with `best` as its best so far.
    pub fn with_best(self, best: f64) -> Divergence {
        Divergence { best, ..self }
    }

    /// Judges the `count`-th loss (1-based: how many the smoother has seen) and its smoothed
    /// value; `Some` means stop.
    pub fn check(&mut self, count: u64, loss: f64, smooth: f64) -> Option<Diverging> {
        if !loss.is_finite() || !smooth.is_finite() {
            return Some(Diverging::NotFinite { loss });
        }
        if count > self.warmup as u64 {
            if smooth > self.factor * self.best {
                return Some(Diverging::Exploded {
                    smooth,
                    best: self.best,
                    factor: self.factor,
                });
            }
            self.best = self.best.min(smooth);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_neither_sets_nor_trips_the_best() {
        let mut rule = Divergence::new(4.0, 2);
        assert_eq!(rule.check(1, 1.0, 1.0), None);
        assert_eq!(rule.check(2, 100.0, 100.0), None);
        assert_eq!(rule.best(), f64::INFINITY);
        assert_eq!(rule.check(3, 2.0, 2.0), None);
        assert_eq!(rule.best(), 2.0);
        assert_eq!(rule.check(4, 8.0, 8.0), None, "4× is not above 4×");
        assert_eq!(
            rule.check(5, 9.0, 8.5),
            Some(Diverging::Exploded {
                smooth: 8.5,
                best: 2.0,
                factor: 4.0
            })
        );
    }

    #[test]
    fn a_non_finite_loss_stops_at_once() {
        let mut rule = Divergence::training();
        assert!(matches!(
            rule.check(1, f64::NAN, 1.0),
            Some(Diverging::NotFinite { .. })
        ));
        assert!(matches!(
            rule.check(1, 1.0, f64::INFINITY),
            Some(Diverging::NotFinite { .. })
        ));
    }
}
