//! A character-level LSTM language model on six of Shakespeare's sonnets: `tune` (range tests by
//! weight decay and by Adam's β₁, with per-step validation), then 1cycle with what it chose.
//! `scripts/cargo run -p onecycle --example char_lm [OUT_DIR]` writes each test's CSV and chart.

#[path = "common/tasks.rs"]
mod tasks;

use anyhow::Result;
use onecycle::learner::TrainConfig;
use onecycle::lr_find::LrFindOptions;
use onecycle::optim::OptKind;
use onecycle::tune::TuneOptions;
use schedule::{MomsSetting, OneCycleParams};

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/char_lm".into());
    let out = std::path::Path::new(&out);
    let config = TrainConfig {
        opt: OptKind::adam(),
        wd: 1e-4,
        ..TrainConfig::default()
    };
    let mut learner = tasks::char_learner(0, config);
    let options = TuneOptions {
        sweep: LrFindOptions {
            start_lr: 1e-5,
            end_lr: 1.0,
            val_each_step: true,
            ..LrFindOptions::default()
        },
        ..TuneOptions::default()
    };
    let tuning = tasks::tune_and_save(&mut learner, &options, out, "character LSTM")?;
    learner.set_wd(tuning.wd.wd);
    let (hi, lo) = tuning.momentum.moms;
    let fit = learner.fit_one_cycle(
        8,
        OneCycleParams {
            max_lr: tuning.lr.max_lr,
            div: Some(tuning.lr.div),
            moms: MomsSetting::Values(vec![hi, lo, hi]),
            ..Default::default()
        },
    )?;
    for e in &fit.epochs {
        println!(
            "epoch {}: train {:.3}  valid {:.3}  accuracy {:.3}",
            e.epoch, e.train_loss, e.valid_loss, e.metrics[0].1
        );
    }
    Ok(())
}
