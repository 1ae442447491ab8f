//! `onecycle compare` and `onecycle report`: two tiny real runs (every run writes summary.json
//! and report.html), compared in one HTML file with the table printed as markdown.

use std::path::Path;

mod common;
use common::{fails, ok, onecycle, temp_dir};

/// A tiny run: small CNN on 256 training and 64 validation images of the embedded sample.
fn fit(dir: &Path, batch: &str, epochs: &str) {
    ok(onecycle(&[
        "fit",
        "--model",
        "small-cnn",
        "--batch",
        batch,
        "--epochs",
        epochs,
        "--limit-train",
        "256",
        "--limit-valid",
        "64",
        "--max-lr",
        "0.05",
        "--quiet",
        "--run-dir",
        dir.to_str().unwrap(),
    ]));
}

fn svg_count(html: &str) -> usize {
    html.matches("<svg").count()
}

#[test]
fn compare_overlays_two_runs_and_prints_the_table() {
    let root = temp_dir("compare");
    let (a, b) = (root.join("a"), root.join("b"));
    fit(&a, "32", "2"); // 8 steps per epoch
    fit(&b, "64", "1"); // 4 steps per epoch
    for dir in [&a, &b] {
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert_eq!(svg_count(&html), 2, "training and schedule charts");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert!(summary["images_per_sec"].as_f64().unwrap() > 0.0);
    }

    let out = root.join("compare.html");
    let stdout = ok(onecycle(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--names",
        "eight,four",
        "--target",
        "0,1.01",
        "--out",
        out.to_str().unwrap(),
    ]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("| run | epochs | iterations | time (s) | final accuracy |"),
        "{stdout}"
    );
    assert!(lines[0].contains("| iterations to 0 |") && lines[0].contains("| time to 1.01 (s) |"));
    // Any accuracy reaches 0 at the first epoch's end: 8 and 4 iterations; none reaches 1.01.
    let cells = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let (eight, four) = (cells(lines[2]), cells(lines[3]));
    assert_eq!(&eight[..3], ["eight", "2", "16"]);
    assert_eq!(&four[..3], ["four", "1", "4"]);
    assert_eq!((eight[7].as_str(), eight[9].as_str()), ("8", "—"));
    assert_eq!((four[7].as_str(), four[9].as_str()), ("4", "—"));
    assert_eq!(lines[4], format!("report: {}", out.display()));
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(svg_count(&html), 5);
    assert!(html.contains("<td>eight</td>") && html.contains("<td>four</td>"));

    // `onecycle report` re-writes a run's report.html.
    std::fs::remove_file(a.join("report.html")).unwrap();
    let printed = ok(onecycle(&["report", a.to_str().unwrap()]));
    assert_eq!(printed.trim(), a.join("report.html").display().to_string());
    assert!(a.join("report.html").is_file());

    // Mismatched names are refused.
    let err = fails(onecycle(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--names",
        "only-one",
    ]));
    assert!(
        err.contains("--names gives 1 names for 2 run folders"),
        "{err}"
    );
}
