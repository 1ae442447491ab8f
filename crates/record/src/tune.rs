//! The decisions of `onecycle tune` (Smith, "A disciplined approach to neural network
//! hyper-parameters: Part 1", 2018) read off range-test records, without tch: the peak learning
//! rate, the weight decay (with the close calls that short 1cycle runs settle) and the cyclical
//! momentum. Each decision keeps its alternatives and numbers; [`TuneRecord`] is `tune.json`.

use anyhow::{bail, Context, Result};
use schedule::Rule;
use serde::{Deserialize, Serialize};

use crate::range_test::LrFind;
use crate::summary::nan_if_null;

/// Two range tests whose losses at the comparison LR differ by less than this fraction are too
/// close to call: short 1cycle runs decide between weight decays (and the config's stays when
/// those are as close); the config's momentum stays.
pub const CLOSE: f64 = 0.01;

/// The cyclical momentum spans this much below the best constant momentum (Smith: 0.95 → 0.85).
pub const MOMENTUM_SPAN: f64 = 0.1;

/// One candidate value and the number it was judged by (a smoothed training loss at the
/// comparison LR, or a validation loss after a short run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub value: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
}

/// The lowest of several range tests at the comparison LR: the smallest, over the tests, of the
/// LR where each test's smoothed loss is lowest (the highest LR that every curve reaches while
/// still falling), curves cut as for the suggestions. All tests share one sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Index of the lowest test.
    pub index: usize,
    /// The comparison LR and each test's smoothed loss there, in test order.
    pub lr: f64,
    pub losses: Vec<f64>,
}

/// Compares range tests by [`Comparison`]'s rule.
pub fn compare(runs: &[LrFind]) -> Result<Comparison> {
    if runs.is_empty() {
        bail!("no range tests to compare");
    }
    let mut k = usize::MAX;
    for run in runs {
        let curve = run
            .curve()
            .with_context(|| format!("the range test at wd {}", run.wd))?;
        let skip = run.options.num_it / 10;
        let lowest = curve
            .losses()
            .iter()
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |b, (i, &l)| if l < b.1 { (i, l) } else { b },
            );
        k = k.min(skip + lowest.0);
    }
    let losses: Vec<f64> = runs.iter().map(|r| r.rows[k].smooth_loss).collect();
    let index = (0..runs.len())
        .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
        .expect("at least one run");
    Ok(Comparison {
        index,
        lr: runs[0].rows[k].lr,
        losses,
    })
}

/// The peak learning rate of the 1cycle, from one range test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrDecision {
    pub max_lr: f64,
    /// Start LR is `max_lr / div` (fastai's 25; Smith used 3–10×).
    pub div: f64,
    pub rule: String,
    /// Every rule's suggestion, for the record.
    pub suggestions: Vec<(String, f64)>,
    pub why: String,
}

/// The `rule` suggestion of `test` as the peak, or `fallback` (the config's peak) with the
/// reason when the curve gives none (flat, never falling, too short).
pub fn decide_lr(test: &LrFind, rule: Rule, div: f64, fallback: f64) -> LrDecision {
    let suggestions = test
        .suggestions()
        .into_iter()
        .filter_map(|(r, s)| s.ok().map(|s| (r.name().to_string(), s.lr)))
        .collect();
    let (max_lr, why) = match test.suggest(rule) {
        Ok(s) => {
            let tail = match &test.stopped {
                Some(_) => String::new(),
                None => format!(
                    "; the smoothed loss never diverged (rose to 4× its lowest) up to lr {:.3e}, so \
                     the limit may lie higher",
                    test.rows.last().map_or(f64::NAN, |r| r.lr)
                ),
            };
            let why = format!(
                "the {rule} suggestion of the range test at wd {} ({}){tail}",
                test.wd,
                rule.explain()
            );
            (s.lr, why)
        }
        Err(e) => (
            fallback,
            format!("the range test gave no usable curve ({e}); the config's peak LR is kept"),
        ),
    };
    LrDecision {
        max_lr,
        div,
        rule: rule.name().to_string(),
        suggestions,
        why,
    }
}

/// The weight decay: the lowest range test at the comparison LR, unless the best two are within
/// [`CLOSE`], when `confirm` (the validation losses of short 1cycle runs at each) decides; when
/// those are within [`CLOSE`] too, the config's weight decay stays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WdDecision {
    pub wd: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub comparison_lr: f64,
    /// Each weight decay's smoothed loss at the comparison LR.
    pub candidates: Vec<Candidate>,
    /// The short runs' validation losses, when the range tests were too close to call.
    pub confirmed: Vec<Candidate>,
    pub why: String,
}

/// The two best weight decays when their range tests are too close to call.
pub fn close_call(c: &Comparison, runs: &[LrFind]) -> Option<(f64, f64)> {
    too_close(&wd_candidates(c, runs)).map(|(a, b)| (a.value, b.value))
}

/// Each weight decay's loss at the comparison LR.
fn wd_candidates(c: &Comparison, runs: &[LrFind]) -> Vec<Candidate> {
    runs.iter()
        .zip(&c.losses)
        .map(|(r, &loss)| Candidate { value: r.wd, loss })
        .collect()
}

/// The best two candidates when their losses differ by less than [`CLOSE`] of the better.
fn too_close(candidates: &[Candidate]) -> Option<(Candidate, Candidate)> {
    let mut order = candidates.to_vec();
    order.sort_by(|a, b| a.loss.total_cmp(&b.loss));
    let (a, b) = (*order.first()?, *order.get(1)?);
    ((b.loss - a.loss) / a.loss.abs().max(1e-12) < CLOSE).then_some((a, b))
}

/// Decides the weight decay from the range tests at each and, for a close call, the short runs;
/// when the tests cannot be compared (flat or unusable curves), keeps `fallback` and says why.
pub fn decide_wd(runs: &[LrFind], confirmed: Vec<Candidate>, fallback: f64) -> WdDecision {
    let c = match compare(runs) {
        Ok(c) => c,
        Err(e) => {
            return WdDecision {
                wd: fallback,
                comparison_lr: f64::NAN,
                candidates: Vec::new(),
                confirmed,
                why: format!(
                    "the range tests could not be compared ({e:#}); wd {fallback} is kept"
                ),
            }
        }
    };
    let candidates = wd_candidates(&c, runs);
    let best = candidates[c.index];
    let (wd, why) = match confirmed.iter().min_by(|a, b| a.loss.total_cmp(&b.loss)) {
        Some(_) if too_close(&confirmed).is_some() => (
            fallback,
            format!(
                "the range tests were within {:.0} % at lr {:.3e}, and so were the short 1cycle \
                 runs' validation losses: too close to call, so the config's wd {fallback} is kept",
                CLOSE * 100.0,
                c.lr,
            ),
        ),
        Some(short) => (
            short.value,
            format!(
                "the range tests were within {:.0} % at lr {:.3e}; of short 1cycle runs at each, \
                 wd {} reached the lowest validation loss ({:.4})",
                CLOSE * 100.0,
                c.lr,
                short.value,
                short.loss
            ),
        ),
        None => (
            best.value,
            format!(
                "wd {} has the lowest smoothed loss ({:.4}) at lr {:.3e}, the highest LR every \
                 test reached while still improving",
                best.value, best.loss, c.lr
            ),
        ),
    };
    WdDecision {
        wd,
        comparison_lr: c.lr,
        candidates,
        confirmed,
        why,
    }
}

/// The cyclical momentum: the best constant momentum of range tests at each, as the high bound,
/// and [`MOMENTUM_SPAN`] below it at the peak LR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MomentumDecision {
    /// `(high, low)`: momentum is `high` at the start and end, `low` at the peak LR.
    pub moms: (f64, f64),
    #[serde(deserialize_with = "nan_if_null")]
    pub comparison_lr: f64,
    pub candidates: Vec<Candidate>,
    pub why: String,
}

/// Decides the momentum bounds from range tests at constant momentum (`options.momentum`); when
/// they cannot be compared, or the best two are within [`CLOSE`], keeps `fallback` and says why.
pub fn decide_momentum(runs: &[LrFind], fallback: (f64, f64)) -> MomentumDecision {
    let compared = compare(runs).and_then(|c| {
        let values: Option<Vec<f64>> = runs.iter().map(|r| r.options.momentum).collect();
        let values = values.context("a momentum test must hold momentum constant")?;
        Ok((c, values))
    });
    let (c, values) = match compared {
        Ok(found) => found,
        Err(e) => {
            return MomentumDecision {
                moms: fallback,
                comparison_lr: f64::NAN,
                candidates: Vec::new(),
                why: format!(
                    "the momentum tests could not be compared ({e:#}); momentum {} → {} is kept",
                    fallback.0, fallback.1
                ),
            }
        }
    };
    let candidates: Vec<Candidate> = values
        .iter()
        .zip(&c.losses)
        .map(|(&value, &loss)| Candidate { value, loss })
        .collect();
    let best = candidates[c.index];
    if let Some((a, b)) = too_close(&candidates) {
        return MomentumDecision {
            moms: fallback,
            comparison_lr: c.lr,
            why: format!(
                "momentum {} and {} are within {:.0} % at lr {:.3e} (smoothed losses {:.4} and \
                 {:.4}): too close to call, so momentum {} → {} is kept",
                a.value,
                b.value,
                CLOSE * 100.0,
                c.lr,
                a.loss,
                b.loss,
                fallback.0,
                fallback.1
            ),
            candidates,
        };
    }
    let low = (best.value - MOMENTUM_SPAN).max(0.0);
    MomentumDecision {
        moms: (best.value, low),
        comparison_lr: c.lr,
        why: format!(
            "momentum {} has the lowest smoothed loss ({:.4}) at lr {:.3e}; the cycle runs from \
             it down to {low} at the peak LR and back (Smith: 0.95 → 0.85 when 0.95 is best)",
            best.value, best.loss, c.lr
        ),
        candidates,
    }
}

/// What one test cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCost {
    pub name: String,
    /// The test's CSV, relative to the tune folder (none for short runs).
    pub csv: Option<String>,
    pub steps: usize,
    pub seconds: f64,
}

/// The batch-size search keeps an epoch at least this many steps long: larger batches leave too
/// few updates to train with on a small data set.
pub const MIN_STEPS_PER_EPOCH: usize = 20;

/// The search picks the fastest of this many largest batch sizes that fit.
pub const LARGEST: usize = 3;

/// One batch size tried by the search: its speed and, on the CPU, the memory a step took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchProbe {
    pub batch: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub images_per_sec: f64,
    /// Bytes a training step took above what the process held before it (CPU only).
    pub step_bytes: Option<f64>,
}

/// How far the doubling search may go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchLimits {
    /// The largest batch the data allows ([`MIN_STEPS_PER_EPOCH`] steps per epoch).
    pub cap: usize,
    /// Bytes a step may take (the CPU's available memory less a margin); `None` on a GPU,
    /// where running out of memory is an error the search catches.
    pub memory: Option<f64>,
}

/// The batch after `last` in the doubling search, or why the search stops there: the data's
/// cap, or a step at twice the batch would not fit (its memory taken as twice this step's,
/// since activations grow with the batch).
pub fn next_batch(last: &BatchProbe, limits: &BatchLimits) -> Result<usize, String> {
    let next = last.batch * 2;
    if next > limits.cap {
        return Err(format!(
            "batch {next} would leave fewer than {MIN_STEPS_PER_EPOCH} steps per epoch"
        ));
    }
    if let (Some(limit), Some(bytes)) = (limits.memory, last.step_bytes) {
        if 2.0 * bytes > limit {
            return Err(format!(
                "a step at batch {next} would take about {:.2} GiB, over the {:.2} GiB \
                 available for it",
                2.0 * bytes / GIB,
                limit / GIB
            ));
        }
    }
    Ok(next)
}

const GIB: f64 = (1u64 << 30) as f64;

/// The batch size and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchDecision {
    pub batch: usize,
    /// Every batch size the search tried, smallest first (none when the batch was given).
    pub probes: Vec<BatchProbe>,
    pub why: String,
}

/// Smith's rule: of the [`LARGEST`] largest batch sizes that fit (`stopped` says what ended the
/// doubling), the one with the most images per second.
pub fn decide_batch(probes: &[BatchProbe], stopped: &str) -> Result<BatchDecision> {
    let tail = &probes[probes.len().saturating_sub(LARGEST)..];
    let best = tail
        .iter()
        .max_by(|a, b| a.images_per_sec.total_cmp(&b.images_per_sec))
        .context("the batch-size search tried no batch")?;
    let sizes: Vec<String> = tail.iter().map(|p| p.batch.to_string()).collect();
    Ok(BatchDecision {
        batch: best.batch,
        probes: probes.to_vec(),
        why: format!(
            "the fastest ({:.0} images/s) of the largest batches that fit ({}); the doubling \
             stopped because {stopped}",
            best.images_per_sec,
            sizes.join(", ")
        ),
    })
}

/// `tune.json`: every decision, its alternatives and the numbers behind it, and the cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneRecord {
    /// Optimizer steps of the planned training.
    pub planned_steps: usize,
    /// The budget as a fraction of `planned_steps`, and in steps.
    pub budget: f64,
    pub budget_steps: usize,
    /// Steps the tests took (at most `budget_steps`).
    pub used_steps: usize,
    pub batch: BatchDecision,
    pub lr: LrDecision,
    pub wd: WdDecision,
    pub momentum: MomentumDecision,
    pub tests: Vec<TestCost>,
}

impl TuneRecord {
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        crate::write_atomic(path, json.as_bytes())
    }

    pub fn read(path: &std::path::Path) -> Result<TuneRecord> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a tune record", path.display()))
    }
}
