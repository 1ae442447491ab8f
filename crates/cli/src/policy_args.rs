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

/// Every schedule option; which ones a policy takes is listed in `accepted_options`.
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
        self.refuse_options_of_other_policies(name)?;
        Ok(match name {
            PolicyName::OneCycle => Policy::OneCycle(self.one_cycle_params()?),
            PolicyName::ClrBeta => Policy::ClrBeta(self.clr_beta_params()?),
            PolicyName::Cyclic => Policy::Cyclic(self.cyclic_params()?),
            PolicyName::Sgdr => Policy::Sgdr(self.sgdr_params()?),
            PolicyName::FlatCos => Policy::FlatCos(self.flat_cos_params()?),
            PolicyName::Steps => Policy::Steps(self.steps_params()?),
            PolicyName::Constant => Policy::Constant(self.constant_params()?),
            PolicyName::Sweep => Policy::Sweep(self.sweep_params()?),
        })
    }

    /// `base` with the given options replacing its values: `--max-lr 0.1` over a config's
    /// clr-beta changes its peak and keeps its policy, div, pct and momentum.
    pub fn over(&self, base: &Policy) -> Result<Policy> {
        let name = PolicyName::of(base);
        self.refuse_options_of_other_policies(name)?;
        let mut table = toml::Table::try_from(base)?;
        let mut put = |key: &str, value: Option<toml::Value>| {
            if let Some(v) = value {
                table.insert(key.to_string(), v);
            }
        };
        let lr_key = match name {
            PolicyName::FlatCos | PolicyName::Steps | PolicyName::Constant => "lr",
            _ => "max_lr",
        };
        let float = |v: Option<f64>| v.map(toml::Value::Float);
        let int = |v: Option<usize>| v.map(|n| toml::Value::Integer(n as i64));
        put(lr_key, float(self.max_lr()?));
        put("div", float(self.div));
        put("final_div", float(self.final_div));
        put("final_div_factor", float(self.final_div_factor));
        put("pct_start", float(self.pct_start));
        put("phases", int(self.phases));
        put("pct", float(self.pct));
        put("base_lr", float(self.base_lr));
        put("step_size_up", int(self.step_size_up));
        put("step_size_down", int(self.step_size_down));
        put("gamma", float(self.gamma));
        put("min_lr", float(self.min_lr));
        put("cycle_len", int(self.cycle_len));
        put("cycle_mult", int(self.cycle_mult));
        put("start_lr", float(self.start_lr));
        put("end_lr", float(self.end_lr));
        put("momentum", float(self.momentum));
        let milestones = self.milestones.as_ref().map(|m| {
            toml::Value::Array(m.iter().map(|&n| toml::Value::Integer(n as i64)).collect())
        });
        put("milestones", milestones);
        let anneal = self.anneal.map(|a| toml::Value::try_from(Anneal::from(a)));
        let convention = self
            .convention
            .map(|c| toml::Value::try_from(Convention::from(c)));
        let mode = self
            .mode
            .map(|m| toml::Value::try_from(CyclicMode::from(m)));
        put("anneal", anneal.transpose()?);
        put("convention", convention.transpose()?);
        put("mode", mode.transpose()?);
        if self.linear {
            put("kind", Some(toml::Value::try_from(SweepKind::Linear)?));
        }
        if self.moms.is_some() {
            // "none" is a setting of one-cycle's and the absence of the pair elsewhere.
            let moms = match name {
                PolicyName::OneCycle => Some(toml::Value::try_from(self.one_cycle_moms()?)?),
                _ => {
                    let pair = pair(parse_moms(self.moms.as_deref(), 2)?);
                    pair.map(toml::Value::try_from).transpose()?
                }
            };
            match moms {
                Some(m) => table.insert("moms".to_string(), m),
                None => table.remove("moms"),
            };
        }
        Ok(toml::Value::Table(table).try_into()?)
    }

    /// Fails on the first given option that `name` does not take, listing those it does.
    fn refuse_options_of_other_policies(&self, name: PolicyName) -> Result<()> {
        let accepted = accepted_options(name);
        if let Some(stray) = self.given().into_iter().find(|f| !accepted.contains(f)) {
            bail!(
                "{stray} does not apply to the {} policy (it takes {})",
                name.cli_name(),
                accepted.join(", ")
            );
        }
        Ok(())
    }

    fn one_cycle_params(&self) -> Result<OneCycleParams> {
        Ok(OneCycleParams {
            max_lr: need(PolicyName::OneCycle, self.max_lr()?, "--max-lr")?,
            convention: self.convention.unwrap_or(ConventionName::Pytorch).into(),
            div: self.div,
            final_div: self.final_div,
            final_div_factor: self.final_div_factor,
            pct_start: self.pct_start,
            anneal: self.anneal.map(Anneal::from),
            phases: self.phases,
            moms: self.one_cycle_moms()?,
        })
    }

    fn one_cycle_moms(&self) -> Result<MomsSetting> {
        Ok(match parse_moms(self.moms.as_deref(), 3)? {
            None => MomsSetting::Default,
            Some(None) => MomsSetting::None,
            Some(Some(v)) => MomsSetting::Values(v),
        })
    }

    fn clr_beta_params(&self) -> Result<ClrBetaParams> {
        let policy = PolicyName::ClrBeta;
        Ok(ClrBetaParams {
            max_lr: need(policy, self.max_lr()?, "--max-lr")?,
            div: need(policy, self.div, "--div")?,
            pct: need(policy, self.pct, "--pct")?,
            moms: pair(parse_moms(self.moms.as_deref(), 2)?),
        })
    }

    fn cyclic_params(&self) -> Result<CyclicParams> {
        let policy = PolicyName::Cyclic;
        Ok(CyclicParams {
            base_lr: need(policy, self.base_lr, "--base-lr")?,
            max_lr: need(policy, self.max_lr()?, "--max-lr")?,
            step_size_up: need(policy, self.step_size_up, "--step-size-up")?,
            step_size_down: self.step_size_down,
            mode: self.mode.unwrap_or(ModeName::Triangular).into(),
            gamma: self.gamma,
            moms: pair(parse_moms(self.moms.as_deref(), 2)?),
        })
    }

    fn sgdr_params(&self) -> Result<SgdrParams> {
        let policy = PolicyName::Sgdr;
        Ok(SgdrParams {
            max_lr: need(policy, self.max_lr()?, "--max-lr")?,
            min_lr: self.min_lr,
            cycle_len: need(policy, self.cycle_len, "--cycle-len")?,
            cycle_mult: self.cycle_mult,
            momentum: self.momentum,
        })
    }

    fn flat_cos_params(&self) -> Result<FlatCosParams> {
        Ok(FlatCosParams {
            lr: need(PolicyName::FlatCos, self.max_lr()?, "--lr")?,
            final_div: self.final_div,
            pct_start: self.pct_start,
            momentum: self.momentum,
        })
    }

    fn steps_params(&self) -> Result<StepsParams> {
        Ok(StepsParams {
            lr: need(PolicyName::Steps, self.max_lr()?, "--lr")?,
            milestones: self.milestones.clone().unwrap_or_default(),
            gamma: self.gamma,
            momentum: self.momentum,
        })
    }

    fn constant_params(&self) -> Result<ConstantParams> {
        Ok(ConstantParams {
            lr: need(PolicyName::Constant, self.max_lr()?, "--lr")?,
            momentum: self.momentum,
        })
    }

    fn sweep_params(&self) -> Result<SweepParams> {
        let policy = PolicyName::Sweep;
        Ok(SweepParams {
            start_lr: need(policy, self.start_lr, "--start-lr")?,
            end_lr: need(policy, self.end_lr, "--end-lr")?,
            kind: if self.linear {
                SweepKind::Linear
            } else {
                SweepKind::Exponential
            },
            momentum: self.momentum,
        })
    }
}

impl PolicyName {
    /// The family of `policy`.
    pub fn of(policy: &Policy) -> PolicyName {
        match policy {
            Policy::OneCycle(_) => PolicyName::OneCycle,
            Policy::ClrBeta(_) => PolicyName::ClrBeta,
            Policy::Cyclic(_) => PolicyName::Cyclic,
            Policy::Sgdr(_) => PolicyName::Sgdr,
            Policy::FlatCos(_) => PolicyName::FlatCos,
            Policy::Steps(_) => PolicyName::Steps,
            Policy::Constant(_) => PolicyName::Constant,
            Policy::Sweep(_) => PolicyName::Sweep,
        }
    }

    /// The name as typed on the command line, e.g. `one-cycle`.
    fn cli_name(self) -> String {
        let value = self.to_possible_value().expect("no skipped variants");
        value.get_name().to_string()
    }
}

/// The options each policy takes, by flag name.
fn accepted_options(name: PolicyName) -> &'static [&'static str] {
    match name {
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
    }
}

/// A required option's value, or the error naming the policy that needs it.
fn need<T>(policy: PolicyName, value: Option<T>, flag: &str) -> Result<T> {
    match value {
        Some(v) => Ok(v),
        None => bail!("the {} policy needs {flag}", policy.cli_name()),
    }
}

impl From<ConventionName> for Convention {
    fn from(name: ConventionName) -> Convention {
        match name {
            ConventionName::Pytorch => Convention::Pytorch,
            ConventionName::Fastai => Convention::Fastai,
            ConventionName::Fastai1 => Convention::Fastai1,
        }
    }
}

impl From<AnnealName> for Anneal {
    fn from(name: AnnealName) -> Anneal {
        match name {
            AnnealName::Cos => Anneal::Cos,
            AnnealName::Linear => Anneal::Linear,
        }
    }
}

impl From<ModeName> for CyclicMode {
    fn from(name: ModeName) -> CyclicMode {
        match name {
            ModeName::Triangular => CyclicMode::Triangular,
            ModeName::Triangular2 => CyclicMode::Triangular2,
            ModeName::ExpRange => CyclicMode::ExpRange,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(max_lr: Option<f64>) -> PolicyArgs {
        PolicyArgs {
            max_lr: max_lr.map(LrArg::Value),
            ..Default::default()
        }
    }

    #[test]
    fn options_over_a_policy_replace_only_their_values() {
        let base = Policy::ClrBeta(ClrBetaParams {
            max_lr: 0.4,
            div: 10.0,
            pct: 13.68,
            moms: Some([0.95, 0.85]),
        });
        assert_eq!(args(None).over(&base).unwrap(), base);
        let moms_off = PolicyArgs {
            moms: Some("none".into()),
            ..args(Some(0.1))
        };
        let want = Policy::ClrBeta(ClrBetaParams {
            max_lr: 0.1,
            div: 10.0,
            pct: 13.68,
            moms: None,
        });
        assert_eq!(moms_off.over(&base).unwrap(), want);
        // The LR of the single-LR families, enums and lists take the schedule's own spelling.
        let steps = Policy::Steps(StepsParams {
            lr: 0.1,
            milestones: vec![8, 12],
            gamma: None,
            momentum: Some(0.9),
        });
        let changed = PolicyArgs {
            milestones: Some(vec![5]),
            ..args(Some(0.2))
        };
        let want = Policy::Steps(StepsParams {
            lr: 0.2,
            milestones: vec![5],
            gamma: None,
            momentum: Some(0.9),
        });
        assert_eq!(changed.over(&steps).unwrap(), want);
        let one_cycle = Policy::OneCycle(OneCycleParams {
            max_lr: 0.4,
            ..Default::default()
        });
        let linear = PolicyArgs {
            anneal: Some(AnnealName::Linear),
            convention: Some(ConventionName::Fastai),
            moms: Some("0.9,0.8".into()),
            ..args(None)
        };
        let want = Policy::OneCycle(OneCycleParams {
            max_lr: 0.4,
            anneal: Some(Anneal::Linear),
            convention: Convention::Fastai,
            moms: MomsSetting::Values(vec![0.9, 0.8]),
            ..Default::default()
        });
        assert_eq!(linear.over(&one_cycle).unwrap(), want);
        // An option of another family is refused by name.
        let err = linear.over(&base).unwrap_err().to_string();
        assert!(
            err.contains("--anneal does not apply to the clr-beta"),
            "{err}"
        );
    }
}
