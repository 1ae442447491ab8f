//! The charts of a run folder, drawn from its CSV files into it (`onecycle plot`, and training's
//! `schedule.png` / `training.png`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use record::range_test::read_range_tests;
use record::{History, RunDir};

use crate::plot::{self, schedule_points, ScheduleChart, TrainingChart};

/// A chart that [`run_charts`] draws from a run folder's CSV files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunChart {
    /// `schedule.<ext>`: LR and momentum per step, from `steps.csv`.
    Schedule,
    /// `training.<ext>`: losses and metrics, from `steps.csv` and `epochs.csv`.
    Training,
    /// `<stem>.<ext>` for every range test (`lr_find.csv`, `lr_find_wd*.csv`).
    LrFind,
}

/// Draws the `which` charts of run folder `dir` (all it has data for when `which` is empty)
/// as `<name>.<ext>` files in it; returns their paths.
pub fn run_charts(dir: &Path, ext: &str, which: &[RunChart]) -> Result<Vec<PathBuf>> {
    let run = RunDir::new(dir);
    let has_steps = run.steps_csv().is_file();
    let tests = read_range_tests(dir)?;
    let wanted = |c: RunChart| which.is_empty() || which.contains(&c);
    let mut out = Vec::new();
    if wanted(RunChart::Schedule) || wanted(RunChart::Training) {
        if has_steps {
            out.extend(training_charts(&run, ext, which)?);
        } else if !which.is_empty() {
            bail!("{} has no steps.csv to draw from", dir.display());
        }
    }
    if wanted(RunChart::LrFind) {
        if tests.is_empty() && !which.is_empty() {
            bail!("{} has no range test (lr_find*.csv)", dir.display());
        }
        for (stem, found) in &tests {
            let path = run.range_test(stem, ext);
            crate::lr_find::save_chart(found, &format!("range test ({stem})"), &path)?;
            out.push(path);
        }
    }
    if out.is_empty() {
        bail!("{} holds neither steps.csv nor lr_find.csv", dir.display());
    }
    Ok(out)
}

/// `schedule.<ext>` and `training.<ext>`, as `which` asks.
fn training_charts(run: &RunDir, ext: &str, which: &[RunChart]) -> Result<Vec<PathBuf>> {
    let wanted = |c: RunChart| which.is_empty() || which.contains(&c);
    let history = History::read(run.path())?;
    let name = run
        .path()
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().into_owned());
    let mut out = Vec::new();
    if wanted(RunChart::Schedule) {
        let path = run.schedule_chart(ext);
        let chart = ScheduleChart {
            title: &format!("{name}: schedule as applied"),
            points: &schedule_points(&history),
        };
        plot::save(&chart, &path)?;
        out.push(path);
    }
    if wanted(RunChart::Training) {
        let path = run.training_chart(ext);
        let chart = TrainingChart {
            title: &format!("{name}: loss and metrics"),
            history: &history,
        };
        plot::save(&chart, &path)?;
        out.push(path);
    }
    Ok(out)
}
