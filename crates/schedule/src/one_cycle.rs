//! The 1cycle policy in the three conventions users compare against: PyTorch's `OneCycleLR`,
//! fastai v2's `fit_one_cycle` and fastai v1's `OneCycleScheduler`.

use crate::anneal::{anneal_cos, fastai_cos, Anneal};
use crate::validate::{self, invalid};
use crate::{check_step, Point, Schedule, ScheduleError};
use serde::{Deserialize, Serialize};

/// Whose 1cycle to reproduce; they differ in phase boundaries, defaults and end values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Convention {
    /// `torch.optim.lr_scheduler.OneCycleLR`: float phase ends, cos or linear, 2 or 3 phases.
    #[default]
    Pytorch,
    /// fastai v2 `fit_one_cycle`: position `i/n`, two cosine phases.
    Fastai,
    /// fastai v1 `OneCycleScheduler`: `floor(n·pct_start)` warm-up steps, two cosine phases.
    Fastai1,
}

/// Whether and how a 1cycle schedule drives momentum.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "MomsRepr", into = "MomsRepr")]
pub enum MomsSetting {
    /// The convention's default cycle, (0.95, 0.85, 0.95) in all three.
    #[default]
    Default,
    /// Leave momentum alone: every point has `momentum: None`.
    None,
    /// `[start, peak]` or `[start, peak, end]` momentum; `end` defaults to `start`.
    Values(Vec<f64>),
}

impl MomsSetting {
    /// True for the default setting (lets serde skip it).
    pub fn is_default(&self) -> bool {
        *self == MomsSetting::Default
    }
}

/// Config-file form of [`MomsSetting`]: the words `"default"` / `"none"` or a list of values.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum MomsRepr {
    Word(String),
    Values(Vec<f64>),
}

impl TryFrom<MomsRepr> for MomsSetting {
    type Error = String;
    fn try_from(r: MomsRepr) -> Result<Self, String> {
        match r {
            MomsRepr::Values(v) => Ok(MomsSetting::Values(v)),
            MomsRepr::Word(w) => match w.as_str() {
                "default" => Ok(MomsSetting::Default),
                "none" => Ok(MomsSetting::None),
                _ => Err(format!(
                    "moms must be \"default\", \"none\" or a list of 2 or 3 values, got \"{w}\""
                )),
            },
        }
    }
}

impl From<MomsSetting> for MomsRepr {
    fn from(m: MomsSetting) -> Self {
        match m {
            MomsSetting::Default => MomsRepr::Word("default".into()),
            MomsSetting::None => MomsRepr::Word("none".into()),
            MomsSetting::Values(v) => MomsRepr::Values(v),
        }
    }
}

/// Hyper-parameters of a 1cycle schedule; `None` means the convention's default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCycleParams {
    /// Peak learning rate.
    pub max_lr: f64,
    /// Which implementation to reproduce.
    #[serde(default)]
    pub convention: Convention,
    /// Start LR is `max_lr / div` (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub div: Option<f64>,
    /// fastai meaning: final LR is `max_lr / final_div` (fastai default 1e5, fastai1 `div·1e4`).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "div_final")]
    pub final_div: Option<f64>,
    /// PyTorch meaning: final LR is `start / final_div_factor` (pytorch default 1e4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_div_factor: Option<f64>,
    /// Fraction of the steps spent warming up (pytorch 0.3, fastai 0.25, fastai1 0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct_start: Option<f64>,
    /// Shape of every phase (pytorch only; default cos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anneal: Option<Anneal>,
    /// 2 or 3 phases (pytorch's `three_phase`; pytorch only; default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<usize>,
    /// Momentum cycle; see [`MomsSetting`].
    #[serde(default, skip_serializing_if = "MomsSetting::is_default")]
    pub moms: MomsSetting,
}

/// One PyTorch phase: ends at a float step position, anneals LR and momentum.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Phase {
    end_step: f64,
    lr: (f64, f64),
    mom: (f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Pytorch { anneal: Anneal, phases: Vec<Phase> },
    Fastai { pct: f64 },
    Fastai1 { n1: usize, n2: usize },
}

/// A validated 1cycle schedule (see [`OneCycleParams`] and [`Convention`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OneCycle {
    steps: usize,
    convention: Convention,
    initial_lr: f64,
    max_lr: f64,
    final_lr: f64,
    moms: Option<[f64; 3]>,
    shape: Shape,
}

const DEFAULT_MOMS: [f64; 3] = [0.95, 0.85, 0.95];

impl OneCycle {
    /// Validates `p` for `n` steps and precomputes the phases.
    pub fn new(p: &OneCycleParams, n: usize) -> Result<Self, ScheduleError> {
        validate::steps(n)?;
        let conv = p.convention;
        let max_lr = validate::positive("max_lr", p.max_lr)?;
        let div = validate::positive("div", p.div.unwrap_or(25.0))?;
        let pct = validate::fraction(
            "pct_start",
            p.pct_start.unwrap_or(match conv {
                Convention::Pytorch | Convention::Fastai1 => 0.3,
                Convention::Fastai => 0.25,
            }),
        )?;
        let initial_lr = max_lr / div;
        let final_lr = match (p.final_div, p.final_div_factor) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "final_div and final_div_factor are two ways to set the final LR; give only one \
                     (final_div: final = max_lr / final_div; final_div_factor: final = max_lr / div / final_div_factor)",
                ))
            }
            (Some(fd), None) => max_lr / validate::positive("final_div", fd)?,
            (None, Some(fdf)) => initial_lr / validate::positive("final_div_factor", fdf)?,
            (None, None) => match conv {
                Convention::Pytorch => initial_lr / 1e4,
                Convention::Fastai => max_lr / 1e5,
                Convention::Fastai1 => max_lr / (div * 1e4),
            },
        };
        if conv != Convention::Pytorch {
            let name = if conv == Convention::Fastai {
                "fastai"
            } else {
                "fastai1"
            };
            if let Some(ph) = p.phases {
                return Err(invalid(format!(
                    "phases applies only to the pytorch convention (the {name} convention always has 2 cosine phases), got phases = {ph}"
                )));
            }
            if let Some(a) = p.anneal {
                return Err(invalid(format!(
                    "anneal applies only to the pytorch convention (the {name} convention always anneals with cosines), got anneal = {a:?}"
                )));
            }
        }
        let moms = match &p.moms {
            MomsSetting::Default => Some(DEFAULT_MOMS),
            MomsSetting::None => None,
            MomsSetting::Values(v) => Some(moms_triple(v)?),
        };
        let shape = match conv {
            Convention::Pytorch => pytorch_shape(p, n, pct, initial_lr, max_lr, final_lr, moms)?,
            Convention::Fastai => Shape::Fastai { pct },
            Convention::Fastai1 => {
                let a1 = (n as f64 * pct).floor() as usize;
                Shape::Fastai1 {
                    n1: a1.max(1),
                    n2: (n - a1).max(1),
                }
            }
        };
        Ok(OneCycle {
            steps: n,
            convention: conv,
            initial_lr,
            max_lr,
            final_lr,
            moms,
            shape,
        })
    }

    /// The convention this schedule reproduces.
    pub fn convention(&self) -> Convention {
        self.convention
    }

    /// LR at step 0: `max_lr / div`.
    pub fn initial_lr(&self) -> f64 {
        self.initial_lr
    }

    /// Peak LR, reached at the end of the warm-up.
    pub fn max_lr(&self) -> f64 {
        self.max_lr
    }

    /// LR the last phase anneals towards (reached at step `n − 1` only in the pytorch convention).
    pub fn final_lr(&self) -> f64 {
        self.final_lr
    }

    /// Momentum at start, at peak LR and at the end; `None` when momentum is not scheduled.
    pub fn moms(&self) -> Option<[f64; 3]> {
        self.moms
    }

    fn value(&self, i: usize) -> Point {
        let m = self.moms.unwrap_or([0.0; 3]);
        let (lr, mom) = match &self.shape {
            Shape::Pytorch { anneal, phases } => {
                let step = i as f64;
                let mut start_step = 0.0;
                let mut out = (self.final_lr, m[2]);
                for (k, ph) in phases.iter().enumerate() {
                    if step <= ph.end_step || k == phases.len() - 1 {
                        let pct = (step - start_step) / (ph.end_step - start_step);
                        out = (
                            anneal.apply(ph.lr.0, ph.lr.1, pct),
                            anneal.apply(ph.mom.0, ph.mom.1, pct),
                        );
                        break;
                    }
                    start_step = ph.end_step;
                }
                out
            }
            Shape::Fastai { pct } => {
                let pos = i as f64 / self.steps as f64;
                if pos < *pct {
                    let p = pos / pct;
                    (
                        fastai_cos(self.initial_lr, self.max_lr, p),
                        fastai_cos(m[0], m[1], p),
                    )
                } else {
                    let p = (pos - pct) / (1.0 - pct);
                    (
                        fastai_cos(self.max_lr, self.final_lr, p),
                        fastai_cos(m[1], m[2], p),
                    )
                }
            }
            Shape::Fastai1 { n1, n2 } => {
                if i <= *n1 {
                    let p = i as f64 / *n1 as f64;
                    (
                        anneal_cos(self.initial_lr, self.max_lr, p),
                        anneal_cos(m[0], m[1], p),
                    )
                } else {
                    let p = (i - n1) as f64 / *n2 as f64;
                    (
                        anneal_cos(self.max_lr, self.final_lr, p),
                        anneal_cos(m[1], m[2], p),
                    )
                }
            }
        };
        Point {
            lr,
            momentum: self.moms.map(|_| mom),
        }
    }
}

impl Schedule for OneCycle {
    fn steps(&self) -> usize {
        self.steps
    }

    fn at(&self, i: usize) -> Result<Point, ScheduleError> {
        check_step(i, self.steps)?;
        Ok(self.value(i))
    }
}

/// Checks a `moms` list and completes it to (start, peak, end).
fn moms_triple(v: &[f64]) -> Result<[f64; 3], ScheduleError> {
    if !(2..=3).contains(&v.len()) {
        return Err(invalid(format!(
            "moms must have 2 or 3 values (start, peak[, end]), got {}",
            v.len()
        )));
    }
    for (k, &m) in v.iter().enumerate() {
        validate::momentum(&format!("moms[{k}]"), m)?;
    }
    Ok([v[0], v[1], v.get(2).copied().unwrap_or(v[0])])
}

/// PyTorch's `_schedule_phases`, with the validity check PyTorch leaves out.
fn pytorch_shape(
    p: &OneCycleParams,
    n: usize,
    pct: f64,
    initial: f64,
    max: f64,
    final_lr: f64,
    moms: Option<[f64; 3]>,
) -> Result<Shape, ScheduleError> {
    let anneal = p.anneal.unwrap_or_default();
    let [a, b, c] = moms.unwrap_or([0.0; 3]);
    let last = (n - 1) as f64;
    let phases = match p.phases.unwrap_or(2) {
        2 => vec![
            Phase {
                end_step: pct * n as f64 - 1.0,
                lr: (initial, max),
                mom: (a, b),
            },
            Phase {
                end_step: last,
                lr: (max, final_lr),
                mom: (b, c),
            },
        ],
        3 => vec![
            Phase {
                end_step: pct * n as f64 - 1.0,
                lr: (initial, max),
                mom: (a, b),
            },
            Phase {
                end_step: 2.0 * pct * n as f64 - 2.0,
                lr: (max, initial),
                mom: (b, c),
            },
            Phase {
                end_step: last,
                lr: (initial, final_lr),
                mom: (c, c),
            },
        ],
        other => return Err(invalid(format!("phases must be 2 or 3, got {other}"))),
    };
    let ends: Vec<f64> = phases.iter().map(|ph| ph.end_step).collect();
    let increasing = ends.windows(2).all(|w| w[0] < w[1]);
    if !(ends[0] > 0.0 && increasing) {
        return Err(invalid(format!(
            "pct_start = {pct} with steps = {n} gives phase ends {ends:?}; they must be strictly \
             increasing and the first must be > 0 (use more steps or a different pct_start)"
        )));
    }
    Ok(Shape::Pytorch { anneal, phases })
}
