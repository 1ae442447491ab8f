//! A range test saved to a folder: its CSV and JSON (through record) and its chart.

use std::path::Path;

use anyhow::Result;
use record::{LrFind, RunDir};
use schedule::Suggestion;

use crate::plot::{self, LrFindChart};

/// Writes `<stem>.csv`, `<stem>.json` and `<stem>.png` (the curve with every available
/// suggestion) to `dir`.
pub fn save_run(found: &LrFind, dir: &Path, stem: &str, title: &str) -> Result<()> {
    let run = RunDir::new(dir);
    found.write_csv(&run.range_test(stem, "csv"))?;
    save_chart(found, title, &run.range_test(stem, "png"))
}

/// Draws the range-test curve with every available suggestion to `path` (PNG or SVG).
pub fn save_chart(found: &LrFind, title: &str, path: &Path) -> Result<()> {
    let suggestions: Vec<Suggestion> = found
        .suggestions()
        .into_iter()
        .filter_map(|(_, s)| s.ok())
        .collect();
    let chart = LrFindChart {
        title,
        result: found,
        suggestions: &suggestions,
    };
    plot::save(&chart, path)
}
