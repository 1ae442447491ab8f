//! The training loop, a ladder of short steps: fit → epoch → batch → validate, each announcing
//! its events to the callbacks. Everything optional (history, progress, checkpoints, the
//! divergence guard, the range test) is a callback around it.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use schedule::{Policy, Schedule};

use super::events::{Callback, Ctx, EpochInfo, Flow, StepInfo};
use super::Learner;
use crate::checkpoint::Position;
use crate::data::{Batch, Data};
use crate::device;

/// The outcome of a fit.
#[derive(Debug, Clone, Default)]
pub struct FitSummary {
    pub epochs: Vec<EpochInfo>,
    pub steps: usize,
    pub seconds: f64,
    pub items: usize,
    /// Why training stopped early, if it did.
    pub stopped: Option<String>,
}

impl FitSummary {
    /// Value of metric `name` after the last epoch.
    pub fn final_metric(&self, name: &str) -> Option<f64> {
        let last = self.epochs.last()?;
        last.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }
}

/// One fit: how long, at which LR and momentum, from where, and whether epochs end with a
/// validation pass (the range test skips it).
pub(crate) struct Plan {
    pub epochs: usize,
    pub batches: usize,
    pub schedule: Box<dyn Schedule>,
    pub start: Position,
    pub validate: bool,
    /// Whether the learner's lookahead applies (a fit, not a range test or probe).
    pub lookahead: bool,
}

impl<D: Data> Learner<D> {
    /// Trains `epochs` epochs following `policy` over all their steps.
    pub fn fit(&mut self, epochs: usize, policy: &Policy) -> Result<FitSummary> {
        self.fit_from(epochs, policy, Position::default())
    }

    /// Like [`Learner::fit`], starting at `start` (after restoring a checkpoint).
    pub fn fit_from(
        &mut self,
        epochs: usize,
        policy: &Policy,
        start: Position,
    ) -> Result<FitSummary> {
        if self.core.update.config.accumulate == 0 {
            bail!("accumulate must be at least 1 batch per step, got 0");
        }
        let batches = self.steps_per_epoch();
        if batches == 0 {
            bail!("the training data has no batches");
        }
        if epochs == 0 {
            bail!("epochs must be at least 1, got 0");
        }
        let Some(steps) = epochs.checked_mul(batches) else {
            bail!("{epochs} epochs of {batches} batches are more steps than can be counted");
        };
        let schedule = policy.build(steps).context("the schedule's parameters")?;
        if start.step != start.epoch * batches + start.batch {
            bail!("resume position {start:?} does not match {batches} batches per epoch");
        }
        let plan = Plan {
            epochs,
            batches,
            schedule,
            start,
            validate: true,
            lookahead: true,
        };
        if start.step == 0 {
            if let Some(lookahead) = self.core.lookahead.as_mut() {
                lookahead.average = None;
            }
        }
        let mut callbacks = std::mem::take(&mut self.callbacks);
        let mut each: Vec<&mut dyn Callback> = callbacks
            .iter_mut()
            .map(|c| &mut **c as &mut dyn Callback)
            .collect();
        let result = self.run(&plan, &mut each);
        self.callbacks = callbacks;
        result
    }

    /// Runs `plan` with `callbacks` (in place of the learner's own): `before_fit`, the epochs,
    /// then `after_fit` whatever happened.
    pub(crate) fn run(
        &mut self,
        plan: &Plan,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<FitSummary> {
        let began = Instant::now();
        let mut summary = FitSummary::default();
        let mut fit = Fit {
            plan,
            callbacks,
            summary: &mut summary,
        };
        fit.notify(self, |cb, ctx| {
            cb.before_fit(ctx, plan.epochs, plan.batches).map(go_on)
        })?;
        let result = self.epochs(&mut fit);
        fit.summary.seconds = began.elapsed().as_secs_f64();
        let stopped = match &result {
            Ok(()) => fit.summary.stopped.clone(),
            Err(e) => Some(format!("{e:#}")),
        };
        fit.notify(self, |cb, ctx| {
            cb.after_fit(ctx, stopped.as_deref()).map(go_on)
        })?;
        result.map(|()| summary)
    }

    fn epochs(&mut self, fit: &mut Fit) -> Result<()> {
        let plan = fit.plan;
        for epoch in plan.start.epoch..plan.epochs {
            let skip = if epoch == plan.start.epoch {
                plan.start.batch
            } else {
                0
            };
            if let Flow::Stop(why) = self.epoch(fit, epoch, skip)? {
                fit.summary.stopped = Some(why);
                break;
            }
        }
        Ok(())
    }

    /// Trains one epoch from batch `skip`, then validates.
    fn epoch(&mut self, fit: &mut Fit, epoch: usize, skip: usize) -> Result<Flow> {
        let (plan, began) = (fit.plan, Instant::now());
        fit.notify(self, |cb, ctx| cb.before_epoch(ctx, epoch).map(go_on))?;
        if skip == 0 {
            self.core.state.epoch_loss = (0.0, 0);
        }
        // With gradient accumulation a step takes `n` loader batches.
        let n = self.core.update.config.accumulate.max(1);
        let loaded = device::prefetch(self.data.train_epoch(epoch, skip * n)?, self.device());
        let mut loaded = loaded.enumerate();
        for i in 0.. {
            let micro = loaded
                .by_ref()
                .take(n)
                .map(|(k, b)| b.with_context(|| format!("loading training batch {}", skip * n + k)))
                .collect::<Result<Vec<Batch>>>()?;
            if micro.is_empty() {
                break;
            }
            let step = epoch * plan.batches + skip + i;
            let (info, flow) = self.batch(fit, step, micro)?;
            if let Some(info) = info {
                fit.summary.steps += 1;
                fit.summary.items += info.items;
            }
            if flow != Flow::Continue {
                return Ok(flow);
            }
        }
        let (valid_loss, metrics) = if plan.validate {
            self.validate()?
        } else {
            (f64::NAN, Vec::new())
        };
        let info = EpochInfo {
            epoch,
            epochs: plan.epochs,
            train_loss: {
                let (sum, items) = self.core.state.epoch_loss;
                sum / items.max(1) as f64
            },
            valid_loss,
            metrics,
            seconds: began.elapsed().as_secs_f64(),
            steps_done: (epoch + 1) * plan.batches,
        };
        fit.summary.epochs.push(info.clone());
        fit.notify(self, |cb, ctx| cb.after_epoch(ctx, &info))
    }

    /// Forward, loss, `after_loss`, the update, `after_step`. Returns the step's record (`None`
    /// when a callback stopped training before the update) and whether to go on.
    fn batch(
        &mut self,
        fit: &mut Fit,
        step: usize,
        micro: Vec<Batch>,
    ) -> Result<(Option<StepInfo>, Flow)> {
        let plan = fit.plan;
        let point = plan.schedule.at(step)?;
        // Lookahead (a fit's, not a range test's) starts its average before the first step.
        let averaged = match plan.lookahead && self.core.lookahead.is_some() {
            true => Some(self.core.variables()),
            false => None,
        };
        if let (Some(vars), Some(lookahead)) = (&averaged, self.core.lookahead.as_mut()) {
            lookahead.start(vars);
        }
        let core = &mut self.core;
        let momentum = point.momentum.unwrap_or(core.update.config.momentum);
        let (loss_value, items, pending) = core.forward(micro)?;
        let mut info = StepInfo {
            epoch: step / plan.batches,
            epochs: plan.epochs,
            batch: step % plan.batches,
            batches: plan.batches,
            step,
            lr: point.lr,
            momentum,
            loss: loss_value,
            smooth_loss: core.state.smooth.push(loss_value),
            items,
            skipped: false,
        };
        let flow = fit.notify(self, |cb, ctx| cb.after_loss(ctx, &info))?;
        if flow != Flow::Continue {
            return Ok((None, flow));
        }
        info.skipped = self.core.backward_update(pending, point.lr, momentum)?;
        if let (Some(vars), Some(lookahead)) = (&averaged, self.core.lookahead.as_mut()) {
            lookahead.after_step(vars, step + 1, plan.epochs * plan.batches);
        }
        // Before `after_step`, so that a checkpoint written there carries it.
        let (sum, n) = &mut self.core.state.epoch_loss;
        *sum += info.loss * info.items as f64;
        *n += info.items;
        let flow = fit.notify(self, |cb, ctx| cb.after_step(ctx, &info))?;
        Ok((Some(info), flow))
    }
}

/// A fit in progress: its plan, its callbacks and what it has done so far.
struct Fit<'a, 'c> {
    plan: &'a Plan,
    callbacks: &'a mut [&'c mut dyn Callback],
    summary: &'a mut FitSummary,
}

impl Fit<'_, '_> {
    /// Calls `event` on every callback in order; the first stop wins, an error ends at once.
    fn notify<D: Data>(
        &mut self,
        learner: &mut Learner<D>,
        mut event: impl FnMut(&mut dyn Callback, &mut Ctx) -> Result<Flow>,
    ) -> Result<Flow> {
        let mut ctx = Ctx {
            core: &mut learner.core,
            data: &learner.data,
        };
        let mut flow = Flow::Continue;
        for cb in self.callbacks.iter_mut() {
            let next = event(&mut **cb, &mut ctx)?;
            if flow == Flow::Continue {
                flow = next;
            }
        }
        Ok(flow)
    }
}

fn go_on(_: ()) -> Flow {
    Flow::Continue
}
