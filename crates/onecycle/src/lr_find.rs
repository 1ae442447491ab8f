//! The LR range test (fastai's `lr_find`, the seed's `lr_find2` with per-step validation) and
//! weight-decay tuning with range tests: the normal training loop over the sweep's LRs with only
//! the `RangeTest` callback; the model, optimizer state and batch-norm statistics are restored
//! exactly afterwards. What a test records (rows, suggestions, CSV files) is `record::range_test`.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use schedule::{Divergence, Diverging, SmoothLoss, Sweep, SweepParams};

use crate::checkpoint::Position;
use crate::data::{Batch, Batches, Data};
use crate::interrupt;
use crate::learner::{Callback, Ctx, Flow, Learner, Plan, StepInfo};

/// The record a range test gives (settings, rows, suggestions, CSV files), from `record`;
/// choosing the weight decay, reading saved tests and file names are in `record::range_test`,
/// charts in the `report` crate.
pub use record::range_test::{LrFind, LrFindOptions, LrFindRow};

impl<D: Data> Learner<D> {
    /// Runs a range test (see [`LrFindOptions`]): the normal training loop over the sweep's
    /// LRs with only a [`RangeTest`] callback, cycling the training data; then puts the model,
    /// optimizer state, batch-norm statistics and loss statistics back exactly as they were.
    pub fn lr_find(&mut self, options: &LrFindOptions) -> Result<LrFind> {
        if options.num_it == 0 {
            bail!("num_it must be at least 1, got 0");
        }
        if let Some(wd) = options.wd.filter(|w| !(w.is_finite() && *w >= 0.0)) {
            bail!("wd must be a finite number ≥ 0, got {wd}");
        }
        let params = SweepParams {
            start_lr: options.start_lr,
            end_lr: options.end_lr,
            kind: options.kind,
            momentum: options.momentum,
        };
        let sweep = Sweep::new(&params, options.num_it).context("the range test's parameters")?;
        let batches = self.steps_per_epoch();
        if batches == 0 {
            bail!("the training data has no batches");
        }
        if options.val_each_step && self.data().valid_batches() == 0 {
            bail!("per-step validation needs validation data, and there is none");
        }
        let plan = Plan {
            epochs: options.num_it.div_ceil(batches),
            batches,
            schedule: Box::new(sweep),
            start: Position::default(),
            validate: false,
            lookahead: false,
        };
        let wd = options.wd.unwrap_or(self.config().wd);
        let mut test = RangeTest::new(options);
        let began = Instant::now();
        let result = self.with_fit_state(wd, |learner| learner.run(&plan, &mut [&mut test]));
        let seconds = began.elapsed().as_secs_f64();
        result?;
        Ok(LrFind {
            rows: test.rows,
            metric_names: test.metric_names,
            options: options.clone(),
            wd,
            stopped: test.stopped,
            seconds,
        })
    }

    /// Range tests at each weight decay in `wds`, from the same weights and in the same data
    /// order (each test restores the model; data order depends only on the epoch).
    pub fn lr_find_wds(&mut self, wds: &[f64], options: &LrFindOptions) -> Result<Vec<LrFind>> {
        wds.iter()
            .map(|&wd| {
                self.lr_find(&LrFindOptions {
                    wd: Some(wd),
                    ..options.clone()
                })
            })
            .collect()
    }
}

/// The range test as a callback: records every iteration (and with per-step validation the
/// next validation batch's loss and metrics), stops when the loss diverges or the sweep ends.
struct RangeTest {
    num_it: usize,
    stop_div: bool,
    val_each_step: bool,
    rule: Divergence,
    val_smooth: SmoothLoss,
    valid: Option<Batches>,
    rows: Vec<LrFindRow>,
    metric_names: Vec<String>,
    stopped: Option<String>,
}

impl RangeTest {
    fn new(options: &LrFindOptions) -> RangeTest {
        RangeTest {
            num_it: options.num_it,
            stop_div: options.stop_div,
            val_each_step: options.val_each_step,
            rule: Divergence::range_test(),
            val_smooth: SmoothLoss::default(),
            valid: None,
            rows: Vec::with_capacity(options.num_it),
            metric_names: Vec::new(),
            stopped: None,
        }
    }

    /// Evaluates the next validation batch (starting over at the end of the set) into `row`.
    fn validate_next(&mut self, ctx: &mut Ctx, row: &mut LrFindRow) -> Result<()> {
        let batch = next_valid(ctx.data(), &mut self.valid)?;
        let (val_loss, metrics) = ctx.eval_batch(batch)?;
        row.val_loss = Some(val_loss);
        row.val_smooth_loss = Some(self.val_smooth.push(val_loss));
        self.metric_names = metrics.iter().map(|(n, _)| n.clone()).collect();
        row.metrics = metrics.into_iter().map(|(_, v)| v).collect();
        Ok(())
    }
}

impl Callback for RangeTest {
    fn after_step(&mut self, ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        let mut row = LrFindRow {
            lr: s.lr,
            loss: s.loss,
            smooth_loss: s.smooth_loss,
            val_loss: None,
            val_smooth_loss: None,
            metrics: Vec::new(),
        };
        if self.val_each_step {
            self.validate_next(ctx, &mut row)?;
        }
        self.rows.push(row);
        let count = self.rows.len() as u64;
        if self.stop_div {
            if let Some(verdict) = self.rule.check(count, s.loss, s.smooth_loss) {
                let why = why_stopped(s.lr, verdict);
                self.stopped = Some(why.clone());
                return Ok(Flow::Stop(why));
            }
        }
        if interrupt::requested() {
            self.stopped = Some("interrupted".into());
            return Ok(Flow::Stop("interrupted".into()));
        }
        if self.rows.len() == self.num_it {
            return Ok(Flow::Stop("the sweep is complete".into()));
        }
        Ok(Flow::Continue)
    }
}

/// Why a range test stopped at `lr`, in words.
pub fn why_stopped(lr: f64, verdict: Diverging) -> String {
    match verdict {
        Diverging::NotFinite { loss } => format!("the loss is {loss} at lr {lr:.3e}"),
        Diverging::Exploded {
            smooth,
            best,
            factor,
        } => format!(
            "the smoothed loss {smooth:.4} exceeds {factor}× its best {best:.4} at lr {lr:.3e}"
        ),
    }
}

/// The next validation batch, starting over at the end of the set.
fn next_valid(data: &dyn Data, valid: &mut Option<Batches>) -> Result<Batch> {
    for _ in 0..2 {
        if valid.is_none() {
            *valid = Some(data.valid()?);
        }
        if let Some(b) = valid.as_mut().and_then(Iterator::next) {
            return b.context("loading a validation batch");
        }
        *valid = None;
    }
    bail!("the validation data has no batches")
}
