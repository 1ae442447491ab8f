//! The schedule options shared by `onecycle schedule` and `onecycle fit`, turned into a
//! [`schedule::Policy`]. Each option belongs to some policies; giving one to another is an error.

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use schedule::{
    Anneal, ClrBetaParams, ConstantParams, Convention, CyclicMode, CyclicParams, FlatCosParams,
    MomsSetting, OneCycleParams, Policy, SgdrParams, StepsParams, SweepKind, SweepParams,
};

/// The schedule families, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyName {
    /// 1cycle: warm-up to --max-lr, anneal far below the start; momentum the other way.
    OneCycle,
    /// The seed's fastai 0.7 `use_clr_beta`: linear cycle, then annihilation to max/(100·div).
    ClrBeta,
    /// Cyclical learning rates (PyTorch `CyclicLR`).
    Cyclic,
    /// Cosine annealing with warm restarts.
    Sgdr,
    /// Flat, then cosine down (fastai `fit_flat_cos`).
    FlatCos,
    /// Piecewise constant: multiply by --gamma at each milestone (the classic baseline).
    Steps,
    /// One learning rate throughout.
    Constant,
    /// LR range-test sweep from --start-lr to --end-lr.
    Sweep,
}

/// Every schedule option; which ones a policy takes is listed in `to_policy`.
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyArgs {
    /// Peak LR (one-cycle, clr-beta, cyclic, sgdr) or the LR (flat-cos, steps, constant)
    /// (`onecycle fit` also takes `auto`: run the LR range test first and use its suggestion)
    #[arg(long = "max-lr", visible_alias = "lr", value_name = "LR")]
    pub max_lr: Option<LrArg>,
    /// Start LR is max-lr/div (one-cycle: default 25; clr-beta: required)
    #[arg(long)]
    pub div: Option<f64>,
    /// Final LR is max-lr/final-div, fastai's meaning (one-cycle, flat-cos)
    #[arg(long)]
    pub final_div: Option<f64>,
    /// Final LR is start/final-div-factor, PyTorch's meaning (one-cycle)
    #[arg(long)]
    pub final_div_factor: Option<f64>,
    /// Fraction of the steps spent warming up (one-cycle) or flat (flat-cos)
    #[arg(long)]
    pub pct_start: Option<f64>,
    /// Shape of every phase, pytorch convention (one-cycle)
    #[arg(long, value_enum)]
    pub anneal: Option<AnnealName>,
    /// 2 or 3 phases, pytorch convention (one-cycle)
    #[arg(long)]
    pub phases: Option<usize>,
    /// Momentum at the low LR, at the peak LR[, at the end]; "none" leaves momentum alone
    /// (one-cycle: A,B[,C]; clr-beta and cyclic: A,B)
    #[arg(long, value_name = "A,B[,C]|none")]
    pub moms: Option<String>,
    /// Whose 1cycle to reproduce, with its defaults (one-cycle)
    #[arg(long, value_enum)]
    pub convention: Option<ConventionName>,
    /// Percent of the steps for the final annihilation, e.g. 13.68 (clr-beta)
    #[arg(long)]
    pub pct: Option<f64>,
    /// LR at the bottom of each cycle (cyclic)
    #[arg(long)]
    pub base_lr: Option<f64>,
    /// Steps from base-lr to max-lr (cyclic)
    #[arg(long)]
    pub step_size_up: Option<usize>,
    /// Steps from max-lr back to base-lr; default step-size-up (cyclic)
    #[arg(long)]
    pub step_size_down: Option<usize>,
    /// Amplitude policy (cyclic)
    #[arg(long, value_enum)]
    pub mode: Option<ModeName>,
    /// Decay: exp_range base (cyclic, default 1) or factor per milestone (steps, default 0.1)
    #[arg(long)]
    pub gamma: Option<f64>,
    /// LR each cycle anneals to; default 0 (sgdr)
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Steps in the first cycle (sgdr)
    #[arg(long)]
    pub cycle_len: Option<usize>,
    /// Each cycle is this many times longer than the last; default 1 (sgdr)
    #[arg(long)]
    pub cycle_mult: Option<usize>,
    /// Steps at which the LR is multiplied by gamma (steps)
    #[arg(long, value_delimiter = ',', value_name = "S1,S2,…")]
    pub milestones: Option<Vec<usize>>,
    /// First LR of the sweep (sweep)
    #[arg(long)]
    pub start_lr: Option<f64>,
    /// LR the sweep ends at (sweep)
    #[arg(long)]
    pub end_lr: Option<f64>,
    /// Linear instead of exponential spacing (sweep)
    #[arg(long)]
    pub linear: bool,
    /// Constant momentum (sgdr, flat-cos, steps, constant, sweep)
    #[arg(long)]
    pub momentum: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnnealName {
    Cos,
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConventionName {
    /// torch.optim.lr_scheduler.OneCycleLR (pct 0.3, div 25, final-div-factor 1e4)
    Pytorch,
    /// fastai v2 fit_one_cycle (pct 0.25, div 25, final-div 1e5)
    Fastai,
    /// fastai v1 OneCycleScheduler (pct 0.3, div 25, final-div 25e4)
    Fastai1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeName {
    Triangular,
    Triangular2,
    ExpRange,
}

/// A learning rate on the command line, or `auto` (chosen by a range test).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrArg {
    Value(f64),
    Auto,
}

impl std::str::FromStr for LrArg {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<LrArg, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(LrArg::Auto);
        }
        s.parse()
            .map(LrArg::Value)
            .map_err(|_| format!("expected a number or `auto`, got {s:?}"))
    }
}

impl PolicyArgs {
    /// `--max-lr` as a number; `auto` must have been resolved (by `fit`) before.
    fn max_lr(&self) -> Result<Option<f64>> {
        match self.max_lr {
            None => Ok(None),
            Some(LrArg::Value(v)) => Ok(Some(v)),
            Some(LrArg::Auto) => bail!("--max-lr auto is only understood by `onecycle fit`"),
        }
    }

    /// The options given on the command line, by flag name, in declaration order.
    pub fn given(&self) -> Vec<&'static str> {
        let flags = [
            ("--max-lr", self.max_lr.is_some()),
            ("--div", self.div.is_some()),
            ("--final-div", self.final_div.is_some()),
            ("--final-div-factor", self.final_div_factor.is_some()),
            ("--pct-start", self.pct_start.is_some()),
            ("--anneal", self.anneal.is_some()),
            ("--phases", self.phases.is_some()),
            ("--moms", self.moms.is_some()),
            ("--convention", self.convention.is_some()),
            ("--pct", self.pct.is_some()),
            ("--base-lr", self.base_lr.is_some()),
            ("--step-size-up", self.step_size_up.is_some()),
            ("--step-size-down", self.step_size_down.is_some()),
            ("--mode", self.mode.is_some()),
            ("--gamma", self.gamma.is_some()),
            ("--min-lr", self.min_lr.is_some()),
            ("--cycle-len", self.cycle_len.is_some()),
            ("--cycle-mult", self.cycle_mult.is_some()),
            ("--milestones", self.milestones.is_some()),
            ("--start-lr", self.start_lr.is_some()),
            ("--end-lr", self.end_lr.is_some()),
            ("--linear", self.linear),
            ("--momentum", self.momentum.is_some()),
        ];
        flags
            .iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| *f)
            .collect()
    }

    /// Builds the policy `name` from these options, refusing options that belong elsewhere.
    pub fn to_policy(&self, name: PolicyName) -> Result<Policy> {
        let policy_flag = name.to_possible_value().expect("no skipped variants");
        let accepted: &[&str] = match name {
            PolicyName::OneCycle => &[
                "--max-lr",
                "--div",
                "--final-div",
                "--final-div-factor",
                "--pct-start",
                "--anneal",
                "--phases",
                "--moms",
                "--convention",
            ],
            PolicyName::ClrBeta => &["--max-lr", "--div", "--pct", "--moms"],
            PolicyName::Cyclic => &[
                "--base-lr",
                "--max-lr",
                "--step-size-up",
                "--step-size-down",
                "--mode",
                "--gamma",
                "--moms",
            ],
            PolicyName::Sgdr => &[
                "--max-lr",
                "--min-lr",
                "--cycle-len",
                "--cycle-mult",
                "--momentum",
            ],
            PolicyName::FlatCos => &["--max-lr", "--final-div", "--pct-start", "--momentum"],
            PolicyName::Steps => &["--max-lr", "--milestones", "--gamma", "--momentum"],
            PolicyName::Constant => &["--max-lr", "--momentum"],
            PolicyName::Sweep => &["--start-lr", "--end-lr", "--linear", "--momentum"],
        };
        if let Some(stray) = self.given().into_iter().find(|f| !accepted.contains(f)) {
            bail!(
                "{stray} does not apply to the {} policy (it takes {})",
                policy_flag.get_name(),
                accepted.join(", ")
            );
        }
        let need = |v: Option<f64>, flag: &str| match v {
            Some(v) => Ok(v),
            None => bail!("the {} policy needs {flag}", policy_flag.get_name()),
        };
        Ok(match name {
            PolicyName::OneCycle => Policy::OneCycle(OneCycleParams {
                max_lr: need(self.max_lr()?, "--max-lr")?,
                convention: match self.convention.unwrap_or(ConventionName::Pytorch) {
                    ConventionName::Pytorch => Convention::Pytorch,
                    ConventionName::Fastai => Convention::Fastai,
                    ConventionName::Fastai1 => Convention::Fastai1,
                },
                div: self.div,
                final_div: self.final_div,
                final_div_factor: self.final_div_factor,
                pct_start: self.pct_start,
                anneal: self.anneal.map(|a| match a {
                    AnnealName::Cos => Anneal::Cos,
                    AnnealName::Linear => Anneal::Linear,
                }),
                phases: self.phases,
                moms: match parse_moms(self.moms.as_deref(), 3)? {
                    None => MomsSetting::Default,
                    Some(None) => MomsSetting::None,
                    Some(Some(v)) => MomsSetting::Values(v),
                },
            }),
            PolicyName::ClrBeta => Policy::ClrBeta(ClrBetaParams {
                max_lr: need(self.max_lr()?, "--max-lr")?,
                div: need(self.div, "--div")?,
                pct: need(self.pct, "--pct")?,
                moms: pair(parse_moms(self.moms.as_deref(), 2)?),
            }),
            PolicyName::Cyclic => Policy::Cyclic(CyclicParams {
                base_lr: need(self.base_lr, "--base-lr")?,
                max_lr: need(self.max_lr()?, "--max-lr")?,
                step_size_up: self
                    .step_size_up
                    .ok_or_else(|| anyhow::anyhow!("the cyclic policy needs --step-size-up"))?,
                step_size_down: self.step_size_down,
                mode: match self.mode.unwrap_or(ModeName::Triangular) {
                    ModeName::Triangular => CyclicMode::Triangular,
                    ModeName::Triangular2 => CyclicMode::Triangular2,
                    ModeName::ExpRange => CyclicMode::ExpRange,
                },
                gamma: self.gamma,
                moms: pair(parse_moms(self.moms.as_deref(), 2)?),
            }),
            PolicyName::Sgdr => Policy::Sgdr(SgdrParams {
                max_lr: need(self.max_lr()?, "--max-lr")?,
                min_lr: self.min_lr,
                cycle_len: self
                    .cycle_len
                    .ok_or_else(|| anyhow::anyhow!("the sgdr policy needs --cycle-len"))?,
                cycle_mult: self.cycle_mult,
                momentum: self.momentum,
            }),
            PolicyName::FlatCos => Policy::FlatCos(FlatCosParams {
                lr: need(self.max_lr()?, "--lr")?,
                final_div: self.final_div,
                pct_start: self.pct_start,
                momentum: self.momentum,
            }),
            PolicyName::Steps => Policy::Steps(StepsParams {
                lr: need(self.max_lr()?, "--lr")?,
                milestones: self.milestones.clone().unwrap_or_default(),
                gamma: self.gamma,
                momentum: self.momentum,
            }),
            PolicyName::Constant => Policy::Constant(ConstantParams {
                lr: need(self.max_lr()?, "--lr")?,
                momentum: self.momentum,
            }),
            PolicyName::Sweep => Policy::Sweep(SweepParams {
                start_lr: need(self.start_lr, "--start-lr")?,
                end_lr: need(self.end_lr, "--end-lr")?,
                kind: if self.linear {
                    SweepKind::Linear
                } else {
                    SweepKind::Exponential
                },
                momentum: self.momentum,
            }),
        })
    }
}

/// Parses `--moms`: `None` when absent, `Some(None)` for "none", else 2..=`max_len` numbers.
fn parse_moms(text: Option<&str>, max_len: usize) -> Result<Option<Option<Vec<f64>>>> {
    let Some(text) = text else { return Ok(None) };
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Some(None));
    }
    let values = text
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            anyhow::anyhow!(
                "--moms must be numbers separated by commas or \"none\", got \"{text}\""
            )
        })?;
    if values.len() < 2 || values.len() > max_len {
        let want = if max_len == 2 {
            "2".to_string()
        } else {
            format!("2 to {max_len}")
        };
        bail!(
            "--moms takes {want} values, got {} (\"{text}\")",
            values.len()
        );
    }
    Ok(Some(Some(values)))
}

/// A two-value `--moms` as the `[low-LR, peak-LR]` pair; "none" and absent both mean no cycling.
fn pair(moms: Option<Option<Vec<f64>>>) -> Option<[f64; 2]> {
    moms.flatten().map(|v| [v[0], v[1]])
}
