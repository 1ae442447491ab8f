//! Tabular regression (MSE on generated data): a range test, then 1cycle at its `valley` LR.
//! `scripts/cargo run -p onecycle --example tabular [OUT_DIR]` writes lr_find.csv and a plot.

#[path = "common/tasks.rs"]
mod tasks;

use anyhow::Result;
use onecycle::learner::TrainConfig;
use onecycle::lr_find::LrFindOptions;
use schedule::OneCycleParams;

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/tabular".into());
    let out = std::path::Path::new(&out);
    let mut learner = tasks::tabular_learner(0, TrainConfig::default());
    let options = LrFindOptions {
        val_each_step: true,
        ..LrFindOptions::default()
    };
    let lr = tasks::range_test_valley(&mut learner, &options, out, "tabular regression")?;
    let (before, _) = learner.validate()?;
    let fit = learner.fit_one_cycle(
        5,
        OneCycleParams {
            max_lr: lr,
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
        "valid MSE {before:.4} → {:.4} with max_lr {lr:.3e}",
        fit.epochs.last().unwrap().valid_loss
    );
    Ok(())
}
