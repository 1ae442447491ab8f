//! The LR range test (fastai's `lr_find`, the seed's `lr_find2` with per-step validation) and
//! weight-decay tuning with range tests. The model, optimizer state and batch-norm statistics are
//! restored exactly afterwards; the sweep never touches the Learner's divergence guard or callbacks.
//! The sweep lives here because it drives tensors; what it records is `record::range_test`.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use record::range_test::StopRule;
use schedule::{Schedule, SmoothLoss, Sweep, SweepParams};

use crate::data::{Batch, Batches, Data};
use crate::learner::Learner;

/// The record a range test gives (settings, rows, suggestions, CSV files), from `record`;
/// choosing the weight decay, reading saved tests and file names are in `record::range_test`,
/// charts in the `report` crate.
pub use record::range_test::{LrFind, LrFindOptions, LrFindRow};

impl<D: Data> Learner<D> {
    /// Runs a range test (see [`LrFindOptions`]) and puts the model, optimizer state and
    /// batch-norm statistics back exactly as they were.
    pub fn lr_find(&mut self, options: &LrFindOptions) -> Result<LrFind> {
        if options.num_it == 0 {
            bail!("num_it must be at least 1, got 0");
        }
        if let Some(wd) = options.wd.filter(|w| !(w.is_finite() && *w >= 0.0)) {
            bail!("wd must be a finite number ≥ 0, got {wd}");
        }
        let sweep = Sweep::new(
            &SweepParams {
                start_lr: options.start_lr,
                end_lr: options.end_lr,
                kind: options.kind,
                momentum: options.momentum,
            },
            options.num_it,
        )
        .context("the range test's parameters")?;
        if options.val_each_step && self.data.valid_batches() == 0 {
            bail!("per-step validation needs validation data, and there is none");
        }
        let snapshot = self.snapshot();
        let saved = self.config().clone();
        let wd = options.wd.unwrap_or(saved.wd);
        self.config_mut().wd = wd;
        let began = Instant::now();
        let result = self.sweep(&sweep, options);
        self.config_mut().clone_from(&saved);
        self.restore(&snapshot)
            .context("restoring the model after the range test")?;
        let (rows, metric_names, stopped) = result?;
        Ok(LrFind {
            rows,
            metric_names,
            options: options.clone(),
            wd,
            stopped,
            seconds: began.elapsed().as_secs_f64(),
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

    #[allow(clippy::type_complexity)]
    fn sweep(
        &mut self,
        sweep: &Sweep,
        options: &LrFindOptions,
    ) -> Result<(Vec<LrFindRow>, Vec<String>, Option<String>)> {
        let momentum = options.momentum.unwrap_or(self.config().momentum);
        let mut train = TrainCycle::default();
        let mut valid: Option<Batches> = None;
        let (mut smooth, mut val_smooth) = (SmoothLoss::default(), SmoothLoss::default());
        let mut stop = StopRule::default();
        let mut rows = Vec::with_capacity(options.num_it);
        let mut names = Vec::new();
        for i in 0..options.num_it {
            let lr = sweep.at(i)?.lr;
            let batch = train.next(&self.data)?;
            let targets = batch.targets.to_device(self.vs.device());
            let loss = self
                .train_step(batch.inputs, &targets, lr, momentum)
                .with_context(|| format!("range-test step {i} at lr {lr:.3e}"))?;
            let smooth_loss = smooth.push(loss);
            let mut row = LrFindRow {
                lr,
                loss,
                smooth_loss,
                val_loss: None,
                val_smooth_loss: None,
                metrics: Vec::new(),
            };
            if options.val_each_step {
                let batch = next_valid(&self.data, &mut valid)?;
                let (val_loss, metrics) = self.eval_batch(batch)?;
                row.val_loss = Some(val_loss);
                row.val_smooth_loss = Some(val_smooth.push(val_loss));
                names = metrics.iter().map(|(n, _)| n.clone()).collect();
                row.metrics = metrics.into_iter().map(|(_, v)| v).collect();
            }
            rows.push(row);
            if options.stop_div {
                if let Some(why) = stop.check(lr, loss, smooth_loss) {
                    return Ok((rows, names, Some(why)));
                }
            }
        }
        Ok((rows, names, None))
    }
}

/// Training batches across epochs 0, 1, 2, …, each epoch in the order the data gives it.
#[derive(Default)]
struct TrainCycle {
    epoch: usize,
    batches: Option<Batches>,
}

impl TrainCycle {
    fn next<D: Data>(&mut self, data: &D) -> Result<Batch> {
        for _ in 0..2 {
            if self.batches.is_none() {
                self.batches = Some(data.train_epoch(self.epoch, 0)?);
            }
            if let Some(b) = self.batches.as_mut().and_then(Iterator::next) {
                return b
                    .with_context(|| format!("loading a training batch of epoch {}", self.epoch));
            }
            self.batches = None;
            self.epoch += 1;
        }
        bail!("the training data has no batches")
    }
}

/// The next validation batch, starting over at the end of the set.
fn next_valid<D: Data>(data: &D, valid: &mut Option<Batches>) -> Result<Batch> {
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
