//! `onecycle lr-find`: the LR range test on an image model and data set (the same options as
//! `fit`), at one weight decay or several; writes CSVs and plots and prints the suggestions.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use onecycle::lr_find::{LrFind, LrFindOptions};
use record::range_test::choose_wd;
use record::run_dir::LR_FIND;
use record::{wd_stem, RunDir};
use report::lr_find::save_run;
use report::plot::{self, WdChart};
use schedule::{Policy, SweepKind};
use vision::train::{self, FitConfig};

use crate::train_args::{set, TrainArgs};

/// Run the LR range test (optionally at several weight decays) and print the suggestions.
#[derive(Debug, Args)]
pub struct LrFindArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// First learning rate
    #[arg(long, default_value_t = 1e-7)]
    pub start_lr: f64,
    /// Learning rate the sweep ends at
    #[arg(long, default_value_t = 10.0)]
    pub end_lr: f64,
    /// Iterations (the training data is cycled as needed)
    #[arg(long, default_value_t = 100)]
    pub num_it: usize,
    /// Linear instead of exponential spacing
    #[arg(long)]
    pub linear: bool,
    /// Run every iteration even when the loss diverges
    #[arg(long)]
    pub no_stop_div: bool,
    /// Evaluate the next validation batch and the metrics after every step (the seed's lr_find2)
    #[arg(long)]
    pub val_each_step: bool,
    /// Weight decay; several (comma-separated) run one test each and compare them [default: 5e-4]
    #[arg(long, value_delimiter = ',', value_name = "W[,W2,…]")]
    pub wd: Vec<f64>,
    /// Momentum (β1 for Adam) [default: 0.9]
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Folder for lr_find.csv and the plots [default: runs/lr-find-<model>]
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
}

impl LrFindArgs {
    fn config(&self) -> Result<FitConfig> {
        let mut c = FitConfig::new(Policy::Constant(schedule::ConstantParams {
            lr: self.end_lr,
            momentum: None,
        }));
        self.train.apply(&mut c);
        set(&mut c.momentum, self.momentum);
        if let [wd] = self.wd[..] {
            c.wd = wd;
        }
        c.validate()?;
        Ok(c)
    }

    fn options(&self) -> LrFindOptions {
        LrFindOptions {
            start_lr: self.start_lr,
            end_lr: self.end_lr,
            num_it: self.num_it,
            kind: if self.linear {
                SweepKind::Linear
            } else {
                SweepKind::Exponential
            },
            stop_div: !self.no_stop_div,
            wd: None,
            momentum: None,
            val_each_step: self.val_each_step,
        }
    }
}

pub fn run(args: LrFindArgs) -> Result<()> {
    if args.wd.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        bail!("--wd values must be finite numbers ≥ 0, got {:?}", args.wd);
    }
    let config = args.config()?;
    let dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/lr-find-{}", config.model)));
    // Data parallelism: every rank runs the test (the stop decision is shared); rank 0 reports.
    let group = args.train.dist.join()?;
    let mut learner = match &group {
        Some(g) => {
            let mut learner = train::learner(&train::rank_config(&config, g)?)?;
            train::data_parallel(&mut learner, &config, g.clone())?;
            learner
        }
        None => train::learner(&config)?,
    };
    let lead = group.as_ref().is_none_or(|g| g.rank() == 0);
    let options = args.options();
    if args.wd.len() <= 1 {
        let found = learner.lr_find(&options)?;
        if !lead {
            return Ok(());
        }
        let title = format!("{} range test", config.model);
        save_run(&found, &dir, LR_FIND, &title)?;
        print_run(&found, &RunDir::new(&dir).lr_find_csv());
        print_report(&dir)?;
        return Ok(());
    }
    let runs = learner.lr_find_wds(&args.wd, &options)?;
    if !lead {
        return Ok(());
    }
    for run in &runs {
        let stem = wd_stem(run.wd);
        let title = format!("{} range test", config.model);
        save_run(run, &dir, &stem, &title)?;
        print_run(run, &RunDir::new(&dir).range_test(&stem, "csv"));
    }
    let choice = choose_wd(&runs);
    let wd_chart = RunDir::new(&dir).lr_find_wd_chart();
    let chart = WdChart {
        title: &format!("{}: range tests by weight decay", config.model),
        runs: &runs,
        choice: choice.as_ref().ok(),
    };
    plot::save(&chart, &wd_chart)?;
    match choice {
        Ok(c) => {
            let losses: Vec<String> = runs
                .iter()
                .zip(&c.losses)
                .map(|(r, l)| format!("wd {:e}: {l:.4}", r.wd))
                .collect();
            println!(
                "weight decay: {:e} has the lowest smoothed loss at lr {:.3e} (the highest lr every curve reaches before its minimum): {}",
                c.wd,
                c.lr,
                losses.join(", ")
            );
        }
        Err(e) => println!("weight decay: no comparison ({e:#})"),
    }
    println!("plot: {}", wd_chart.display());
    print_report(&dir)
}

/// Writes the folder's report.html and says where.
fn print_report(dir: &std::path::Path) -> Result<()> {
    let report = report::write_run_report(dir)?;
    println!("report: {}", report.display());
    Ok(())
}

/// The run's summary and one line per suggestion.
fn print_run(found: &LrFind, csv: &std::path::Path) {
    let stopped = found
        .stopped
        .as_ref()
        .map(|s| format!(", stopped: {s}"))
        .unwrap_or_default();
    println!(
        "wd {:e}: {} iterations in {:.1}s{stopped} → {}",
        found.wd,
        found.rows.len(),
        found.seconds,
        csv.display()
    );
    for (rule, s) in found.suggestions() {
        match s {
            Ok(s) => println!("  {:<9}{:.3e}", rule.name(), s.lr),
            Err(e) => println!("  {:<9}none: {e}", rule.name()),
        }
    }
}
