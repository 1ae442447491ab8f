//! report: the charts (plotters) and self-contained HTML reports of onecycle's run folders, drawn
//! from record's typed files only, so they build and run without libtorch. Every file is written
//! atomically through record.
pub mod compare;
pub mod evaluation_page;
pub mod html;
pub mod lr_find;
pub mod plot;
pub mod run_charts;
pub mod run_report;
mod tune_report;

pub use compare::{
    compare_table, write_compare_report, CompareOptions, CompareRow, CompareTable, TargetReached,
};
pub use evaluation_page::write_evaluation_page;
pub use run_charts::{run_charts, RunChart};
pub use run_report::write_run_report;
