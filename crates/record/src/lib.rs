//! record: the run folder of onecycle without tch. Every file name ([`RunDir`]), atomic writes,
//! and the typed contents: the training history, the fit summary, the range-test records, tune's
//! decisions and a trained model's evaluation.
pub mod atomic;
pub mod evaluation;
pub mod history;
pub mod range_test;
pub mod run_dir;
pub mod summary;
pub mod tune;

pub use atomic::{write_atomic, write_via_temp};
pub use history::{EpochRow, History, StepRow};
pub use range_test::{LrFind, LrFindOptions, LrFindRow};
pub use run_dir::{momentum_stem, wd_stem, RunDir};
pub use summary::Summary;
