//! `onecycle lr-find` as one call: range tests of a config's model and data at one weight decay
//! or several (from the same weights and data order), saved with their charts and a report, and
//! with several weight decays Smith's pick among them.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::Result;
use onecycle::dist::ProcessGroup;
use onecycle::lr_find::{LrFind, LrFindOptions};
use record::range_test::{choose_wd, WdChoice};
use record::run_dir::LR_FIND;
use record::{wd_stem, RunDir};
use report::lr_find::save_run;
use report::plot::{self, CompareChart};

use crate::config::FitConfig;
use crate::learner::learner;

/// What the lead rank saved.
pub struct RangeTests {
    /// Each test with the CSV it was saved to.
    pub runs: Vec<(LrFind, PathBuf)>,
    /// With several weight decays: the pick (or why there is none) and its chart.
    pub wd_choice: Option<(Result<WdChoice>, PathBuf)>,
    pub report: PathBuf,
}

/// Runs a test per weight decay in `wds` (none: the config's) into `dir`; the lead rank saves
/// them and gets [`RangeTests`], the other ranks `None`.
pub fn range_tests(
    config: &FitConfig,
    dir: &Path,
    group: Option<Rc<ProcessGroup>>,
    options: &LrFindOptions,
    wds: &[f64],
) -> Result<Option<RangeTests>> {
    let mut learner = learner(config, group.as_ref())?;
    let several = wds.len() > 1;
    let found = match several {
        true => learner.lr_find_wds(wds, options)?,
        false => vec![learner.lr_find(options)?],
    };
    if !learner.is_lead() {
        return Ok(None);
    }
    let run = RunDir::new(dir);
    let title = format!("{} range test", config.model);
    let mut runs = Vec::new();
    for test in found {
        let stem = if several {
            wd_stem(test.wd)
        } else {
            LR_FIND.to_string()
        };
        save_run(&test, dir, &stem, &title)?;
        runs.push((test, run.range_test(&stem, "csv")));
    }
    let wd_choice = several
        .then(|| save_wd_choice(config, &run, &runs))
        .transpose()?;
    let report = report::write_run_report(dir)?;
    Ok(Some(RangeTests {
        runs,
        wd_choice,
        report,
    }))
}

/// Smith's weight-decay pick among `runs` and the overlay chart of their curves.
fn save_wd_choice(
    config: &FitConfig,
    run: &RunDir,
    runs: &[(LrFind, PathBuf)],
) -> Result<(Result<WdChoice>, PathBuf)> {
    let tests: Vec<LrFind> = runs.iter().map(|(t, _)| t.clone()).collect();
    let choice = choose_wd(&tests);
    let title = format!("{}: range tests by weight decay", config.model);
    let chart = CompareChart::by_wd(&title, &tests, choice.as_ref().ok());
    let path = run.lr_find_wd_chart();
    plot::save(&chart, &path)?;
    Ok((choice, path))
}
