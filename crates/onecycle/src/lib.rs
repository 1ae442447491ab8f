//! onecycle: Leslie Smith's disciplined approach to training on libtorch. A small [`Learner`]
//! built with defaults you override, trained by a loop of short steps (fit → epoch → batch →
//! validate) whose optional parts are callbacks: the run log, progress, checkpoints, the
//! divergence guard and the LR range test. Schedules come from the `schedule` crate and are
//! applied by optimizers written on tch tensors (PyTorch's update rules, exactly resumable); where
//! and how many processes train is a [`strategy`] value (one process, or c10d data parallelism).
//!
//! ```
//! use onecycle::data::TensorData;
//! use onecycle::learner::{mse, Learner};
//! use onecycle::lr_find::LrFindOptions;
//! use schedule::{OneCycleParams, Rule};
//! use tch::{nn, Device, Kind, Tensor};
//!
//! # fn main() -> anyhow::Result<()> {
//! tch::manual_seed(0);
//! // y = 3x + 1 with noise, 256 rows for training and 64 for validation.
//! let rows = |n| {
//!     let x = Tensor::randn([n, 1], (Kind::Float, Device::Cpu));
//!     let y = &x * 3.0 + 1.0 + Tensor::randn([n, 1], (Kind::Float, Device::Cpu)) * 0.1;
//!     (x, y)
//! };
//! let data = TensorData { train: rows(256), valid: Some(rows(64)), batch_size: 8, shuffle: true, seed: 0 };
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = nn::linear(vs.root() / "fc", 1, 1, Default::default());
//! let mut learn = Learner::builder(vs, net, data).loss(mse()).build()?;
//! let (before, _) = learn.validate()?;
//!
//! let found = learn.lr_find(&LrFindOptions { num_it: 50, ..Default::default() })?;
//! let max_lr = found.suggest(Rule::Valley).map_or(0.1, |s| s.lr);
//! let summary = learn.fit_one_cycle(8, OneCycleParams { max_lr, ..Default::default() })?;
//! let after = summary.epochs.last().unwrap().valid_loss;
//! assert!(after < before / 10.0, "validation loss {before} → {after} at {max_lr}");
//! # Ok(())
//! # }
//! ```
//!
//! [`Learner`]: learner::Learner

pub mod amp;
pub mod bench;
pub mod callbacks;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod dist;
pub mod engine;
pub mod evaluate;
pub mod history;
pub mod interrupt;
pub mod learner;
pub mod lookahead;
pub mod lr_find;
pub mod memory;
pub mod metrics;
pub mod ops;
pub mod optim;
pub mod progress;
pub mod rng;
pub mod strategy;
pub mod tune;

pub use record;
pub use schedule;
