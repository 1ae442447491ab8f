//! The divergence rule shared by training's guard and the LR range test: a non-finite loss, or a
//! smoothed loss above `factor` × the best smoothed loss, where the best is tracked only once
//! more than `warmup` losses were seen (so the noisy first iterations cannot set it). The range
//! test ignores the warm-up, as fastai does; training's guard judges it against the first loss,
//! so that a run whose LR is far too high stops at once instead of after the warm-up, when its
//! "best" has blown up already.

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
    /// Judge the warm-up against the first smoothed loss (training) or not at all (range test).
    pub from_first: bool,
    best: f64,
    first: f64,
}

impl Divergence {
    /// No best yet; the warm-up is not judged.
    pub fn new(factor: f64, warmup: usize) -> Divergence {
        Divergence {
            factor,
            warmup,
            from_first: false,
            best: f64::INFINITY,
            first: f64::INFINITY,
        }
    }

    /// Training's guard: 10× the first smoothed loss during the first 10 steps, 10× the best
    /// after them.
    pub fn training() -> Divergence {
        Divergence {
            from_first: true,
            ..Divergence::new(10.0, 10)
        }
    }

    /// fastai's range-test stop: 4× the best, after the first 10 iterations.
    pub fn range_test() -> Divergence {
        Divergence::new(4.0, 10)
    }

    /// The same rule stopping at `factor` × the reference instead.
    pub fn with_factor(self, factor: f64) -> Divergence {
        Divergence { factor, ..self }
    }

    /// The best smoothed loss so far (infinite before the warm-up ends).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// The first smoothed loss judged (infinite before any).
    pub fn first(&self) -> f64 {
        self.first
    }

    /// The same rule resumed with `best` as its best so far and `first` as its first loss.
    pub fn resumed(self, best: f64, first: f64) -> Divergence {
        Divergence {
            best,
            first,
            ..self
        }
    }

    /// Judges the `count`-th loss (1-based: how many the smoother has seen) and its smoothed
    /// value; `Some` means stop.
    pub fn check(&mut self, count: u64, loss: f64, smooth: f64) -> Option<Diverging> {
        if !loss.is_finite() || !smooth.is_finite() {
            return Some(Diverging::NotFinite { loss });
        }
        if self.first.is_infinite() {
            self.first = smooth;
        }
        if count <= self.warmup as u64 {
            return self.exceeds(smooth, self.first).filter(|_| self.from_first);
        }
        if let Some(exploded) = self.exceeds(smooth, self.best) {
            return Some(exploded);
        }
        self.best = self.best.min(smooth);
        None
    }

    /// `Exploded` when `smooth` is above `factor` × `reference`.
    fn exceeds(&self, smooth: f64, reference: f64) -> Option<Diverging> {
        (smooth > self.factor * reference).then_some(Diverging::Exploded {
            smooth,
            best: reference,
            factor: self.factor,
        })
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
    fn training_judges_the_warm_up_against_the_first_loss_and_the_range_test_does_not() {
        let mut training = Divergence::training();
        let mut range = Divergence::range_test();
        assert_eq!(training.check(1, 2.0, 2.0), None);
        assert_eq!(range.check(1, 2.0, 2.0), None);
        assert_eq!(training.check(2, 10.0, 19.0), None, "9.5× the first");
        assert_eq!(
            training.check(3, 1e5, 21.0),
            Some(Diverging::Exploded {
                smooth: 21.0,
                best: 2.0,
                factor: 10.0
            })
        );
        assert_eq!(range.check(2, 1e5, 21.0), None, "fastai's range test waits");
        assert_eq!(training.best(), f64::INFINITY, "the warm-up sets no best");
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
