//! onecycle: Leslie Smith's disciplined approach to training on libtorch: the LR range test, the
//! 1cycle policy with cyclical momentum, and the plots that make those decisions visible.
pub mod amp;
pub mod bench;
pub mod callbacks;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod dist;
pub mod engine;
pub mod history;
pub mod learner;
pub mod lr_find;
pub mod metrics;
pub mod ops;
pub mod optim;
pub mod progress;
pub mod strategy;

pub use record;
pub use schedule;
