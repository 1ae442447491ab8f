//! `onecycle tune`: Smith's disciplined approach for fit's settings, within a budget of steps,
//! into a folder with `recommended.toml` and the evidence; `fit --tune` then trains with it.

use std::path::Path;
use std::rc::Rc;

use anyhow::{bail, Result};
use clap::Args;
use onecycle::dist::ProcessGroup;
use recipe::{FitConfig, TuneSettings};

use crate::fit::FitArgs;
use crate::out::say;

/// The tests `tune` (and `fit --tune`) runs and the budget they share.
#[derive(Debug, Clone, Args)]
pub struct TuneFlags {
    /// Tuning may take this fraction of the planned training's steps [default: 0.1]
    #[arg(long, value_name = "F")]
    pub budget: Option<f64>,
    /// Weight decays to compare with range tests [default: 1e-3,1e-4,1e-5,0]
    #[arg(long, value_name = "W1,W2,…", value_delimiter = ',')]
    pub wds: Vec<f64>,
    /// Constant momentums to compare with range tests [default: 0.99,0.97,0.95,0.9]
    #[arg(long, value_name = "M1,M2,…", value_delimiter = ',')]
    pub momentums: Vec<f64>,
    /// Start LR = peak / div in the recommended 1cycle [default: 25, fastai's; Smith used 3–10]
    #[arg(long = "tune-div", id = "tune_div", value_name = "DIV")]
    pub div: Option<f64>,
    /// Evaluate the next validation batch at every range-test step
    #[arg(long)]
    pub val_each_step: bool,
}

impl TuneFlags {
    /// The settings for fit's `args`: the batch is searched unless they give it.
    pub fn settings(&self, args: &FitArgs) -> TuneSettings {
        let mut s = TuneSettings {
            find_batch: args.train.batch.is_none()
                && args.config.is_none()
                && args.preset.is_none(),
            ..TuneSettings::default()
        };
        let rule = args.suggest;
        if let Some(b) = self.budget {
            s.budget = b;
        }
        if !self.wds.is_empty() {
            s.wds = self.wds.clone();
        }
        if !self.momentums.is_empty() {
            s.moms = self.momentums.clone();
        }
        if let Some(d) = self.div {
            s.div = d;
        }
        s.val_each_step = self.val_each_step;
        if let Some(r) = rule {
            s.rule = r;
        }
        s
    }
}

/// Tunes `config` into `dir` and, on the lead rank, prints each decision; returns the result.
pub fn tune_into(
    config: &FitConfig,
    dir: &Path,
    group: Option<Rc<ProcessGroup>>,
    settings: &TuneSettings,
    lead: bool,
) -> Result<FitConfig> {
    let tuned = recipe::tune(config, dir, group, settings)?;
    if lead {
        let r = &tuned.record;
        say!(
            "max_lr {:.3e} (start {:.3e}): {}",
            r.lr.max_lr,
            r.lr.max_lr / r.lr.div,
            r.lr.why
        );
        say!("batch {}: {}", r.batch.batch, r.batch.why);
        say!("wd {}: {}", r.wd.wd, r.wd.why);
        say!(
            "momentum {} → {}: {}",
            r.momentum.moms.0,
            r.momentum.moms.1,
            r.momentum.why
        );
        say!(
            "tuning took {} of the {} steps budgeted; recommended config in {}",
            r.used_steps,
            r.budget_steps,
            record::RunDir::new(dir).recommended().display()
        );
    }
    Ok(tuned.config)
}

/// `onecycle tune`: fit's flags describe the planned training; nothing is trained.
pub fn run(args: FitArgs) -> Result<()> {
    if args.resume.is_some() || args.tune {
        bail!("tune plans a new run: --resume and --tune belong to fit");
    }
    let config = args.to_config()?;
    let group = args.train.dist.join()?;
    let lead = group.as_ref().is_none_or(|g| g.rank() == 0);
    let dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| crate::fit::default_run_dir(&config, "tune"));
    let settings = args.tune_flags.settings(&args);
    tune_into(&config, &dir, group, &settings, lead)?;
    Ok(())
}
