//! `onecycle tune`: Smith's disciplined approach for a fit config in one call, within a budget of
//! steps. Range tests at several weight decays (the peak LR from the chosen one's curve), at
//! several constant momentums, short 1cycle runs for a close call; the result is a 1cycle config
//! (`recommended.toml`) that `onecycle fit --config` trains with, and the evidence (`tune.json`,
//! each test's CSV and chart, the report's tuning section).

use std::path::Path;
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use onecycle::data::Data;
use onecycle::dist::ProcessGroup;
use onecycle::learner::Learner;
use onecycle::lr_find::{LrFind, LrFindOptions};
use onecycle::tune::{StepProbe, TuneOptions, Tuning};
use record::run_dir::LR_FIND;
use record::tune::{
    decide_batch, next_batch, BatchDecision, BatchLimits, BatchProbe, TestCost, TuneRecord,
    MIN_STEPS_PER_EPOCH,
};
use record::{momentum_stem, wd_stem, RunDir};
use report::lr_find::save_run;
use report::plot::{self, CompareChart};
use schedule::{ClrBetaParams, MomsSetting, OneCycleParams, Policy, Rule};
use tch::{Device, Tensor};
use vision::ImageData;

use crate::config::{FitConfig, DEFAULT_MAX_LR};
use crate::learner::learner;

/// The fewest iterations a weight-decay or momentum test of `tune` may have: fewer leave too
/// few points on the curve once fastai's skips (a tenth at the start, 5 at the end) are taken.
pub const MIN_ITERATIONS: usize = 12;

/// The fewest iterations of the LR test.
pub const MIN_LR_ITERATIONS: usize = 20;

/// The LR test's length as a share of the planned training. The peak a 1cycle tolerates shows
/// only on a test that has trained long enough, and a test a tenth as long as the training reads
/// it: on the `cpu` preset's data (2,355 steps) a 235-step test is flat from 0.02 to 6 (plateau
/// middle 0.34; the hand-picked peak is 0.4) where a 26-step one bottoms out at 0.017; on 5,000
/// images for 160 steps a 20-step test gives 0.027 (the best peaks were 0.016 to 0.027) where an
/// 80-step one gives 0.11, 2 points worse.
pub const LR_TEST_SHARE: f64 = 0.1;

/// How a budget is shared out, in optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestSteps {
    /// All the budget: `budget` × the planned steps.
    pub budget: usize,
    /// The LR test's iterations.
    pub lr_test: usize,
    /// Each weight-decay and momentum test's iterations (and the two short runs' together).
    pub each: usize,
}

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
    /// Search the batch size (doubling from `batch_start`); otherwise the config's is kept.
    pub find_batch: bool,
    pub batch_start: usize,
}

/// Training steps each batch size of the search is timed over (after one untimed step).
pub const PROBE_STEPS: usize = 2;

/// The share of the machine's available memory the batch-size search leaves free on the CPU.
pub const MEMORY_MARGIN: f64 = 0.2;

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
            find_batch: true,
            batch_start: 16,
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
        if self.find_batch && self.batch_start == 0 {
            bail!("the batch-size search must start at a batch of at least 1");
        }
        Ok(())
    }

    /// The steps of the budget for `planned` steps of training, shared out among the tests
    /// after `spent` (the batch-size search): [`LR_TEST_SHARE`] of the planned steps to the LR
    /// test, or less where the budget would leave the other tests under [`MIN_ITERATIONS`] each;
    /// then equal shares to every weight-decay and momentum test and to the two short runs of a
    /// close call.
    pub fn iterations(&self, planned: usize, spent: usize) -> Result<TestSteps> {
        let budget = (self.budget * planned as f64).floor() as usize;
        let left = budget.saturating_sub(spent);
        let shares = self.wds.len() + self.moms.len() + 1;
        let wanted = ((LR_TEST_SHARE * planned as f64) as usize).max(MIN_LR_ITERATIONS);
        let lr_test = wanted.min(left.saturating_sub(shares * MIN_ITERATIONS));
        if lr_test < MIN_LR_ITERATIONS {
            let need = MIN_LR_ITERATIONS + shares * MIN_ITERATIONS + spent;
            let fraction = (100.0 * need as f64 / planned.max(1) as f64).ceil() / 100.0;
            bail!(
                "a budget of {budget} steps cannot hold the LR test's {MIN_LR_ITERATIONS} steps \
                 and {MIN_ITERATIONS} for each of {} range tests and the short runs: raise \
                 --budget to at least {fraction:.2} (of the {planned} planned steps) or try fewer \
                 --wds/--momentums",
                shares - 1,
            );
        }
        Ok(TestSteps {
            budget,
            lr_test,
            each: (left - lr_test) / shares,
        })
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
    let search = match settings.find_batch {
        true => search_batch(config, group.as_ref(), settings.batch_start)?,
        false => BatchSearch::fixed(config.batch),
    };
    let config = &FitConfig {
        batch: search.decision.batch,
        ..config.clone()
    };
    let mut learner = learner(config, group.as_ref())?;
    let planned = config.epochs * learner.steps_per_epoch();
    let spent = search
        .images
        .div_ceil(config.batch * config.accumulate.max(1));
    let steps = settings.iterations(planned, spent)?;
    let options = TuneOptions {
        wds: settings.wds.clone(),
        moms: settings.moms.clone(),
        sweep: LrFindOptions {
            start_lr: settings.start_lr,
            end_lr: settings.end_lr,
            num_it: steps.each,
            val_each_step: settings.val_each_step,
            ..LrFindOptions::default()
        },
        lr_iterations: steps.lr_test,
        rule: settings.rule,
        div: settings.div,
        confirm_steps: steps.each / 2,
        fallback_lr: peak_lr(&config.schedule),
        fallback_wd: config.wd,
        fallback_moms: (0.95, 0.85),
    };
    // Every rank reads the same (all-reduced) losses, so every rank decides the same.
    let tuning = learner.tune(&options)?;
    let mut tests = search.costs;
    tests.extend(costs(&tuning));
    let record = TuneRecord {
        planned_steps: planned,
        budget: settings.budget,
        budget_steps: steps.budget,
        used_steps: spent + tuning.steps(),
        batch: search.decision,
        lr: tuning.lr.clone(),
        wd: tuning.wd.clone(),
        momentum: tuning.momentum.clone(),
        tests,
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

/// The batch size, the probes' costs and the images they trained on.
struct BatchSearch {
    decision: BatchDecision,
    costs: Vec<TestCost>,
    images: usize,
}

impl BatchSearch {
    fn fixed(batch: usize) -> BatchSearch {
        BatchSearch {
            decision: BatchDecision {
                batch,
                probes: Vec::new(),
                why: "given (--batch, a config file or a preset fixes it)".into(),
            },
            costs: Vec::new(),
            images: 0,
        }
    }
}

/// Smith's step 1: doubling the batch from `start` while a step at the next size fits the
/// memory and the data (on a GPU, until one runs out of memory), then the fastest of the
/// largest few. Every probe starts from the config's initial weights; all ranks use rank 0's
/// measurements, so all decide alike.
fn search_batch(
    config: &FitConfig,
    group: Option<&Rc<ProcessGroup>>,
    start: usize,
) -> Result<BatchSearch> {
    let world = group.map_or(1, |g| g.world_size());
    let mut batch = start.max(world);
    let mut probes = Vec::new();
    let mut search = BatchSearch::fixed(config.batch);
    let mut limits = None;
    let stopped = loop {
        let probe_config = FitConfig {
            batch,
            ..config.clone()
        };
        let mut learner = learner(&probe_config, group)?;
        let limits = match limits {
            Some(l) => l,
            None => *limits.insert(batch_limits(&learner, world)?),
        };
        if batch > limits.cap.max(world) {
            // Less data than the first size needs: start at the largest the data allows.
            batch = limits.cap.max(world);
            continue;
        }
        let measured = match learner.probe_steps(PROBE_STEPS) {
            Err(e) if out_of_memory(&e) && !probes.is_empty() => {
                break format!("batch {batch} ran out of device memory")
            }
            other => agree(other?, group, learner.device())?,
        };
        let probe = BatchProbe {
            batch,
            images_per_sec: measured.images_per_sec * world as f64,
            step_bytes: measured.step_bytes.map(|b| b as f64),
        };
        search.images += (PROBE_STEPS + 1) * batch * config.accumulate.max(1);
        search.costs.push(TestCost {
            name: format!("speed and memory at batch {batch}"),
            csv: None,
            steps: PROBE_STEPS + 1,
            seconds: measured.seconds,
        });
        probes.push(probe);
        match next_batch(&probe, &limits) {
            Ok(next) => batch = next,
            Err(why) => break why,
        }
    };
    search.decision = decide_batch(&probes, &stopped)?;
    Ok(search)
}

/// The search's limits for a learner's data: at least [`MIN_STEPS_PER_EPOCH`] steps per epoch,
/// and on the CPU the available memory less [`MEMORY_MARGIN`], shared by the processes.
fn batch_limits(learner: &Learner<ImageData>, world: usize) -> Result<BatchLimits> {
    let images = learner.data().train_items();
    let memory = match learner.device() {
        Device::Cpu => {
            let available = onecycle::memory::available_bytes()? as f64;
            Some(available * (1.0 - MEMORY_MARGIN) / world as f64)
        }
        _ => None,
    };
    Ok(BatchLimits {
        cap: (images / MIN_STEPS_PER_EPOCH).max(1),
        memory,
    })
}

/// Whether an error is the device running out of memory (libtorch's CUDA message).
fn out_of_memory(e: &anyhow::Error) -> bool {
    format!("{e:#}").to_lowercase().contains("out of memory")
}

/// Rank 0's measurements on every rank.
fn agree(probe: StepProbe, group: Option<&Rc<ProcessGroup>>, device: Device) -> Result<StepProbe> {
    let Some(g) = group else { return Ok(probe) };
    let numbers = [
        probe.images_per_sec,
        probe.step_bytes.map_or(-1.0, |b| b as f64),
        probe.seconds,
    ];
    let t = Tensor::from_slice(&numbers).to_device(device);
    g.broadcast(&[t.shallow_clone()], 0)?;
    let v: Vec<f64> = Vec::try_from(&t.to_device(Device::Cpu))?;
    Ok(StepProbe {
        images_per_sec: v[0],
        step_bytes: (v[1] >= 0.0).then_some(v[1] as u64),
        seconds: v[2],
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

/// `config` as a 1cycle with the decisions: its convention and phases kept when it is one
/// (PyTorch's/fastai's one-cycle or Smith's clr-beta), PyTorch's one-cycle otherwise.
pub fn recommend(config: &FitConfig, record: &TuneRecord) -> FitConfig {
    let (hi, lo) = record.momentum.moms;
    let (max_lr, div) = (record.lr.max_lr, record.lr.div);
    let mut out = config.clone();
    out.batch = record.batch.batch;
    out.wd = record.wd.wd;
    out.schedule = match &config.schedule {
        Policy::ClrBeta(p) => Policy::ClrBeta(ClrBetaParams {
            max_lr,
            div,
            moms: Some([hi, lo]),
            ..p.clone()
        }),
        other => {
            let base = match other {
                Policy::OneCycle(p) => p.clone(),
                _ => OneCycleParams::default(),
            };
            Policy::OneCycle(OneCycleParams {
                max_lr,
                div: Some(div),
                moms: MomsSetting::Values(vec![hi, lo, hi]),
                ..base
            })
        }
    };
    out
}

/// What each test cost, in the order run: the LR test, range tests by weight decay, short runs,
/// momentum.
fn costs(tuning: &Tuning) -> Vec<TestCost> {
    let test = |name: String, stem: String, t: &LrFind| TestCost {
        name,
        csv: Some(format!("{stem}.csv")),
        steps: t.rows.len(),
        seconds: t.seconds,
    };
    let lr = &tuning.lr_test;
    let mut out = vec![test(format!("LR test at wd {}", lr.wd), LR_FIND.into(), lr)];
    out.extend(
        tuning
            .wd_tests
            .iter()
            .map(|t| test(format!("range test at wd {}", t.wd), wd_stem(t.wd), t)),
    );
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
    save_run(&tuning.lr_test, dir, LR_FIND, &title)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use record::tune::{LrDecision, MomentumDecision, WdDecision};
    use schedule::ClrBetaParams;

    fn decided(max_lr: f64, div: f64, wd: f64, moms: (f64, f64)) -> TuneRecord {
        let why = String::from("test");
        TuneRecord {
            planned_steps: 100,
            budget: 0.1,
            budget_steps: 10,
            used_steps: 10,
            batch: BatchDecision {
                batch: 64,
                probes: Vec::new(),
                why: why.clone(),
            },
            lr: LrDecision {
                max_lr,
                div,
                rule: "plateau".into(),
                suggestions: Vec::new(),
                why: why.clone(),
            },
            wd: WdDecision {
                wd,
                comparison_lr: f64::NAN,
                candidates: Vec::new(),
                confirmed: Vec::new(),
                why: why.clone(),
            },
            momentum: MomentumDecision {
                moms,
                comparison_lr: f64::NAN,
                candidates: Vec::new(),
                why,
            },
            tests: Vec::new(),
        }
    }

    #[test]
    fn the_recommendation_keeps_smith_s_clr_beta_and_turns_other_schedules_into_one_cycle() {
        let record = decided(0.3, 10.0, 1e-4, (0.97, 0.87));
        let clr = FitConfig {
            schedule: Policy::ClrBeta(ClrBetaParams {
                max_lr: 0.4,
                div: 25.0,
                pct: 13.68,
                moms: None,
            }),
            ..FitConfig::default()
        };
        let out = recommend(&clr, &record);
        assert_eq!((out.batch, out.wd), (64, 1e-4));
        let want = ClrBetaParams {
            max_lr: 0.3,
            div: 10.0,
            pct: 13.68,
            moms: Some([0.97, 0.87]),
        };
        assert_eq!(out.schedule, Policy::ClrBeta(want));
        let steps = FitConfig {
            schedule: Policy::Constant(schedule::ConstantParams {
                lr: 0.1,
                momentum: None,
            }),
            ..FitConfig::default()
        };
        match recommend(&steps, &record).schedule {
            Policy::OneCycle(p) => {
                assert_eq!((p.max_lr, p.div), (0.3, Some(10.0)));
                assert_eq!(p.moms, MomsSetting::Values(vec![0.97, 0.87, 0.97]));
            }
            other => panic!("not a 1cycle: {other:?}"),
        }
    }

    #[test]
    fn the_lr_test_gets_a_tenth_of_the_training_and_the_others_equal_shares_of_the_rest() {
        // 4 + 4 tests and the short runs: 9 shares, at least 12 steps each.
        let s = TuneSettings {
            budget: 0.15,
            ..TuneSettings::default()
        };
        let steps = s.iterations(2355, 0).unwrap();
        assert_eq!(steps.budget, 353);
        assert_eq!((steps.lr_test, steps.each), (235, 13));
        // A smaller budget shortens the LR test first; the batch search comes off the top.
        let s = TuneSettings::default();
        let steps = s.iterations(2355, 0).unwrap();
        assert_eq!((steps.budget, steps.lr_test, steps.each), (235, 127, 12));
        let steps = s.iterations(2355, 19).unwrap();
        assert_eq!((steps.lr_test, steps.each), (108, 12));
        // A short training's LR test is short too, down to 20 steps.
        let big = TuneSettings {
            budget: 2.0,
            ..TuneSettings::default()
        };
        assert_eq!(big.iterations(160, 0).unwrap().lr_test, 20);
        let err = s.iterations(2355, 110).unwrap_err().to_string();
        assert!(err.contains("raise --budget to at least 0.11"), "{err}");
    }
}
