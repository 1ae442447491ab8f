//! `onecycle lr-find`: the LR range test on an image model and data set (the same options as
//! `fit`), at one weight decay or several; writes CSVs and plots and prints the suggestions.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use onecycle::lr_find::{LrFind, LrFindOptions};
use recipe::{range_tests, FitConfig};
use record::range_test::WdChoice;
use schedule::{Policy, SweepKind};

use crate::out::say;
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
    let Some(done) = range_tests(&config, &dir, group, &args.options(), &args.wd)? else {
        return Ok(());
    };
    for (found, csv) in &done.runs {
        print_run(found, csv);
    }
    if let Some((choice, chart)) = &done.wd_choice {
        print_wd_choice(choice, &done.runs);
        say!("plot: {}", chart.display());
    }
    say!("report: {}", done.report.display());
    if onecycle::interrupt::requested() {
        bail!("interrupted: the range tests above stop where they were");
    }
    Ok(())
}

/// Smith's weight-decay pick, with each run's smoothed loss at the comparison LR.
fn print_wd_choice(choice: &Result<WdChoice>, runs: &[(LrFind, PathBuf)]) {
    match choice {
        Ok(c) => {
            let losses: Vec<String> = runs
                .iter()
                .zip(&c.losses)
                .map(|((r, _), l)| format!("wd {:e}: {l:.4}", r.wd))
                .collect();
            say!(
                "weight decay: {:e} has the lowest smoothed loss at lr {:.3e} (the highest lr every curve reaches before its minimum): {}",
                c.wd,
                c.lr,
                losses.join(", ")
            );
        }
        Err(e) => say!("weight decay: no comparison ({e:#})"),
    }
}

/// The run's summary and one line per suggestion.
fn print_run(found: &LrFind, csv: &std::path::Path) {
    let stopped = found
        .stopped
        .as_ref()
        .map(|s| format!(", stopped: {s}"))
        .unwrap_or_default();
    say!(
        "wd {:e}: {} iterations in {:.1}s{stopped} → {}",
        found.wd,
        found.rows.len(),
        found.seconds,
        csv.display()
    );
    for (rule, s) in found.suggestions() {
        match s {
            Ok(s) => say!("  {:<9}{:.3e}", rule.name(), s.lr),
            Err(e) => say!("  {:<9}none: {e}", rule.name()),
        }
    }
}
