//! `onecycle tune` and `fit --tune` on the embedded sample: the budget is honoured, every test
//! leaves its CSV and chart, `recommended.toml` holds the decisions of `tune.json` and trains
//! with `fit --config`, and `fit --tune` tunes and trains in one run folder.

use std::path::Path;

mod common;
use common::{fails, ok, onecycle, temp_dir};
use record::tune::TuneRecord;
use schedule::{MomsSetting, Policy};

/// Small CNN on 512 training images in batches of 64 (8 steps an epoch), two weight decays and
/// two momentums: the LR test and five budget shares of at least 12 steps.
const SMALL: &[&str] = &[
    "--model",
    "small-cnn",
    "--batch",
    "64",
    "--limit-train",
    "512",
    "--limit-valid",
    "128",
    "--wds",
    "1e-3,0",
    "--momentums",
    "0.95,0.9",
    "--quiet",
];

fn with<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(SMALL).chain(tail).copied().collect()
}

#[test]
fn tune_stays_in_budget_and_its_recommended_config_trains() {
    let dir = temp_dir("tune");
    let run = dir.join("tune");
    // 25 epochs of 8 steps planned, a budget of as many: 20 steps for the LR test (a tenth of
    // the training), 36 for each of the others.
    let out = ok(onecycle(&with(
        &["tune"],
        &[
            "--epochs",
            "25",
            "--budget",
            "1",
            "--run-dir",
            run.to_str().unwrap(),
        ],
    )));
    assert!(
        out.contains("max_lr") && out.contains("recommended.toml"),
        "{out}"
    );
    let record = TuneRecord::read(&run.join("tune.json")).unwrap();
    assert_eq!((record.planned_steps, record.budget_steps), (200, 200));
    assert!(
        record.used_steps <= record.budget_steps,
        "{}",
        record.used_steps
    );
    let spent: usize = record.tests.iter().map(|t| t.steps).sum();
    assert_eq!(spent, record.used_steps);
    for t in record.tests.iter().filter_map(|t| t.csv.as_ref()) {
        let rows = std::fs::read_to_string(run.join(t))
            .unwrap()
            .lines()
            .count()
            - 1;
        let most = if t == "lr_find.csv" { 20 } else { 36 };
        assert!((1..=most).contains(&rows), "{t}: {rows} rows");
        assert!(
            run.join(t.replace(".csv", ".png")).is_file(),
            "{t} has no chart"
        );
    }
    assert!(run.join("lr_find_wd.png").is_file() && run.join("lr_find_mom.png").is_file());
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        report.contains("Tuning") && report.contains("momentum"),
        "report"
    );

    // recommended.toml holds the decisions and trains as it is (fewer epochs here).
    let recommended = recipe::read_config(&run.join("recommended.toml")).unwrap();
    assert_eq!(recommended.wd, record.wd.wd);
    assert_eq!(recommended.epochs, 25);
    match &recommended.schedule {
        Policy::OneCycle(p) => {
            assert_eq!(p.max_lr, record.lr.max_lr);
            assert_eq!(p.div, Some(record.lr.div));
            let (hi, lo) = record.momentum.moms;
            assert_eq!(p.moms, MomsSetting::Values(vec![hi, lo, hi]));
        }
        other => panic!("not a 1cycle: {other:?}"),
    }
    let fit = dir.join("fit");
    ok(onecycle(&[
        "fit",
        "--quiet",
        "--config",
        run.join("recommended.toml").to_str().unwrap(),
        "--epochs",
        "2",
        "--run-dir",
        fit.to_str().unwrap(),
    ]));
    let trained = recipe::read_config(&fit.join("config.toml")).unwrap();
    assert_eq!(trained.schedule, recommended.schedule);
    assert_eq!(trained.wd, recommended.wd);
}

#[test]
fn a_budget_too_small_for_the_tests_says_how_much_is_needed() {
    let dir = temp_dir("tune-budget");
    let err = fails(onecycle(&with(
        &["tune"],
        &[
            "--epochs",
            "3",
            "--run-dir",
            dir.join("t").to_str().unwrap(),
        ],
    )));
    assert!(
        err.contains("a budget of 2 steps cannot hold the LR test's 20 steps")
            && err.contains("raise --budget to at least 3.34"),
        "{err}"
    );
    let err = fails(onecycle(&with(&["tune"], &["--budget", "0"])));
    assert!(err.contains("budget must be a fraction > 0"), "{err}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn fit_tune_tunes_then_trains_with_the_result_in_one_run_folder() {
    let run = temp_dir("fit-tune").join("run");
    let out = ok(onecycle(&with(
        &["fit", "--tune"],
        &[
            "--epochs",
            "4",
            "--budget",
            "5",
            "--run-dir",
            run.to_str().unwrap(),
        ],
    )));
    assert!(out.contains("accuracy"), "{out}");
    let record = TuneRecord::read(&run.join("tune.json")).unwrap();
    assert!(record.used_steps <= record.budget_steps);
    let config = recipe::read_config(&run.join("config.toml")).unwrap();
    assert_eq!(
        config,
        recipe::read_config(&run.join("recommended.toml")).unwrap()
    );
    assert_eq!(read(&run.join("steps.csv")).lines().count(), 1 + 4 * 8);
    let report = read(&run.join("report.html"));
    assert!(
        report.contains("Tuning") && report.contains("accuracy"),
        "report"
    );
    let err = fails(onecycle(&["fit", "--tune", "--max-lr", "auto"]));
    assert!(err.contains("--tune chooses the LR itself"), "{err}");
}

#[test]
fn without_a_batch_tune_searches_one_by_doubling_and_keeps_the_fastest_of_the_largest() {
    let run = temp_dir("tune-batch").join("t");
    // 1,280 images allow batches up to 64 (at least 20 steps an epoch): probes at 16, 32, 64.
    let argv = [
        "tune",
        "--model",
        "small-cnn",
        "--limit-train",
        "1280",
        "--limit-valid",
        "128",
        "--epochs",
        "20",
        "--wds",
        "1e-3,0",
        "--momentums",
        "0.95,0.9",
        // Enough for the LR test's 20 steps and 5 shares of 12 at any batch it may choose (64
        // gives 200 steps).
        "--budget",
        "0.5",
        "--run-dir",
        run.to_str().unwrap(),
    ];
    let out = ok(onecycle(&argv));
    assert!(out.contains("fewer than 20 steps per epoch"), "{out}");
    let record = TuneRecord::read(&run.join("tune.json")).unwrap();
    let sizes: Vec<usize> = record.batch.probes.iter().map(|p| p.batch).collect();
    assert_eq!(sizes, [16, 32, 64]);
    assert!(record
        .batch
        .probes
        .iter()
        .all(|p| p.images_per_sec > 0.0 && p.step_bytes.is_some_and(|b| b > 0.0)));
    let fastest = record
        .batch
        .probes
        .iter()
        .max_by(|a, b| a.images_per_sec.total_cmp(&b.images_per_sec))
        .unwrap();
    assert_eq!(record.batch.batch, fastest.batch);
    // The plan, the budget and the recommended config are at the chosen batch; the probes
    // count against the budget.
    assert_eq!(record.planned_steps, 20 * 1280 / record.batch.batch);
    let probes = record.tests.iter().filter(|t| t.name.contains("batch"));
    assert_eq!(probes.count(), 3);
    assert!(record.used_steps <= record.budget_steps);
    let recommended = recipe::read_config(&run.join("recommended.toml")).unwrap();
    assert_eq!(recommended.batch, record.batch.batch);
    assert!(read(&run.join("report.html")).contains("Batch sizes tried"));
}

#[test]
fn tune_in_bf16_runs_its_tests_in_bf16_and_recommends_bf16() {
    let run = temp_dir("tune-bf16").join("t");
    ok(onecycle(&with(
        &["tune", "--precision", "bf16"],
        &[
            "--epochs",
            "25",
            "--budget",
            "1",
            "--run-dir",
            run.to_str().unwrap(),
        ],
    )));
    let recommended = read(&run.join("recommended.toml"));
    assert!(
        recommended.contains("precision = \"bf16\""),
        "{recommended}"
    );
    let record = TuneRecord::read(&run.join("tune.json")).unwrap();
    assert!(record.lr.max_lr.is_finite() && record.used_steps <= record.budget_steps);
}
