//! Tabular regression (MSE on generated data): `tune` (range tests by weight decay and by
//! momentum), then 1cycle with what it chose.
//! `scripts/cargo run -p onecycle --example tabular [OUT_DIR]` writes each test's CSV and chart.

#[path = "common/tasks.rs"]
mod tasks;

use anyhow::Result;
use onecycle::learner::TrainConfig;
use onecycle::lr_find::LrFindOptions;
use onecycle::tune::TuneOptions;
use schedule::{MomsSetting, OneCycleParams};

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/tabular".into());
    let out = std::path::Path::new(&out);
    let mut learner = tasks::tabular_learner(0, TrainConfig::default());
    let options = TuneOptions {
        sweep: LrFindOptions {
            val_each_step: true,
            ..LrFindOptions::default()
        },
        ..TuneOptions::default()
    };
    let tuning = tasks::tune_and_save(&mut learner, &options, out, "tabular regression")?;
    let (before, _) = learner.validate()?;
    learner.set_wd(tuning.wd.wd);
    let (hi, lo) = tuning.momentum.moms;
    let fit = learner.fit_one_cycle(
        5,
        OneCycleParams {
            max_lr: tuning.lr.max_lr,
            div: Some(tuning.lr.div),
            moms: MomsSetting::Values(vec![hi, lo, hi]),
            ..Default::default()
        },
    )?;
    for e in &fit.epochs {
        println!(
            "epoch {}: train {:.4}  valid {:.4}",
            e.epoch, e.train_loss, e.valid_loss
        );
    }
    println!(
        "valid MSE {before:.4} → {:.4}",
        fit.epochs.last().unwrap().valid_loss
    );
    Ok(())
}
