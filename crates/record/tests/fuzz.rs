//! Fuzzing the readers of run-folder files: `steps.csv`/`epochs.csv`, range-test CSVs and their
//! JSON, bare `lr,loss` CSVs and `summary.json`, each from a valid file with random bytes
//! replaced, inserted or cut. Every input must give a value or an error, never a panic; what
//! is read must also survive its derived values (epoch ends, suggestions). A short run here;
//! `ONECYCLE_FUZZ_CASES=100000 cargo test -p record --test fuzz` runs a long one.

#[path = "../../../tests/fuzz_support.rs"]
mod fuzz;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use record::history::{EpochRow, History, StepRow};
use record::range_test::read_lr_loss;
use record::{LrFind, LrFindOptions, LrFindRow, Summary};

/// A folder for this test case (cases run one after the other in a test).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("record-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample_history() -> History {
    History {
        steps: (0..6)
            .map(|i| StepRow {
                epoch: i / 3,
                step: i,
                lr: 0.1 * (i + 1) as f64,
                momentum: 0.9,
                loss: 2.0 / (1.0 + i as f64),
                smooth_loss: 1.5 / (1.0 + i as f64),
                skipped: Some(i == 4),
            })
            .collect(),
        metric_names: vec!["accuracy".into()],
        epochs: (0..2)
            .map(|e| EpochRow {
                epoch: e,
                train_loss: 1.0,
                valid_loss: 0.9,
                metrics: vec![0.5],
                seconds: 1.25,
            })
            .collect(),
    }
}

fn sample_range_test() -> LrFind {
    let rows = (0..40)
        .map(|i| {
            let loss = 2.0 - (i as f64 / 20.0 - 1.0).powi(2);
            LrFindRow {
                lr: 1e-5 * 1.3f64.powi(i),
                loss,
                smooth_loss: loss,
                val_loss: Some(loss),
                val_smooth_loss: Some(loss),
                metrics: vec![0.5],
            }
        })
        .collect();
    LrFind {
        rows,
        metric_names: vec!["accuracy".into()],
        options: LrFindOptions {
            num_it: 40,
            ..LrFindOptions::default()
        },
        wd: 1e-4,
        stopped: None,
        seconds: 1.0,
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

proptest! {
    #![proptest_config(fuzz::config(64))]

    #[test]
    fn history_files_never_panic(steps in fuzz::edits(8), epochs in fuzz::edits(8)) {
        let d = dir("history");
        sample_history().write(&d).unwrap();
        for (name, e) in [("steps.csv", &steps), ("epochs.csv", &epochs)] {
            let bytes = std::fs::read(d.join(name)).unwrap();
            write(&d.join(name), &fuzz::mutate(bytes, e, None));
        }
        if let Ok(h) = History::read(&d) {
            h.epoch_end_steps();
            h.epoch_end_seconds();
            h.steps_per_epoch();
            h.metric("accuracy");
        }
        let _ = record::history::cut_to_checkpoint(&d, 3, 1);
    }

    #[test]
    fn range_test_files_never_panic(csv in fuzz::edits(8), json in fuzz::edits(8)) {
        let d = dir("range-test");
        let path = d.join("lr_find.csv");
        sample_range_test().write_csv(&path).unwrap();
        write(&path, &fuzz::mutate(std::fs::read(&path).unwrap(), &csv, None));
        let meta = path.with_extension("json");
        write(&meta, &fuzz::mutate(std::fs::read(&meta).unwrap(), &json, None));
        if let Ok(found) = LrFind::read_csv(&path) {
            found.suggestions();
            let _ = record::range_test::choose_wd(&[found.clone(), found]);
        }
        if let Ok((lrs, losses)) = read_lr_loss(&path) {
            if let Ok(curve) = schedule::Curve::new(&lrs, &losses, 0, 0) {
                curve.suggest_all();
            }
        }
    }

    #[test]
    fn summaries_never_panic(json in fuzz::edits(8)) {
        let d = dir("summary");
        let path = d.join("summary.json");
        Summary::default().write(&path).unwrap();
        write(&path, &fuzz::mutate(std::fs::read(&path).unwrap(), &json, None));
        let _ = Summary::read(&path);
    }
}
