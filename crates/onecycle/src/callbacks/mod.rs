//! Callbacks: code that watches training at fixed events and may act on it. The trait and the
//! event records are the learner's ([`crate::learner::Callback`]); here are the ones a run folder
//! uses: the checkpointer, the graceful stop on Ctrl-C, freezing the first groups after some epochs, the recorder ([`crate::history::RunLog`]) and progress
//! ([`crate::progress::Progress`]). The divergence guard is built into every Learner
//! ([`crate::learner::DivergenceGuard`]).

mod checkpointer;
mod freeze_after;
mod graceful_stop;

pub use crate::learner::{Callback, Ctx, EpochInfo, Flow, StepInfo};
pub use checkpointer::Checkpointer;
pub use freeze_after::FreezeAfter;
pub use graceful_stop::GracefulStop;
