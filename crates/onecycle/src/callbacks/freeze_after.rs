//! Trains the first layer groups for the first epochs only, then freezes them: airbench94 trains
//! its whitening layer's bias for 3 epochs. Applied at every epoch start, so a resumed run
//! freezes the same groups.

use anyhow::Result;

use crate::learner::{Callback, Ctx};

pub struct FreezeAfter {
    /// Groups `0..groups` are frozen…
    pub groups: usize,
    /// …from this epoch on.
    pub epochs: usize,
}

impl Callback for FreezeAfter {
    fn before_epoch(&mut self, ctx: &mut Ctx, epoch: usize) -> Result<()> {
        ctx.freeze_to(if epoch >= self.epochs { self.groups } else { 0 });
        Ok(())
    }
}
