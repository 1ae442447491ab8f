//! What a resumed run must get back: weights, batch-norm statistics, optimizer and loss-scaler
//! state as named tensors, plus the loss smoother and the divergence rule's best loss; in memory
//! (a [`Snapshot`], for roll-backs and the range test) or in a checkpoint file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use schedule::{Divergence, SmoothLoss};
use tch::Tensor;

use super::Core;
use crate::checkpoint::{self, Checkpoint, Position};

/// The loss statistics a fit carries from step to step (and across a resume).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitState {
    pub smooth: SmoothLoss,
    /// Training's divergence guard (its best smoothed loss so far).
    pub guard: Divergence,
    /// The epoch in progress: the sum of loss × items and the items, for its mean training loss
    /// (kept across a mid-epoch resume).
    pub epoch_loss: (f64, usize),
}

impl FitState {
    pub fn new(diverge_factor: f64) -> FitState {
        FitState {
            smooth: SmoothLoss::default(),
            guard: Divergence::training().with_factor(diverge_factor),
            epoch_loss: (0.0, 0),
        }
    }
}

/// Named copies of the model's and optimizer's tensors.
pub struct Snapshot(Vec<(String, Tensor)>);

impl Core {
    /// Model weights, batch-norm statistics, optimizer state and (fp16) the loss scaler's state
    /// as named tensors.
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .variables()
            .into_iter()
            .map(|(k, v)| (format!("model.{k}"), v))
            .collect();
        if let Some(average) = self.lookahead.as_ref().and_then(|l| l.average.as_ref()) {
            let copies = average.iter();
            out.extend(copies.map(|(k, v)| (format!("lookahead.{k}"), v.shallow_clone())));
        }
        let opt = self.update.opt.state_tensors().into_iter();
        out.extend(opt.map(|(k, v)| (format!("opt.{k}"), v)));
        if let Some(scaler) = &self.update.scaler {
            let amp = scaler.state_tensors().into_iter();
            out.extend(amp.map(|(k, v)| (format!("amp.{k}"), v)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let _guard = tch::no_grad_guard();
        let copies = self.state_tensors().into_iter();
        Snapshot(copies.map(|(k, v)| (k, v.copy())).collect())
    }

    pub(crate) fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.restore_tensors(&snapshot.0)
    }

    /// Puts back weights, statistics and optimizer state from named tensors.
    fn restore_tensors(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let mut vars = self.model.vs.variables();
        let mut opt_state = BTreeMap::new();
        let mut amp_state = BTreeMap::new();
        let mut average = Vec::new();
        let mut seen = 0;
        for (name, value) in state {
            if let Some(var) = name.strip_prefix("model.") {
                let Some(target) = vars.get_mut(var) else {
                    bail!("the checkpoint has a variable {var:?} that the model does not");
                };
                if target.size() != value.size() {
                    bail!(
                        "variable {var:?}: checkpoint shape {:?}, model {:?}",
                        value.size(),
                        target.size()
                    );
                }
                target.copy_(value);
                seen += 1;
            } else if let Some(key) = name.strip_prefix("opt.") {
                opt_state.insert(key.to_string(), value.shallow_clone());
            } else if let Some(key) = name.strip_prefix("amp.") {
                amp_state.insert(key, value);
            } else if let Some(var) = name.strip_prefix("lookahead.") {
                let Some(target) = vars.get(var) else {
                    bail!(
                        "the checkpoint averages a variable {var:?} that the model does not have"
                    );
                };
                average.push((var.to_string(), value.to_device(target.device()).copy()));
            }
        }
        if seen != vars.len() {
            bail!(
                "the checkpoint holds {seen} of the model's {} variables",
                vars.len()
            );
        }
        // A checkpoint of another precision has no scaler state: the scaler keeps its own.
        if let (Some(scaler), Some(scale), Some(tracker)) = (
            self.update.scaler.as_mut(),
            amp_state.get("scale"),
            amp_state.get("growth_tracker"),
        ) {
            scaler.load_state_tensors(scale, tracker)?;
        }
        // Without a saved average (a fit not yet started), the next fit starts its own.
        if let Some(lookahead) = self.lookahead.as_mut() {
            average.sort_by(|a, b| a.0.cmp(&b.0));
            lookahead.average = (!average.is_empty()).then_some(average);
        }
        self.update.opt.load_state_tensors(&opt_state)
    }

    /// Writes weights, optimizer state, the schedule position and the loss statistics atomically.
    pub(crate) fn save_checkpoint(&self, path: &Path, at: Position) -> Result<()> {
        let meta = Checkpoint {
            position: at,
            smooth: self.state.smooth,
            best_smooth: self.state.guard.best(),
            first_smooth: self.state.guard.first(),
            epoch_loss: self.state.epoch_loss,
        };
        checkpoint::save(path, &self.state_tensors(), &meta)
    }

    /// Restores a checkpoint written by [`Core::save_checkpoint`]; returns where to resume. A
    /// checkpoint refused halfway (a variable of the wrong shape, bad optimizer state) leaves
    /// the model as it was.
    pub(crate) fn load_checkpoint(&mut self, path: &Path) -> Result<Position> {
        let (tensors, meta) = checkpoint::load(path)?;
        let before = self.snapshot();
        if let Err(e) = self.restore_tensors(&tensors) {
            self.restore(&before)?;
            return Err(e.context(format!("restoring {}", path.display())));
        }
        self.state.smooth = meta.smooth;
        self.state.epoch_loss = meta.epoch_loss;
        self.state.guard = self
            .state
            .guard
            .resumed(meta.best_smooth, meta.first_smooth);
        Ok(meta.position)
    }
}
