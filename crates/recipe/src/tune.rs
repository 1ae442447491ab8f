//! `onecycle tune`: Smith's disciplined approach for a fit config in one call, within a budget of
//! steps. Range tests at several weight decays (the peak LR from the chosen one's curve), at
//! several constant momentums, short 1cycle runs for a close call; the result is a 1cycle config
//! (`recommended.toml`) that `onecycle fit --config` trains with, and the evidence (`tune.json`,
//! each test's CSV and chart, the report's tuning section).

use std::path::Path;
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use onecycle::dist::ProcessGroup;
use onecycle::lr_find::{LrFind, LrFindOptions};
use onecycle::tune::{TuneOptions, Tuning};
use record::tune::{BatchDecision, TestCost, TuneRecord};
use record::{momentum_stem, wd_stem, RunDir};
use report::lr_find::save_run;
use report::plot::{self, CompareChart};
use schedule::{MomsSetting, OneCycleParams, Policy, Rule};

use crate::config::{FitConfig, DEFAULT_MAX_LR};
use crate::learner::learner;

/// The fewest iterations a range test of `tune` may have: fewer leave too few points on the
/// curve once fastai's skips (a tenth at the start, 5 at the end) are taken.
pub const MIN_ITERATIONS: usize = 20;

/// What `tune` tries, and how much it may spend.
#[derive(Debug, Clone)]
pub struct TuneSettings {
    /// The budget as a fraction of the planned training's steps (default 10 %).
    pub budget: f64,
    pub wds: Vec<f64>,
    pub moms: Vec<f64>,
    /// Every range test's sweep starts here and ends at `end_lr`.
    pub start_lr: f64,
    pub end_lr: f64,
    /// Evaluate the next validation batch at every step of every range test.
    pub val_each_step: bool,
    pub rule: Rule,
    /// Start LR = peak / div (fastai's 25; Smith used 3–10).
    pub div: f64,
}

impl Default for TuneSettings {
    fn default() -> Self {
        let o = TuneOptions::default();
        TuneSettings {
            budget: 0.1,
            wds: o.wds,
            moms: o.moms,
            start_lr: 1e-5,
            end_lr: 10.0,
            val_each_step: false,
            rule: o.rule,
            div: o.div,
        }
    }
}

/// The recommended config and the record of how it was found.
pub struct Tuned {
    pub config: FitConfig,
    pub record: TuneRecord,
}

impl TuneSettings {
    /// Checks the settings that no library call would reject clearly.
    pub fn validate(&self) -> Result<()> {
        if !(self.budget > 0.0 && self.budget.is_finite()) {
            bail!(
                "budget must be a fraction > 0 of the planned steps, got {}",
                self.budget
            );
        }
        if self.wds.is_empty() || self.moms.is_empty() {
            bail!("give at least one weight decay and one momentum to try");
        }
        if let Some(w) = self.wds.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            bail!("weight decays must be finite numbers ≥ 0, got {w}");
        }
        if let Some(m) = self.moms.iter().find(|m| !(0.0..1.0).contains(*m)) {
            bail!("momentums must be in [0, 1), got {m}");
        }
        if !(self.div.is_finite() && self.div >= 1.0) {
            bail!("div must be a number ≥ 1, got {}", self.div);
        }
        Ok(())
    }

    /// The steps of the budget for `planned` steps of training, and the steps each range test
    /// gets: an equal share for every test and one more share for the two short runs of a
    /// close call.
    pub fn iterations(&self, planned: usize) -> Result<(usize, usize)> {
        let budget_steps = (self.budget * planned as f64).floor() as usize;
        let shares = self.wds.len() + self.moms.len() + 1;
        let each = budget_steps / shares;
        if each < MIN_ITERATIONS {
            bail!(
                "a budget of {budget_steps} steps gives {each} per test to {} range tests and the \
                 short runs; each needs at least {MIN_ITERATIONS}: raise --budget to at least {:.2} \
                 (of the {planned} planned steps) or try fewer --wds/--momentums",
                shares - 1,
                (MIN_ITERATIONS * shares) as f64 / planned.max(1) as f64
            );
        }
        Ok((budget_steps, each))
    }
}

/// Tunes `config` within `settings.budget` of its planned steps, in `group`'s processes when
/// given (every rank gets the same result); the lead rank writes the evidence and
/// `recommended.toml` into `dir`.
pub fn tune(
    config: &FitConfig,
    dir: &Path,
    group: Option<Rc<ProcessGroup>>,
    settings: &TuneSettings,
) -> Result<Tuned> {
    settings.validate()?;
    let mut learner = learner(config, group.as_ref())?;
    let planned = config.epochs * learner.steps_per_epoch();
    let (budget_steps, num_it) = settings.iterations(planned)?;
    let options = TuneOptions {
        wds: settings.wds.clone(),
        moms: settings.moms.clone(),
        sweep: LrFindOptions {
            start_lr: settings.start_lr,
            end_lr: settings.end_lr,
            num_it,
            val_each_step: settings.val_each_step,
            ..LrFindOptions::default()
        },
        rule: settings.rule,
        div: settings.div,
        confirm_steps: num_it / 2,
        fallback_lr: peak_lr(&config.schedule),
        fallback_wd: config.wd,
        fallback_moms: (0.95, 0.85),
    };
    // Every rank reads the same (all-reduced) losses, so every rank decides the same.
    let tuning = learner.tune(&options)?;
    let batch = BatchDecision {
        batch: config.batch,
        candidates: Vec::new(),
        why: "the config's batch (--batch fixes it)".into(),
    };
    let record = TuneRecord {
        planned_steps: planned,
        budget: settings.budget,
        budget_steps,
        used_steps: tuning.steps(),
        batch,
        lr: tuning.lr.clone(),
        wd: tuning.wd.clone(),
        momentum: tuning.momentum.clone(),
        tests: costs(&tuning),
    };
    let recommended = recommend(config, &record);
    if learner.is_lead() {
        save(config, dir, &tuning, &record, &recommended)?;
    }
    Ok(Tuned {
        config: recommended,
        record,
    })
}

/// The peak (or only) LR of a schedule; the default peak for the range-test sweep.
fn peak_lr(policy: &Policy) -> f64 {
    match policy {
        Policy::OneCycle(p) => p.max_lr,
        Policy::ClrBeta(p) => p.max_lr,
        Policy::Cyclic(p) => p.max_lr,
        Policy::Sgdr(p) => p.max_lr,
        Policy::FlatCos(p) => p.lr,
        Policy::Steps(p) => p.lr,
        Policy::Constant(p) => p.lr,
        Policy::Sweep(_) => DEFAULT_MAX_LR,
    }
}

/// `config` as a 1cycle with the decisions: its convention and phases kept when it is one.
pub fn recommend(config: &FitConfig, record: &TuneRecord) -> FitConfig {
    let base = match &config.schedule {
        Policy::OneCycle(p) => p.clone(),
        _ => OneCycleParams::default(),
    };
    let (hi, lo) = record.momentum.moms;
    let mut out = config.clone();
    out.batch = record.batch.batch;
    out.wd = record.wd.wd;
    out.schedule = Policy::OneCycle(OneCycleParams {
        max_lr: record.lr.max_lr,
        div: Some(record.lr.div),
        moms: MomsSetting::Values(vec![hi, lo, hi]),
        ..base
    });
    out
}

/// What each test cost, in the order run: range tests by weight decay, short runs, momentum.
fn costs(tuning: &Tuning) -> Vec<TestCost> {
    let test = |name: String, stem: String, t: &LrFind| TestCost {
        name,
        csv: Some(format!("{stem}.csv")),
        steps: t.rows.len(),
        seconds: t.seconds,
    };
    let mut out: Vec<TestCost> = tuning
        .wd_tests
        .iter()
        .map(|t| test(format!("range test at wd {}", t.wd), wd_stem(t.wd), t))
        .collect();
    out.extend(tuning.short_runs.iter().cloned());
    out.extend(tuning.momentum_tests.iter().map(|t| {
        let m = t.options.momentum.unwrap_or(f64::NAN);
        test(format!("range test at momentum {m}"), momentum_stem(m), t)
    }));
    out
}

/// Writes each test's CSV and chart, the overlays, `tune.json`, `recommended.toml` and the report.
fn save(
    config: &FitConfig,
    dir: &Path,
    tuning: &Tuning,
    record: &TuneRecord,
    recommended: &FitConfig,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let run = RunDir::new(dir);
    let title = format!("{} range test", config.model);
    for t in &tuning.wd_tests {
        save_run(t, dir, &wd_stem(t.wd), &title)?;
    }
    for t in &tuning.momentum_tests {
        save_run(
            t,
            dir,
            &momentum_stem(t.options.momentum.unwrap_or(f64::NAN)),
            &title,
        )?;
    }
    let wd_title = format!("{}: range tests by weight decay", config.model);
    let choice = record::range_test::choose_wd(&tuning.wd_tests).ok();
    let chart = CompareChart::by_wd(&wd_title, &tuning.wd_tests, choice.as_ref());
    plot::save(&chart, &run.lr_find_wd_chart())?;
    let mom_title = format!("{}: range tests by momentum", config.model);
    let comparison = record::tune::compare(&tuning.momentum_tests).ok();
    let chart = CompareChart::by_momentum(&mom_title, &tuning.momentum_tests, comparison);
    plot::save(&chart, &run.lr_find_mom_chart())?;
    record.write(&run.tune_json())?;
    let toml = toml::to_string(recommended)?;
    record::write_atomic(&run.recommended(), toml.as_bytes())?;
    report::write_run_report(dir)?;
    Ok(())
}
