//! Reports and charts from run folders written without a Learner: the comparison of runs with
//! different epoch lengths aligned by iterations and seconds, a run report from typed rows, and
//! charts that never leave a partial file.

use std::path::{Path, PathBuf};

use record::{EpochRow, History, LrFind, LrFindOptions, LrFindRow, RunDir, StepRow, Summary};
use report::plot::{self, ScheduleChart};
use report::{CompareOptions, RunChart};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `<svg>…</svg>` elements of an HTML page, each checked to parse as XML.
fn svgs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("every <svg> is closed") + start + 6;
        let svg = &rest[start..end];
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("bad SVG: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        out.push(svg.to_string());
        rest = &rest[end..];
    }
    out
}

/// Nothing fetched, nothing run: no scripts, no external references.
fn assert_self_contained(html: &str) {
    for bad in ["<script", "src=", "href=", "<link", "@import", "url("] {
        assert!(!html.contains(bad), "the report contains {bad:?}");
    }
}

/// Writes a run folder through record's rows (as RunLog writes them): `steps[e]` steps in epoch
/// `e`, lasting `seconds[e]`, ending with accuracy `acc[e]`.
fn logged_run(dir: &Path, steps: &[usize], seconds: &[f64], acc: &[f64]) {
    let mut h = History {
        metric_names: vec!["accuracy".into()],
        ..History::default()
    };
    let mut step = 0;
    for e in 0..steps.len() {
        for _ in 0..steps[e] {
            let loss = 2.0 / (1.0 + step as f64);
            h.steps.push(StepRow {
                epoch: e,
                step,
                lr: 0.1,
                momentum: 0.9,
                loss,
                smooth_loss: loss,
                skipped: None,
            });
            step += 1;
        }
        h.epochs.push(EpochRow {
            epoch: e,
            train_loss: 1.0,
            valid_loss: 1.0 - acc[e],
            metrics: vec![acc[e]],
            seconds: seconds[e],
        });
    }
    h.write(dir).unwrap();
}

#[test]
fn a_comparison_aligns_runs_by_their_own_iterations_and_seconds() {
    let root = temp_dir("compare");
    let (a, b) = (root.join("a"), root.join("b"));
    // Run a: short epochs of 4 steps; run b: 10 steps, then 6 (a changed batch size).
    logged_run(&a, &[4, 4, 4], &[1.5, 2.25, 2.0], &[0.5, 0.85, 0.8]);
    logged_run(&b, &[10, 6], &[3.0, 1.25], &[0.7, 0.9]);
    let options = CompareOptions {
        title: "a <vs> b".into(),
        metric: "accuracy".into(),
        targets: vec![0.6, 0.85, 0.95],
    };
    let runs = vec![("fast".to_string(), a), ("slow".to_string(), b)];
    let out = root.join("out/compare.html");
    let table = report::write_compare_report(&runs, &options, &out).unwrap();

    let (fa, sl) = (&table.rows[0], &table.rows[1]);
    assert_eq!((fa.epochs, fa.iterations, fa.seconds), (3, 12, 5.75));
    assert_eq!((sl.epochs, sl.iterations, sl.seconds), (2, 16, 4.25));
    assert_eq!((fa.final_metric, fa.best_metric), (Some(0.8), Some(0.85)));
    assert_eq!((sl.final_metric, sl.best_metric), (Some(0.9), Some(0.9)));
    assert_eq!(fa.final_valid_loss, Some(1.0 - 0.8));
    // 0.6: a at the end of epoch 1 (8 steps, 3.75 s); b at the end of epoch 0 (10 steps, 3 s).
    let reached =
        |r: &report::CompareRow, k: usize| (r.targets[k].iterations, r.targets[k].seconds);
    assert_eq!(reached(fa, 0), (Some(8), Some(3.75)));
    assert_eq!(reached(sl, 0), (Some(10), Some(3.0)));
    // 0.85 exactly counts as reached; b gets there after 16 steps and 4.25 s.
    assert_eq!(reached(fa, 1), (Some(8), Some(3.75)));
    assert_eq!(reached(sl, 1), (Some(16), Some(4.25)));
    // Never reached.
    assert_eq!(reached(fa, 2), (None, None));
    assert_eq!(reached(sl, 2), (None, None));

    let md = table.to_markdown();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines.len(), 4, "{md}");
    assert!(
        lines[0].contains("| iterations to 0.85 | time to 0.85 (s) |"),
        "{md}"
    );
    assert_eq!(
        lines[2],
        "| fast | 3 | 12 | 5.8 | 0.8000 | 0.8500 | 0.2000 | 8 | 3.8 | 8 | 3.8 | — | — |"
    );
    assert_eq!(
        lines[3],
        "| slow | 2 | 16 | 4.2 | 0.9000 | 0.9000 | 0.1000 | 10 | 3.0 | 16 | 4.2 | — | — |"
    );

    let html = std::fs::read_to_string(&out).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("<h1>a &lt;vs&gt; b</h1>"));
    // Five overlaid charts, each with one legend entry per run.
    let charts = svgs(&html);
    assert_eq!(charts.len(), 5);
    for svg in &charts {
        let doc = roxmltree::Document::parse(svg).unwrap();
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        assert_eq!(texts.iter().filter(|t| **t == "fast").count(), 1);
        assert_eq!(texts.iter().filter(|t| **t == "slow").count(), 1);
    }
    // The charts put each epoch at its run's own iterations and seconds by its end.
    let h = History::read(&runs[1].1).unwrap();
    assert_eq!(h.epoch_end_steps(), vec![10, 16]);
    assert_eq!(h.epoch_end_seconds(), vec![3.0, 4.25]);

    // A metric that a run lacks is an error naming it.
    let bad = CompareOptions {
        metric: "top5_accuracy".into(),
        ..options
    };
    let err = format!(
        "{:#}",
        report::write_compare_report(&runs, &bad, &out).unwrap_err()
    );
    assert!(
        err.contains("fast") && err.contains("top5_accuracy"),
        "{err}"
    );
}

/// A range test with a valley, as a finished test would record it.
fn range_test(wd: f64) -> LrFind {
    let n = 60;
    LrFind {
        rows: (0..n)
            .map(|i| {
                let s = 2.0 + ((i as f64 - 40.0) / 20.0).powi(2);
                LrFindRow {
                    lr: 1e-4 * 10f64.powf(5.0 * i as f64 / n as f64),
                    loss: s + 0.05,
                    smooth_loss: s,
                    val_loss: None,
                    val_smooth_loss: None,
                    metrics: Vec::new(),
                }
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
        seconds: 1.5,
    }
}

#[test]
fn a_run_report_reads_the_typed_history_summary_and_range_tests() {
    let dir = temp_dir("run");
    logged_run(&dir, &[4, 4, 4], &[1.5, 2.25, 2.0], &[0.5, 0.85, 0.8]);
    let run = RunDir::new(&dir);
    std::fs::write(run.config(), "model = \"mlp\"\n").unwrap();
    Summary {
        images_per_sec: 1234.56,
        tta_accuracy: Some(0.9375),
        ..Summary::default()
    }
    .write(&run.summary())
    .unwrap();
    report::lr_find::save_run(&range_test(1e-3), &dir, "lr_find", "range test").unwrap();
    for wd in [1e-2, 1e-4] {
        report::lr_find::save_run(&range_test(wd), &dir, &record::wd_stem(wd), "range test")
            .unwrap();
    }
    let html = std::fs::read_to_string(report::write_run_report(&dir).unwrap()).unwrap();
    assert_self_contained(&html);
    // Training, schedule, three range tests and the weight-decay overlay.
    assert_eq!(svgs(&html).len(), 6);
    let cell = |k: &str, v: &str| format!("<tr><th>{k}</th><td class=\"num\">{v}</td></tr>");
    for (k, v) in [
        ("epochs", "3"),
        ("iterations", "12"),
        ("wall time (s)", "5.8"),
        ("images/s", "1234.6"),
        ("best accuracy (epoch)", "0.8500 (1)"),
        ("final accuracy", "0.8000"),
        ("TTA accuracy", "0.9375"),
    ] {
        assert!(html.contains(&cell(k, v)), "{k} {v}");
    }
    assert!(html.contains("Range tests by weight decay"));
    assert!(html.contains("model = &quot;mlp&quot;"));

    // The charts of the folder, as `onecycle plot` draws them.
    let files = report::run_charts(&dir, "svg", &[]).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "schedule.svg",
            "training.svg",
            "lr_find.svg",
            "lr_find_wd1e-4.svg",
            "lr_find_wd1e-2.svg"
        ]
    );
    let training = std::fs::read_to_string(run.training_chart("svg")).unwrap();
    assert!(training.contains("validation loss") && training.contains("accuracy"));
    let err = report::run_charts(&temp_dir("empty-charts"), "png", &[RunChart::Training])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no steps.csv"), "{err}");
}

/// Every file name in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_chart_that_cannot_be_written_leaves_the_previous_file_and_no_partial_one() {
    let dir = temp_dir("atomic");
    let points: Vec<schedule::Point> = (0..50)
        .map(|i| schedule::Point {
            lr: 0.01 * i as f64,
            momentum: Some(0.9),
        })
        .collect();
    let chart = ScheduleChart {
        title: "schedule",
        points: &points,
    };
    for ext in ["png", "svg"] {
        let path = dir.join(format!("schedule.{ext}"));
        plot::save(&chart, &path).unwrap();
        let before = std::fs::read(&path).unwrap();
        assert!(before.len() > 1000);
        // A figure that fails halfway through drawing.
        struct Broken;
        impl plot::Figure for Broken {
            fn draw<DB: plotters::prelude::DrawingBackend>(
                &self,
                _: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
            ) -> anyhow::Result<()> {
                anyhow::bail!("the figure failed")
            }
        }
        assert!(plot::save(&Broken, &path).is_err());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{ext}: the old chart is kept"
        );
    }
    assert_eq!(
        files(&dir),
        ["schedule.png", "schedule.svg"],
        "no partial file"
    );

    // A read-only folder: the write fails, the old chart stays.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let before = std::fs::read(dir.join("schedule.png")).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = dir.join("probe");
        // Root may write anyway; then there is nothing to check.
        if std::fs::write(&probe, b"").is_err() {
            for ext in ["png", "svg"] {
                assert!(plot::save(&chart, &dir.join(format!("schedule.{ext}"))).is_err());
            }
            assert_eq!(std::fs::read(dir.join("schedule.png")).unwrap(), before);
            assert_eq!(files(&dir), ["schedule.png", "schedule.svg"]);
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _ = std::fs::remove_file(probe);
    }

    // A folder that cannot be created (a file is in the way): an error, nothing written.
    let blocked = dir.join("schedule.png").join("sub/chart.png");
    assert!(plot::save(&chart, &blocked).is_err());
}
