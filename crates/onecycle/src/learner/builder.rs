//! Building a Learner: the model, its data and everything else with defaults (cross-entropy,
//! no metrics, one layer group, SGD with momentum 0.9, one process, fp32).

use anyhow::Result;
use tch::nn;

use super::guard::DivergenceGuard;
use super::model::Model;
use super::state::FitState;
use super::update::{TrainConfig, Update};
use super::{cross_entropy, Callback, Core, Learner, LossFn};
use crate::amp::Precision;
use crate::data::Data;
use crate::lookahead::Lookahead;
use crate::metrics::Metric;
use crate::strategy::{Single, Strategy};

/// A consuming builder: `Learner::builder(vs, net, data).loss(mse()).build()?`.
pub struct LearnerBuilder<D: Data> {
    vs: nn::VarStore,
    net: Box<dyn nn::ModuleT>,
    data: D,
    loss: LossFn,
    metrics: Vec<Box<dyn Metric>>,
    groups: usize,
    group_of: Box<dyn Fn(&str) -> usize>,
    config: TrainConfig,
    callbacks: Vec<Box<dyn Callback>>,
    strategy: Box<dyn Strategy>,
    precision: Precision,
}

impl<D: Data> LearnerBuilder<D> {
    pub(super) fn new(vs: nn::VarStore, net: Box<dyn nn::ModuleT>, data: D) -> Self {
        LearnerBuilder {
            vs,
            net,
            data,
            loss: cross_entropy(0.0),
            metrics: Vec::new(),
            groups: 1,
            group_of: Box::new(|_| 0),
            config: TrainConfig::default(),
            callbacks: Vec::new(),
            strategy: Box::new(Single),
            precision: Precision::Fp32,
        }
    }

    /// The loss (default: cross-entropy on class indices).
    pub fn loss(mut self, loss: LossFn) -> Self {
        self.loss = loss;
        self
    }

    /// Adds a validation metric.
    pub fn metric(mut self, metric: impl Metric + 'static) -> Self {
        self.metrics.push(Box::new(metric));
        self
    }

    /// `groups` layer groups (for discriminative LRs and freezing), input to output;
    /// `group_of` maps a variable name to its group.
    pub fn groups(mut self, groups: usize, group_of: impl Fn(&str) -> usize + 'static) -> Self {
        self.groups = groups;
        self.group_of = Box::new(group_of);
        self
    }

    /// Optimizer settings the schedule does not drive.
    pub fn config(mut self, config: TrainConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a callback, called after the divergence guard and earlier callbacks.
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Where and how many processes train (default: [`Single`]).
    pub fn strategy(mut self, strategy: impl Strategy + 'static) -> Self {
        self.strategy = Box::new(strategy);
        self
    }

    /// The forward pass's precision (default fp32; see [`Learner::set_precision`]).
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The Learner; fails when a variable's group is out of range or nothing is trainable.
    pub fn build(self) -> Result<Learner<D>> {
        let named = self.vs.variables().into_iter().collect();
        let update = Update::new(named, self.groups, &*self.group_of, self.config)?;
        let state = FitState::new(update.config.diverge_factor);
        let lookahead = update.config.lookahead.map(Lookahead::new);
        let mut callbacks: Vec<Box<dyn Callback>> = vec![Box::new(DivergenceGuard::default())];
        callbacks.extend(self.callbacks);
        let mut learner = Learner {
            core: Core {
                model: Model::new(self.vs, self.net),
                loss_fn: self.loss,
                metrics: self.metrics,
                update,
                strategy: self.strategy,
                state,
                lookahead,
            },
            data: self.data,
            callbacks,
        };
        learner.set_precision(self.precision)?;
        Ok(learner)
    }
}
