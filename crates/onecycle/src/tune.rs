//! The Learner's part of Smith's disciplined approach (`onecycle tune`): a long range test for
//! the peak LR, range tests at several weight decays and at several constant momentums, all from
//! the same weights and data order, and short 1cycle runs that settle weight decays too close to
//! call. Works for any [`Data`];
//! the rules that read the tests are `record::tune`'s. [`Learner::probe_steps`] measures the
//! speed and memory of a batch size for the batch-size search.

use std::time::Instant;

use anyhow::{Context, Result};
use schedule::{ConstantParams, OneCycleParams, Policy, Rule};
use tch::Device;

use crate::checkpoint::Position;
use crate::data::Data;
use crate::learner::{Callback, Ctx, Flow, Learner, Plan, StepInfo};
use crate::lr_find::{LrFind, LrFindOptions};
use crate::memory;
pub use record::tune::{
    close_call, compare, decide_lr, decide_momentum, decide_wd, Candidate, LrDecision,
    MomentumDecision, TestCost, WdDecision,
};

/// What to try: the grids, each range test's sweep, and the short runs for close calls.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// Weight decays to compare (Smith's grid: 1e-3, 1e-4, 1e-5, 0).
    pub wds: Vec<f64>,
    /// Constant momentums to compare (Smith's: 0.99, 0.97, 0.95, 0.9).
    pub moms: Vec<f64>,
    /// Every range test's sweep (its `wd` and `momentum` are set per test).
    pub sweep: LrFindOptions,
    /// Iterations of the LR test (the others take `sweep.num_it`): the peak a 1cycle tolerates
    /// grows with the training a test has done, so this one is the longest.
    pub lr_iterations: usize,
    /// The suggestion rule that picks the peak LR from the LR test.
    pub rule: Rule,
    /// Start LR = peak / `div`.
    pub div: f64,
    /// Steps of each short 1cycle run for a close call (0: never run them).
    pub confirm_steps: usize,
    /// Kept when a test gives no usable curve: the peak LR, weight decay and momentum bounds.
    pub fallback_lr: f64,
    pub fallback_wd: f64,
    pub fallback_moms: (f64, f64),
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions {
            wds: vec![1e-3, 1e-4, 1e-5, 0.0],
            moms: vec![0.99, 0.97, 0.95, 0.9],
            sweep: LrFindOptions::default(),
            lr_iterations: LrFindOptions::default().num_it,
            rule: Rule::Plateau,
            div: 25.0,
            confirm_steps: 0,
            fallback_lr: 0.1,
            fallback_wd: 5e-4,
            fallback_moms: (0.95, 0.85),
        }
    }
}

/// The tests run and the decisions read from them.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// The LR test, at the fallback weight decay.
    pub lr_test: LrFind,
    /// One range test per weight decay, in `wds` order.
    pub wd_tests: Vec<LrFind>,
    /// One range test per momentum (at the chosen weight decay), in `moms` order.
    pub momentum_tests: Vec<LrFind>,
    pub lr: LrDecision,
    pub wd: WdDecision,
    pub momentum: MomentumDecision,
    /// The short 1cycle runs of a close call.
    pub short_runs: Vec<TestCost>,
}

impl Tuning {
    /// Optimizer steps all tests took.
    pub fn steps(&self) -> usize {
        let tests = std::iter::once(&self.lr_test)
            .chain(&self.wd_tests)
            .chain(&self.momentum_tests);
        tests.map(|t| t.rows.len()).sum::<usize>()
            + self.short_runs.iter().map(|r| r.steps).sum::<usize>()
    }
}

impl<D: Data> Learner<D> {
    /// Runs the tests of `options` and decides the peak LR (Smith's order: first, at the
    /// fallback weight decay), weight decay and momentum; the model, optimizer state and
    /// statistics are as before afterwards.
    pub fn tune(&mut self, options: &TuneOptions) -> Result<Tuning> {
        let lr_test = self.lr_find(&LrFindOptions {
            wd: Some(options.fallback_wd),
            num_it: options.lr_iterations,
            ..options.sweep.clone()
        })?;
        let lr = decide_lr(&lr_test, options.rule, options.div, options.fallback_lr);
        let wd_tests = self.lr_find_wds(&options.wds, &options.sweep)?;
        let (confirmed, short_runs) = self.settle_close_call(&wd_tests, options)?;
        let wd = decide_wd(&wd_tests, confirmed, options.fallback_wd);
        let momentum_tests = options
            .moms
            .iter()
            .map(|&m| {
                self.lr_find(&LrFindOptions {
                    wd: Some(wd.wd),
                    momentum: Some(m),
                    ..options.sweep.clone()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let momentum = decide_momentum(&momentum_tests, options.fallback_moms);
        Ok(Tuning {
            lr_test,
            wd_tests,
            momentum_tests,
            lr,
            wd,
            momentum,
            short_runs,
        })
    }

    /// When the best two weight decays are too close to call, a short 1cycle run at each from
    /// the same weights: their validation losses, and what they cost. The runs are as short as
    /// the tests, so their peak is the one the best test reads, not the long LR test's (6 steps
    /// to the `cpu` preset's 0.33 diverge).
    fn settle_close_call(
        &mut self,
        tests: &[LrFind],
        options: &TuneOptions,
    ) -> Result<(Vec<Candidate>, Vec<TestCost>)> {
        let close = compare(tests).ok().and_then(|c| {
            let pair = close_call(&c, tests)?;
            Some((pair, &tests[c.index]))
        });
        let Some(((a, b), best)) = close.filter(|_| options.confirm_steps > 0) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let lr = decide_lr(best, options.rule, options.div, options.fallback_lr).max_lr;
        let mut confirmed = Vec::new();
        let mut costs = Vec::new();
        for wd in [a, b] {
            let began = Instant::now();
            let loss = self.short_one_cycle(wd, lr, options.div, options.confirm_steps)?;
            confirmed.push(Candidate { value: wd, loss });
            costs.push(TestCost {
                name: format!("short 1cycle at wd {wd}"),
                csv: None,
                steps: options.confirm_steps,
                seconds: began.elapsed().as_secs_f64(),
            });
        }
        Ok((confirmed, costs))
    }

    /// The validation loss after `steps` steps of a 1cycle to `max_lr` at weight decay `wd`;
    /// the Learner is put back as it was.
    pub fn short_one_cycle(&mut self, wd: f64, max_lr: f64, div: f64, steps: usize) -> Result<f64> {
        let policy = Policy::OneCycle(OneCycleParams {
            max_lr,
            div: Some(div),
            ..OneCycleParams::default()
        });
        let schedule = policy.build(steps).context("the short 1cycle run")?;
        let batches = self.steps_per_epoch();
        let plan = Plan {
            epochs: steps.div_ceil(batches.max(1)),
            batches,
            schedule,
            start: Position::default(),
            validate: false,
            lookahead: false,
        };
        let mut stop = StopAfter(steps);
        self.with_fit_state(wd, |learner| {
            learner.run(&plan, &mut [&mut stop])?;
            Ok(learner.validate()?.0)
        })
    }
}

/// What training steps at the data's batch size cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepProbe {
    /// Images per second of this process.
    pub images_per_sec: f64,
    /// On the CPU, the most memory the steps took above what the process held before.
    pub step_bytes: Option<u64>,
    pub seconds: f64,
}

impl<D: Data> Learner<D> {
    /// Times `steps` training steps of the real data after one untimed step, at a tiny constant
    /// LR, and on the CPU measures the peak memory they took; the Learner is put back as it was.
    pub fn probe_steps(&mut self, steps: usize) -> Result<StepProbe> {
        let n = steps.max(1) + 1;
        let constant = Policy::Constant(ConstantParams {
            lr: 1e-6,
            momentum: None,
        });
        let batches = self.steps_per_epoch();
        let plan = Plan {
            epochs: n.div_ceil(batches.max(1)),
            batches,
            schedule: constant.build(n).context("the speed probe")?,
            start: Position::default(),
            validate: false,
            lookahead: false,
        };
        let held = match self.device() {
            Device::Cpu => {
                memory::release_freed();
                memory::reset_peak()?;
                Some(memory::resident_bytes()?)
            }
            _ => None,
        };
        let mut timer = StepTimer::new(n);
        let began = Instant::now();
        let wd = self.config().wd;
        self.with_fit_state(wd, |learner| learner.run(&plan, &mut [&mut timer]))?;
        let step_bytes = match held {
            Some(held) => Some(memory::peak_bytes()?.saturating_sub(held)),
            None => None,
        };
        Ok(StepProbe {
            images_per_sec: timer.images_per_sec(),
            step_bytes,
            seconds: began.elapsed().as_secs_f64(),
        })
    }
}

/// Times the steps after the first (which warms caches and allocators) and stops after `n`.
struct StepTimer {
    n: usize,
    began: Option<Instant>,
    images: usize,
    seconds: f64,
}

impl StepTimer {
    fn new(n: usize) -> StepTimer {
        StepTimer {
            n,
            began: None,
            images: 0,
            seconds: 0.0,
        }
    }

    fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }
}

impl Callback for StepTimer {
    fn after_step(&mut self, _ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        match self.began {
            None => self.began = Some(Instant::now()),
            Some(t) => {
                self.images += s.items;
                self.seconds = t.elapsed().as_secs_f64();
            }
        }
        Ok(match s.step + 1 >= self.n {
            true => Flow::Stop("the speed probe is complete".into()),
            false => Flow::Continue,
        })
    }
}

/// Stops the loop after a number of steps.
struct StopAfter(usize);

impl Callback for StopAfter {
    fn after_step(&mut self, _ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        Ok(match s.step + 1 >= self.0 {
            true => Flow::Stop("the short run is complete".into()),
            false => Flow::Continue,
        })
    }
}
