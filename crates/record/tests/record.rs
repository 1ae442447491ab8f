//! The run folder without tch: file names, atomic writes, and the typed history, summary and
//! range-test records written and read back exactly.

use std::path::{Path, PathBuf};

use record::history::{self, EpochRow, History, StepRow};
use record::range_test::{choose_wd, read_range_tests};
use record::{
    wd_stem, write_atomic, write_via_temp, LrFind, LrFindOptions, LrFindRow, RunDir, Summary,
};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_run_folder_names_every_file_as_the_project_always_has() {
    let run = RunDir::new("runs/a");
    assert_eq!(run.config(), Path::new("runs/a/config.toml"));
    assert_eq!(run.steps_csv(), Path::new("runs/a/steps.csv"));
    assert_eq!(run.epochs_csv(), Path::new("runs/a/epochs.csv"));
    assert_eq!(run.summary(), Path::new("runs/a/summary.json"));
    assert_eq!(run.report(), Path::new("runs/a/report.html"));
    assert_eq!(run.schedule_chart("png"), Path::new("runs/a/schedule.png"));
    assert_eq!(run.training_chart("svg"), Path::new("runs/a/training.svg"));
    assert_eq!(run.lr_find_csv(), Path::new("runs/a/lr_find.csv"));
    assert_eq!(run.lr_find_wd_chart(), Path::new("runs/a/lr_find_wd.png"));
    assert_eq!(
        run.checkpoint(),
        Path::new("runs/a/checkpoints/last.safetensors")
    );
    assert_eq!(wd_stem(1e-3), "lr_find_wd1e-3");
}

#[test]
fn atomic_writes_replace_whole_files_and_leave_nothing_behind() {
    let dir = temp_dir("atomic");
    let path = dir.join("a.txt");
    write_atomic(&path, b"one").unwrap();
    write_atomic(&path, b"two").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"two");
    // A writer that fails halfway: the old file stays, no temporary file is left.
    let err = write_via_temp(&path, |tmp| {
        assert_eq!(tmp.extension().unwrap(), "txt", "the extension is kept");
        std::fs::write(tmp, b"par")?;
        anyhow::bail!("the library failed")
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("the library failed"));
    assert_eq!(std::fs::read(&path).unwrap(), b"two");
    assert_eq!(files(&dir), ["a.txt"]);
    // Into a missing folder: an error naming the file, nothing created.
    let missing = dir.join("missing/b.txt");
    let err = write_atomic(&missing, b"x").unwrap_err().to_string();
    assert!(err.contains("b.txt"), "{err}");
    assert!(!dir.join("missing").exists());
}

fn sample_history(skipped: bool) -> History {
    let steps = (0..5)
        .map(|i| StepRow {
            epoch: usize::from(i >= 3),
            step: i,
            lr: 0.1 / (1.0 + i as f64 / 3.0),
            momentum: 0.95 - 0.01 * i as f64,
            loss: 2.0 / (1.0 + i as f64),
            smooth_loss: 1.0 / 3.0 + i as f64,
            skipped: skipped.then_some(i == 2),
        })
        .collect();
    let epochs = vec![
        EpochRow {
            epoch: 0,
            train_loss: 0.7,
            valid_loss: 0.1 + 0.2,
            metrics: vec![0.5, 0.25],
            seconds: 1.5,
        },
        EpochRow {
            epoch: 1,
            train_loss: 0.6,
            valid_loss: f64::NAN,
            metrics: vec![0.75, 1.0 / 3.0],
            seconds: 2.25,
        },
    ];
    History {
        steps,
        metric_names: vec!["accuracy".into(), "error_rate".into()],
        epochs,
    }
}

/// NaN-aware equality of two histories, through their text.
fn same(a: &History, b: &History) {
    assert_eq!(a.to_csv(), b.to_csv());
    assert_eq!(a.steps, b.steps);
    assert_eq!(a.metric_names, b.metric_names);
}

#[test]
fn a_history_reads_back_as_written_with_and_without_the_skipped_column() {
    for skipped in [false, true] {
        let dir = temp_dir(&format!("history-{skipped}"));
        let h = sample_history(skipped);
        h.write(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join("steps.csv")).unwrap();
        let header = text.lines().next().unwrap();
        assert_eq!(header.ends_with(",skipped"), skipped);
        // Shortest round-trip floats, seconds to the millisecond.
        assert!(
            text.contains("0,0,0.1,0.95,2.0,0.3333333333333333"),
            "{text}"
        );
        let epochs = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
        assert_eq!(
            epochs,
            "epoch,train_loss,valid_loss,accuracy,error_rate,seconds\n\
             0,0.7,0.30000000000000004,0.5,0.25,1.500\n\
             1,0.6,NaN,0.75,0.3333333333333333,2.250\n"
        );
        let back = History::read(&dir).unwrap();
        same(&back, &h);
        assert_eq!(back.epoch_end_steps(), vec![3, 5]);
        assert_eq!(back.epoch_end_seconds(), vec![1.5, 3.75]);
        assert_eq!(back.steps_per_epoch(), 3);
        assert_eq!(back.metric("error_rate").unwrap()[0], 0.25);
        assert_eq!(back.metric("train_loss").unwrap(), vec![0.7, 0.6]);
        assert!(back.metric("top5").is_none());
    }
}

#[test]
fn resuming_cuts_the_history_back_to_the_checkpoint() {
    let dir = temp_dir("cut");
    sample_history(true).write(&dir).unwrap();
    let skipped = history::cut_to_checkpoint(&dir, 3, 1).unwrap();
    assert!(skipped);
    let back = History::read(&dir).unwrap();
    assert_eq!(back.steps.len(), 3);
    assert_eq!(back.epochs.len(), 1);
    assert_eq!(back.steps[2].skipped, Some(true));
}

#[test]
fn a_history_that_lost_rows_before_the_checkpoint_is_refused_unchanged() {
    // steps.csv lost step 1 (a row in the middle) or its last rows; epochs.csv lost epoch 0.
    type Keep = fn(&str) -> bool;
    let cases: [(&str, Keep, &str); 3] = [
        (
            "steps.csv",
            |l| !l.starts_with("0,1,"),
            "does not hold step 1",
        ),
        (
            "steps.csv",
            |l| !l.starts_with("1,"),
            "holds 3 of the 4 step rows",
        ),
        (
            "epochs.csv",
            |l| !l.starts_with("0,"),
            "holds 0 of the 1 epoch rows",
        ),
    ];
    for (k, (file, keep, why)) in cases.into_iter().enumerate() {
        let dir = temp_dir(&format!("lost-{k}"));
        sample_history(false).write(&dir).unwrap();
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let damaged: String = text
            .lines()
            .filter(|l| keep(l))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, &damaged).unwrap();
        let before = (
            files(&dir),
            std::fs::read_to_string(dir.join("steps.csv")).unwrap(),
        );
        let err = history::cut_to_checkpoint(&dir, 4, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains(file) && err.contains(why), "{err}");
        let after = (
            files(&dir),
            std::fs::read_to_string(dir.join("steps.csv")).unwrap(),
        );
        assert_eq!(before, after, "nothing changes");
    }
}

#[test]
fn a_summary_round_trips_and_old_or_partial_files_still_read() {
    let dir = temp_dir("summary");
    let run = RunDir::new(&dir);
    assert_eq!(Summary::read(&run.summary()).unwrap(), None);
    let s = Summary {
        run_dir: dir.clone(),
        epochs: 3,
        steps: 24,
        seconds: 1.25,
        images_per_sec: 1234.5,
        valid_loss: 0.5,
        accuracy: 0.875,
        tta_accuracy: Some(0.9),
        stopped: Some("the loss is NaN".into()),
    };
    s.write(&run.summary()).unwrap();
    let text = std::fs::read_to_string(run.summary()).unwrap();
    for key in [
        "run_dir",
        "epochs",
        "steps",
        "seconds",
        "images_per_sec",
        "valid_loss",
        "accuracy",
        "tta_accuracy",
        "stopped",
    ] {
        assert!(text.contains(&format!("\"{key}\"")), "{key}");
    }
    assert_eq!(Summary::read(&run.summary()).unwrap(), Some(s));
    // NaN is written as null and read back as NaN; missing keys take defaults.
    let nan = Summary {
        accuracy: f64::NAN,
        ..Summary::default()
    };
    nan.write(&run.summary()).unwrap();
    assert!(Summary::read(&run.summary())
        .unwrap()
        .unwrap()
        .accuracy
        .is_nan());
    std::fs::write(
        run.summary(),
        r#"{"images_per_sec": 1234.56, "tta_accuracy": 0.9375, "stopped": null}"#,
    )
    .unwrap();
    let partial = Summary::read(&run.summary()).unwrap().unwrap();
    assert_eq!(partial.throughput(), Some(1234.56));
    assert_eq!(partial.tta_accuracy, Some(0.9375));
    std::fs::write(run.summary(), "{").unwrap();
    assert!(Summary::read(&run.summary()).is_err());
}

fn range_test(wd: f64, smooth: &[f64]) -> LrFind {
    let n = smooth.len();
    LrFind {
        rows: smooth
            .iter()
            .enumerate()
            .map(|(i, &s)| LrFindRow {
                lr: 1e-4 * 10f64.powf(5.0 * i as f64 / n as f64),
                loss: s + 0.01,
                smooth_loss: s,
                val_loss: None,
                val_smooth_loss: None,
                metrics: Vec::new(),
            })
            .collect(),
        metric_names: Vec::new(),
        options: LrFindOptions {
            start_lr: 1e-4,
            end_lr: 10.0,
            num_it: n,
            ..LrFindOptions::default()
        },
        wd,
        stopped: None,
        seconds: 0.5,
    }
}

fn valley(n: usize, low: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 1.0 + ((i as f64 - low as f64) / n as f64).powi(2))
        .collect()
}

#[test]
fn range_tests_read_back_exactly_and_sort_by_weight_decay() {
    let dir = temp_dir("range");
    let a = range_test(1e-2, &valley(40, 25));
    let b = range_test(1e-4, &valley(40, 30));
    let plain = range_test(1e-3, &valley(40, 20));
    a.write_csv(&dir.join(format!("{}.csv", wd_stem(a.wd))))
        .unwrap();
    b.write_csv(&dir.join(format!("{}.csv", wd_stem(b.wd))))
        .unwrap();
    plain.write_csv(&RunDir::new(&dir).lr_find_csv()).unwrap();
    let tests = read_range_tests(&dir).unwrap();
    let stems: Vec<&str> = tests.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(stems, ["lr_find", "lr_find_wd1e-4", "lr_find_wd1e-2"]);
    assert_eq!(tests[0].1, plain);
    assert_eq!(tests[2].1, a);
    // Without its .json, the weight decay comes from the file name.
    std::fs::remove_file(dir.join("lr_find_wd1e-2.json")).unwrap();
    let bare = LrFind::read_csv(&dir.join("lr_find_wd1e-2.csv")).unwrap();
    assert_eq!((bare.wd, bare.options.num_it), (1e-2, 40));
    // The weight decay whose curve is lowest at the shared LR.
    let choice = choose_wd(&[a, b]).unwrap();
    assert_eq!(choice.losses.len(), 2);
    assert!(choice.wd == 1e-2 || choice.wd == 1e-4);
}
