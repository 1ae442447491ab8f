//! recipe: Smith's disciplined approach as runs of an image classifier. A typed [`FitConfig`]
//! (the run folder's `config.toml`, also the presets' format), the [`Session`] that opens a run
//! folder and does `find_lr → fit` or `resume` in one or many processes, `lr-find`'s
//! [`range_tests`], `tune`, the evaluation of a trained run, and experiments that compare several
//! fits in one report. The `onecycle`
//! command is a thin shell over these calls.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use recipe::{FitConfig, Session};
//! use schedule::{OneCycleParams, Policy, Rule};
//!
//! let config = FitConfig::new(Policy::OneCycle(OneCycleParams::default()));
//! let mut session = Session::open(config, "runs/demo".as_ref(), None, false)?;
//! println!("{}", session.find_lr(Rule::Valley)?);
//! let summary = session.fit()?.expect("one process is the lead");
//! println!("accuracy {:.4}", summary.accuracy);
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod evaluate;
pub mod experiment;
pub mod export;
pub mod learner;
pub mod predict;
pub mod presets;
pub mod range_tests;
pub mod session;
pub mod tune;

pub use config::{
    overlay, parse_config, read_config, FitConfig, Opt, TtaViews, DEFAULT_MAX_LR, RESUMABLE,
};
pub use evaluate::{evaluate, trained_learner};
pub use export::export_pytorch;
pub use learner::{learner, model_learner, rank_config, tta_accuracy, tta_blend, tta_predictions};
pub use predict::{predict, predictions_csv, ImagePrediction};
pub use range_tests::{range_tests, RangeTests};
pub use session::{fit, resume, Session};
pub use tune::{tune, TuneSettings, Tuned};
