//! Where and how many: the processes a Learner trains in. The loop never asks "am I
//! distributed?"; it asks its strategy to reduce the loss, synchronise the gradients, share out
//! validation and say whether this process is the one that writes and prints (Lightning's
//! `Strategy`). [`Single`] is one process; `dist::Ddp` is c10d data parallelism.

use anyhow::Result;
use tch::Tensor;

use crate::data::Shard;

pub trait Strategy {
    /// The step's loss and batch size as all processes together have them (the global batch's
    /// mean loss and size), given this process's.
    fn reduce_loss(&mut self, loss: f64, items: usize) -> Result<(f64, usize)>;
    /// As [`Strategy::reduce_loss`], for a step whose backward passes have already run
    /// (gradient accumulation): its gradients reach [`Strategy::sync_grads`] summed.
    fn reduce_accumulated_loss(&mut self, loss: f64, items: usize) -> Result<(f64, usize)> {
        self.reduce_loss(loss, items)
    }
    /// After backward, before the update: makes `grads` (of the trained `params`, undefined
    /// where autograd gave none) the gradients of the global batch, in place.
    fn sync_grads(&mut self, params: &[Tensor], grads: &mut [Tensor]) -> Result<()>;
    /// This process's rows of every validation batch; `None`: all of them.
    fn valid_shard(&self) -> Option<Shard>;
    /// Turns this process's validation sums into their totals over processes, in place.
    fn reduce_sums(&mut self, sums: &mut [f64]) -> Result<()>;
    /// Whether this process writes the run folder and prints (rank 0).
    fn is_lead(&self) -> bool;
}

/// One process: every reduction is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Single;

impl Strategy for Single {
    fn reduce_loss(&mut self, loss: f64, items: usize) -> Result<(f64, usize)> {
        Ok((loss, items))
    }

    fn sync_grads(&mut self, _params: &[Tensor], _grads: &mut [Tensor]) -> Result<()> {
        Ok(())
    }

    fn valid_shard(&self) -> Option<Shard> {
        None
    }

    fn reduce_sums(&mut self, _sums: &mut [f64]) -> Result<()> {
        Ok(())
    }

    fn is_lead(&self) -> bool {
        true
    }
}
