//! HTML reports: a run folder's report.html from a real tiny training and range test (config,
//! summary values, charts that parse as SVG, LR suggestions), a folder holding only a range test,
//! and the comparison of runs with different epoch lengths aligned by iterations and seconds.

use std::path::{Path, PathBuf};

use onecycle::amp::Precision;
use onecycle::callbacks::{EpochInfo, StepInfo};
use onecycle::data::TensorData;
use onecycle::history::{History, RunLog};
use onecycle::learner::Learner;
use onecycle::lr_find::{self, LrFind, LrFindOptions};
use onecycle::report::{self, CompareOptions};
use schedule::{OneCycleParams, Policy};
use tch::{nn, Device, Kind, Tensor};

mod common;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onecycle-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Torch's generator is global and tests run on parallel threads: build models under this lock.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Two noisy Gaussian blobs in 4 dimensions, classified by a small MLP with accuracy as metric.
fn classifier() -> Learner<TensorData> {
    let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(3);
    let opts = (Kind::Float, Device::Cpu);
    let make = |n: i64| {
        let y = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
        let x = Tensor::randn([n, 4], opts) * 1.5 + y.to_kind(Kind::Float).unsqueeze(1);
        (x, y)
    };
    let data = TensorData {
        train: make(256),
        valid: Some(make(128)),
        batch_size: 32,
        shuffle: true,
        seed: 5,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let net = nn::seq_t()
        .add(nn::linear(&p / "fc1", 4, 16, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&p / "fc2", 16, 2, Default::default()));
    common::classifier(vs, net, data, Precision::Fp32)
}

fn range_test(l: &mut Learner<TensorData>) -> LrFind {
    l.lr_find(&LrFindOptions {
        start_lr: 1e-4,
        end_lr: 10.0,
        num_it: 40,
        ..LrFindOptions::default()
    })
    .unwrap()
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

#[test]
fn a_trained_run_gets_a_report_with_its_config_summary_charts_and_suggestions() {
    let dir = temp_dir("run");
    let config = "model = \"mlp\"\nnote = \"a<b & c\"\n";
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut l = classifier();
    let found = range_test(&mut l);
    lr_find::save_run(&found, &dir, "lr_find", "range test").unwrap();
    l.add_callback(Box::new(RunLog::create(&dir).unwrap()));
    let policy = Policy::OneCycle(OneCycleParams {
        max_lr: 0.1,
        ..Default::default()
    });
    l.fit(3, &policy).unwrap();

    let path = report::write_run_report(&dir).unwrap();
    assert_eq!(path, dir.join("report.html"));
    let html = std::fs::read_to_string(&path).unwrap();
    assert_self_contained(&html);
    // Training chart, schedule chart, range-test chart.
    assert_eq!(svgs(&html).len(), 3);
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(html.contains(&format!("<h1>{name}</h1>")));
    // The config verbatim, escaped.
    assert!(html.contains("note = &quot;a&lt;b &amp; c&quot;"), "config");

    // The summary's values are those of epochs.csv.
    let epochs = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
    let rows: Vec<Vec<f64>> = epochs
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    let (best_epoch, best) = rows
        .iter()
        .map(|r| (r[0] as usize, r[3]))
        .fold((0, f64::MIN), |b, x| if x.1 > b.1 { x } else { b });
    let cell = |k: &str, v: &str| format!("<tr><th>{k}</th><td class=\"num\">{v}</td></tr>");
    assert!(
        html.contains(&cell(
            "best accuracy (epoch)",
            &format!("{best:.4} ({best_epoch})")
        )),
        "best accuracy {best} at epoch {best_epoch}"
    );
    let last = &rows[2];
    assert!(html.contains(&cell("final accuracy", &format!("{:.4}", last[3]))));
    assert!(html.contains(&cell("final valid loss", &format!("{:.4}", last[2]))));
    assert!(html.contains(&cell("epochs", "3")));
    assert!(html.contains(&cell("iterations", "24")));
    let seconds: f64 = rows.iter().map(|r| r[4]).sum();
    assert!(html.contains(&cell("wall time (s)", &format!("{seconds:.1}"))));

    // Every suggestion of the range test, read back from lr_find.csv.
    for (rule, s) in found.suggestions() {
        let lr = match s {
            Ok(s) => format!("{:.3e}", s.lr),
            Err(e) => format!("none: {e}"),
        };
        assert!(
            html.contains(&format!(
                "<td>{}</td><td class=\"num\">{lr}</td>",
                rule.name()
            )),
            "{} {lr}",
            rule.name()
        );
    }

    // summary.json, as training writes it, adds images/s and the TTA accuracy.
    std::fs::write(
        dir.join("summary.json"),
        r#"{"images_per_sec": 1234.56, "tta_accuracy": 0.9375, "stopped": null}"#,
    )
    .unwrap();
    let html = std::fs::read_to_string(report::write_run_report(&dir).unwrap()).unwrap();
    assert!(html.contains(&cell("images/s", "1234.6")));
    assert!(html.contains(&cell("TTA accuracy", "0.9375")));
}

#[test]
fn a_folder_with_only_a_range_test_gets_a_report_and_the_csv_reads_back_exactly() {
    let dir = temp_dir("lr-find");
    let mut l = classifier();
    let found = range_test(&mut l);
    lr_find::save_run(&found, &dir, "lr_find", "range test").unwrap();
    assert_eq!(
        LrFind::read_csv(&dir.join("lr_find.csv")).unwrap(),
        found,
        "CSV and JSON hold the whole test"
    );

    let html = std::fs::read_to_string(report::write_run_report(&dir).unwrap()).unwrap();
    assert_self_contained(&html);
    assert_eq!(svgs(&html).len(), 1);
    assert!(!html.contains("Summary"));
    for (rule, s) in found.suggestions() {
        if let Ok(s) = s {
            assert!(html.contains(&format!("{:.3e}", s.lr)), "{}", rule.name());
        }
    }

    // Range tests at several weight decays: each with its suggestions, by weight decay, then
    // the overlay that picks one.
    let wds = temp_dir("lr-find-wds");
    let runs = l
        .lr_find_wds(
            &[1e-2, 1e-4],
            &LrFindOptions {
                start_lr: 1e-4,
                end_lr: 10.0,
                num_it: 30,
                ..LrFindOptions::default()
            },
        )
        .unwrap();
    for run in &runs {
        lr_find::save_run(run, &wds, &lr_find::wd_stem(run.wd), "range test").unwrap();
    }
    let html = std::fs::read_to_string(report::write_run_report(&wds).unwrap()).unwrap();
    assert_eq!(svgs(&html).len(), 3);
    let small = html.find("lr_find_wd1e-4.csv").unwrap();
    let large = html.find("lr_find_wd1e-2.csv").unwrap();
    assert!(small < large, "ordered by weight decay");
    assert!(html.contains("Range tests by weight decay"));

    let empty = temp_dir("empty");
    let err = report::write_run_report(&empty).unwrap_err().to_string();
    assert!(err.contains("nothing to report"), "{err}");
}

/// Writes a run folder through RunLog itself: `steps[e]` steps in epoch `e`, lasting `seconds[e]`,
/// ending with accuracy `acc[e]`.
fn logged_run(dir: &Path, steps: &[usize], seconds: &[f64], acc: &[f64]) {
    let mut log = RunLog::create(dir).unwrap();
    let mut step = 0;
    for e in 0..steps.len() {
        for b in 0..steps[e] {
            let loss = 2.0 / (1.0 + step as f64);
            log.record_step(&StepInfo {
                epoch: e,
                epochs: steps.len(),
                batch: b,
                batches: steps[e],
                step,
                lr: 0.1,
                momentum: 0.9,
                loss,
                smooth_loss: loss,
                items: 8,
                ..StepInfo::default()
            })
            .unwrap();
            step += 1;
        }
        log.record_epoch(&EpochInfo {
            epoch: e,
            epochs: steps.len(),
            train_loss: 1.0,
            valid_loss: 1.0 - acc[e],
            metrics: vec![("accuracy".into(), acc[e])],
            seconds: seconds[e],
            steps_done: step,
        })
        .unwrap();
    }
    log.flush().unwrap();
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
