//! `onecycle experiment`: the smoke preset runs every arm end to end and prints the comparison.

mod common;
use common::{fails, ok, onecycle, temp_dir};

#[test]
fn smoke_preset_runs_all_arms_and_writes_one_report() {
    let dir = temp_dir("experiment");
    let out = dir.join("smoke");
    let table = ok(onecycle(&[
        "experiment",
        "super-convergence",
        "--preset",
        "smoke",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]));
    for arm in [
        "1cycle-clr-beta",
        "1cycle-cosine",
        "piecewise-constant",
        "constant",
    ] {
        assert!(
            table.contains(&format!("| {arm} ")),
            "{arm} missing:\n{table}"
        );
        assert!(
            out.join(arm).join("report.html").is_file(),
            "{arm} has no report"
        );
    }
    // 256 images at batch 64 for 2 epochs: 8 iterations per arm.
    assert_eq!(table.matches("| 2 | 8 |").count(), 4, "{table}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("iterations to 0.15"), "target column missing");
    assert!(html.matches("<svg").count() >= 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_experiments_and_presets_are_named_in_the_error() {
    let err = fails(onecycle(&["experiment", "hyper-convergence"]));
    assert!(err.contains("super-convergence"), "{err}");
    let err = fails(onecycle(&[
        "experiment",
        "super-convergence",
        "--preset",
        "gpu",
    ]));
    assert!(err.contains("paper, cpu, smoke"), "{err}");
}
