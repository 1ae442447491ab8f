//! Learning-rate suggestions read off a range-test curve, rule for rule as fastai 2.8 (`valley`,
//! `steep`, `minimum`, `slide`) and fastai v1 (`min_grad`) compute them, on plain `f64` slices.
//!
//! fastai converts the curve to float32 tensors first; these rules compare in `f64`, so they agree
//! except where two losses differ by less than float32 resolution.

use std::fmt;
use std::str::FromStr;

/// A suggestion rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Middle of the longest decreasing stretch (fastai 2.8's default).
    Valley,
    /// Steepest descent of the loss against log LR.
    Steep,
    /// The LR at the lowest loss, divided by 10.
    Minimum,
    /// fastai's interval slide rule on the loss gradient.
    Slide,
    /// fastai v1: the steepest descent of the loss per recorded point.
    MinGrad,
    /// The LR at the lowest loss itself: Smith's peak for a 1cycle from scratch, the largest LR
    /// at which the loss still falls (`tune`'s rule).
    Lowest,
    /// The geometric middle of the plateau around the lowest loss: the stretch where the loss
    /// stays within [`PLATEAU_TOLERANCE`] of the descent above its lowest (`tune`'s rule).
    Plateau,
}

/// How far above its lowest the loss may sit and still be on the plateau, as a share of the
/// descent (from the highest loss before the lowest down to it).
pub const PLATEAU_TOLERANCE: f64 = 0.1;

impl Rule {
    /// Every rule, in the order they are printed.
    pub const ALL: [Rule; 7] = [
        Rule::Valley,
        Rule::Steep,
        Rule::Minimum,
        Rule::Slide,
        Rule::MinGrad,
        Rule::Lowest,
        Rule::Plateau,
    ];

    /// fastai's name for the rule (`min_grad` for v1's).
    pub fn name(self) -> &'static str {
        match self {
            Rule::Valley => "valley",
            Rule::Steep => "steep",
            Rule::Minimum => "minimum",
            Rule::Slide => "slide",
            Rule::MinGrad => "min_grad",
            Rule::Lowest => "lowest",
            Rule::Plateau => "plateau",
        }
    }

    /// One line on how the rule reads the curve, for messages that say why an LR was chosen.
    pub fn explain(self) -> &'static str {
        match self {
            Rule::Valley => "a third of the way into the longest decreasing stretch of the loss",
            Rule::Steep => "where the loss falls fastest against log(lr)",
            Rule::Minimum => "one tenth of the lr at the lowest loss",
            Rule::Slide => "the interval slide rule on the loss gradient",
            Rule::MinGrad => "where the loss falls fastest per step (fastai v1)",
            Rule::Lowest => "the lr at the lowest loss, the largest at which it still falls",
            Rule::Plateau => {
                "the middle (in log lr) of the plateau where the loss stays near its lowest, \
                 between the end of the descent and divergence"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rule {
    type Err = SuggestError;

    /// Accepts the names of [`Rule::name`], with `-` or `_` in `min-grad`.
    fn from_str(s: &str) -> Result<Rule, SuggestError> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "valley" => Ok(Rule::Valley),
            "steep" => Ok(Rule::Steep),
            "minimum" => Ok(Rule::Minimum),
            "slide" => Ok(Rule::Slide),
            "min_grad" => Ok(Rule::MinGrad),
            "lowest" => Ok(Rule::Lowest),
            "plateau" => Ok(Rule::Plateau),
            _ => Err(SuggestError::UnknownRule(s.to_string())),
        }
    }
}

/// Why no learning rate could be suggested.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SuggestError {
    #[error(
        "{lrs} learning rates but {losses} losses: the curve's columns must have equal length"
    )]
    Lengths { lrs: usize, losses: usize },
    #[error("learning rate {lr} at point {index} is not a finite number > 0")]
    BadLr { index: usize, lr: f64 },
    #[error(
        "the curve has {points} points, too few to drop {skip_start} at the start and {skip_end} at the end and keep the 2 a suggestion needs; run a longer range test or skip fewer points"
    )]
    TooFewPoints {
        points: usize,
        skip_start: usize,
        skip_end: usize,
    },
    #[error(
        "the loss is not finite from lr {lr:.3e} on, leaving {kept} usable point(s); start the range test lower"
    )]
    NotFinite { lr: f64, kept: usize },
    #[error(
        "the loss is flat ({min} to {max}): the range test shows no learning; raise end_lr or check the model"
    )]
    Flat { min: f64, max: f64 },
    #[error(
        "the loss never falls between lr {from:.3e} and {to:.3e}: the model may already be trained or the sweep starts too high"
    )]
    NoDescent { from: f64, to: f64 },
    #[error("{rule} needs at least {need} points, the curve has {have}")]
    RuleNeedsPoints {
        rule: Rule,
        need: usize,
        have: usize,
    },
    #[error("unknown suggestion rule {0:?}: use valley, steep, minimum, slide or min-grad")]
    UnknownRule(String),
}

/// A suggested learning rate and the point of the curve to mark for it (fastai's marker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suggestion {
    pub rule: Rule,
    /// The suggested learning rate.
    pub lr: f64,
    /// Where fastai marks the suggestion: `(lr, loss)` on the curve (for `minimum`, the minimum
    /// itself, ten times the suggested LR).
    pub mark: (f64, f64),
}

/// The part of a range-test curve the rules read: `skip_start` points dropped at the start and
/// `skip_end` at the end (as fastai's `lr_find` does), then cut before the first non-finite loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    lrs: Vec<f64>,
    losses: Vec<f64>,
}

/// fastai's `slide` defaults: points between the two gradients, and the gradient tolerance.
pub const SLIDE_LR_DIFF: usize = 15;
pub const SLIDE_THRESH: f64 = 0.005;

impl Curve {
    /// Prepares `(lrs, losses)` for the rules; refuses curves too short, flat or never falling.
    pub fn new(
        lrs: &[f64],
        losses: &[f64],
        skip_start: usize,
        skip_end: usize,
    ) -> Result<Curve, SuggestError> {
        if lrs.len() != losses.len() {
            return Err(SuggestError::Lengths {
                lrs: lrs.len(),
                losses: losses.len(),
            });
        }
        let n = lrs.len();
        if n < skip_start + skip_end + 2 {
            return Err(SuggestError::TooFewPoints {
                points: n,
                skip_start,
                skip_end,
            });
        }
        let (lrs, losses) = (
            &lrs[skip_start..n - skip_end],
            &losses[skip_start..n - skip_end],
        );
        let kept = losses
            .iter()
            .position(|l| !l.is_finite())
            .unwrap_or(losses.len());
        if kept < 2 {
            return Err(SuggestError::NotFinite {
                lr: lrs[kept],
                kept,
            });
        }
        let (lrs, losses) = (&lrs[..kept], &losses[..kept]);
        if let Some((index, &lr)) = lrs
            .iter()
            .enumerate()
            .find(|(_, lr)| !(lr.is_finite() && **lr > 0.0))
        {
            return Err(SuggestError::BadLr {
                index: index + skip_start,
                lr,
            });
        }
        let min = losses.iter().copied().fold(f64::INFINITY, f64::min);
        let max = losses.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max - min <= 1e-6 * max.abs().max(min.abs()) {
            return Err(SuggestError::Flat { min, max });
        }
        if !losses.windows(2).any(|w| w[1] < w[0]) {
            return Err(SuggestError::NoDescent {
                from: lrs[0],
                to: lrs[kept - 1],
            });
        }
        Ok(Curve {
            lrs: lrs.to_vec(),
            losses: losses.to_vec(),
        })
    }

    /// Like [`Curve::new`] with fastai `lr_find`'s skips: `num_it / 10` at the start, 5 at the end.
    pub fn fastai(lrs: &[f64], losses: &[f64], num_it: usize) -> Result<Curve, SuggestError> {
        Curve::new(lrs, losses, num_it / 10, 5)
    }

    pub fn lrs(&self) -> &[f64] {
        &self.lrs
    }

    pub fn losses(&self) -> &[f64] {
        &self.losses
    }

    /// The suggestion of `rule` on this curve.
    pub fn suggest(&self, rule: Rule) -> Result<Suggestion, SuggestError> {
        match rule {
            Rule::Valley => Ok(self.valley()),
            Rule::Steep => Ok(self.steep()),
            Rule::Minimum => Ok(self.minimum()),
            Rule::Slide => self.slide(SLIDE_LR_DIFF, SLIDE_THRESH, 1.0),
            Rule::MinGrad => Ok(self.min_grad()),
            Rule::Lowest => Ok(self.lowest()),
            Rule::Plateau => Ok(self.plateau()),
        }
    }

    /// Every rule's suggestion (or why it has none), in [`Rule::ALL`] order.
    pub fn suggest_all(&self) -> Vec<(Rule, Result<Suggestion, SuggestError>)> {
        Rule::ALL.iter().map(|&r| (r, self.suggest(r))).collect()
    }

    fn at(&self, rule: Rule, i: usize, lr: f64) -> Suggestion {
        Suggestion {
            rule,
            lr,
            mark: (self.lrs[i], self.losses[i]),
        }
    }

    /// fastai's `valley`: the longest strictly decreasing subsequence (the first to reach the
    /// greatest length); its start is taken one point before its first, as fastai does, and the
    /// pick is `start + ⌊s⌋ + ⌊s/2⌋`, `s = span / 3`. fastai's double loop is O(n²); patience
    /// sorting finds the same subsequence in O(n log n).
    pub fn valley(&self) -> Suggestion {
        let n = self.losses.len();
        let (max_start, max_end) = longest_decrease(&self.losses);
        let sections = (max_end as isize - max_start) as f64 / 3.0;
        let idx = max_start + sections as isize + (sections / 2.0) as isize;
        // Python's index -1 is the last point.
        let idx = if idx < 0 { idx + n as isize } else { idx } as usize;
        self.at(Rule::Valley, idx, self.lrs[idx])
    }

    /// fastai's `steep`: the left end of the segment with the most negative Δloss / Δlog(lr).
    pub fn steep(&self) -> Suggestion {
        let (lrs, l) = (&self.lrs, &self.losses);
        let grads = (0..l.len() - 1).map(|i| (l[i + 1] - l[i]) / (lrs[i + 1].ln() - lrs[i].ln()));
        let i = argmin(grads);
        self.at(Rule::Steep, i, lrs[i])
    }

    /// fastai's `minimum`: the LR at the lowest loss (first if tied), divided by 10.
    pub fn minimum(&self) -> Suggestion {
        let i = argmin(self.losses.iter().copied());
        self.at(Rule::Minimum, i, self.lrs[i] / 10.0)
    }

    /// The LR at the lowest loss (first if tied), as it is.
    pub fn lowest(&self) -> Suggestion {
        let i = argmin(self.losses.iter().copied());
        self.at(Rule::Lowest, i, self.lrs[i])
    }

    /// The geometric middle of the plateau: from the lowest loss, the stretch on either side
    /// whose losses stay within [`PLATEAU_TOLERANCE`] × the descent (the highest loss before
    /// the lowest, minus the lowest) above it. A long test shows a wide flat stretch between
    /// the end of the descent and divergence, whose middle a full 1cycle tolerates; a short
    /// one bottoms out sharply, and this is about [`Curve::lowest`].
    pub fn plateau(&self) -> Suggestion {
        let l = &self.losses;
        let low = argmin(l.iter().copied());
        let top = l[..=low].iter().copied().fold(l[low], f64::max);
        let ceiling = l[low] + PLATEAU_TOLERANCE * (top - l[low]);
        let on = |i: &usize| l[*i] <= ceiling;
        let first = (0..low).rev().take_while(on).last().unwrap_or(low);
        let last = (low + 1..l.len()).take_while(on).last().unwrap_or(low);
        let lr = (self.lrs[first] * self.lrs[last]).sqrt();
        let logs: Vec<f64> = self.lrs.iter().map(|x| x.log10()).collect();
        Suggestion {
            rule: Rule::Plateau,
            lr,
            mark: (lr, interp(lr.log10(), &logs, l)),
        }
    }

    /// fastai v1's `min_grad`: the lowest `numpy.gradient` of the losses (per point, not per LR).
    pub fn min_grad(&self) -> Suggestion {
        let i = argmin(gradient(&self.losses).into_iter());
        self.at(Rule::MinGrad, i, self.lrs[i])
    }

    /// fastai's `slide(lr_diff, thresh, adjust_value)`: walking left from the end, the first LR
    /// whose gradient is within `thresh` of the gradient `lr_diff` points to its right.
    pub fn slide(
        &self,
        lr_diff: usize,
        thresh: f64,
        adjust: f64,
    ) -> Result<Suggestion, SuggestError> {
        let n = self.losses.len();
        if n < lr_diff + 1 {
            return Err(SuggestError::RuleNeedsPoints {
                rule: Rule::Slide,
                need: lr_diff + 1,
                have: n,
            });
        }
        let grad = gradient(&self.losses);
        let mut r = n as isize - 1;
        let mut l = r - lr_diff as isize;
        let mut local_min_lr = self.lrs[l as usize];
        while l >= 0 && (grad[r as usize] - grad[l as usize]).abs() > thresh {
            local_min_lr = self.lrs[l as usize];
            r -= 1;
            l -= 1;
        }
        let lr = local_min_lr * adjust;
        let logs: Vec<f64> = self.lrs.iter().map(|x| x.log10()).collect();
        let loss = interp(lr.log10(), &logs, &self.losses);
        Ok(Suggestion {
            rule: Rule::Slide,
            lr,
            mark: (lr, loss),
        })
    }
}

/// Index of the first smallest value (NaN never wins), as `torch.argmin`/`numpy.argmin` on
/// finite data.
fn argmin(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, v) in values.enumerate() {
        if v < best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// `numpy.gradient` with unit spacing: central differences inside, one-sided at the two ends.
pub fn gradient(y: &[f64]) -> Vec<f64> {
    let n = y.len();
    (0..n)
        .map(|i| match i {
            0 => y[1] - y[0],
            i if i == n - 1 => y[n - 1] - y[n - 2],
            i => (y[i + 1] - y[i - 1]) / 2.0,
        })
        .collect()
}

/// `numpy.interp` for increasing `xs`: linear between points, clamped outside them.
pub fn interp(x: f64, xs: &[f64], ys: &[f64]) -> f64 {
    let last = xs.len() - 1;
    if x <= xs[0] {
        return ys[0];
    }
    if x >= xs[last] {
        return ys[last];
    }
    let j = xs.partition_point(|&v| v <= x) - 1;
    if xs[j] == x {
        return ys[j];
    }
    ys[j] + (x - xs[j]) * (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
}

/// `(end − length, end)` of the longest strictly decreasing subsequence of `l`, `end` the first
/// index where a decreasing subsequence of that length ends (fastai's `valley` bookkeeping).
/// `tails[k]` holds the highest last value of a decreasing subsequence of length `k + 1` seen so
/// far; it decreases with `k`, so each point's length is one binary search.
fn longest_decrease(l: &[f64]) -> (isize, usize) {
    let mut tails: Vec<f64> = Vec::new();
    let (mut best, mut end) = (0usize, 0usize);
    for (i, &x) in l.iter().enumerate() {
        let k = tails.partition_point(|&t| t > x);
        if k == tails.len() {
            tails.push(x);
        } else {
            tails[k] = x;
        }
        if k + 1 > best {
            (best, end) = (k + 1, i);
        }
    }
    (end as isize - best as isize, end)
}
