//! HTML reports of a real tiny training and range test: a run folder's report.html (config,
//! summary values, charts that parse as SVG, LR suggestions) and a folder holding only a range
//! test. Reports from folders written without a Learner are tested in the report crate.

use std::path::PathBuf;

use onecycle::amp::Precision;
use onecycle::data::TensorData;
use onecycle::history::RunLog;
use onecycle::learner::Learner;
use onecycle::lr_find::{LrFind, LrFindOptions};
use record::run_dir::LR_FIND;
use record::RunDir;
use report::lr_find;
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
    std::fs::write(RunDir::new(&dir).config(), config).unwrap();
    let mut l = classifier();
    let found = range_test(&mut l);
    lr_find::save_run(&found, &dir, LR_FIND, "range test").unwrap();
    l.add_callback(Box::new(RunLog::create(&dir).unwrap()));
    let policy = Policy::OneCycle(OneCycleParams {
        max_lr: 0.1,
        ..Default::default()
    });
    l.fit(3, &policy).unwrap();

    let path = report::write_run_report(&dir).unwrap();
    assert_eq!(path, RunDir::new(&dir).report());
    let html = std::fs::read_to_string(&path).unwrap();
    assert_self_contained(&html);
    // Training chart, schedule chart, range-test chart.
    assert_eq!(svgs(&html).len(), 3);
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(html.contains(&format!("<h1>{name}</h1>")));
    // The config verbatim, escaped.
    assert!(html.contains("note = &quot;a&lt;b &amp; c&quot;"), "config");

    // The summary's values are those of epochs.csv.
    let epochs = std::fs::read_to_string(RunDir::new(&dir).epochs_csv()).unwrap();
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
        RunDir::new(&dir).summary(),
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
    lr_find::save_run(&found, &dir, LR_FIND, "range test").unwrap();
    assert_eq!(
        LrFind::read_csv(&RunDir::new(&dir).lr_find_csv()).unwrap(),
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
        lr_find::save_run(run, &wds, &record::wd_stem(run.wd), "range test").unwrap();
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
