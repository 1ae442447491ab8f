//! `onecycle schedule`: the CSV it prints, the plots it draws, and the errors it gives.

use std::process::Output;

use schedule::{OneCycleParams, Policy};

mod common;
use common::{onecycle, temp_dir};

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "onecycle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Parses `step,lr,momentum` rows; an empty momentum cell is `None`.
fn rows(csv_text: &str) -> Vec<(usize, f64, Option<f64>)> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["step", "lr", "momentum"],
        "header"
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let m = &r[2];
            (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                (!m.is_empty()).then(|| m.parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn one_cycle_csv_has_one_row_per_step_equal_to_the_library_bit_for_bit() {
    let text = stdout(&onecycle(&[
        "schedule",
        "one-cycle",
        "--steps",
        "100",
        "--max-lr",
        "0.8",
        "--phases",
        "3",
    ]));
    let expected = Policy::OneCycle(OneCycleParams {
        max_lr: 0.8,
        phases: Some(3),
        ..Default::default()
    })
    .build(100)
    .unwrap()
    .points();
    let got = rows(&text);
    assert_eq!(got.len(), 100);
    for (i, (step, lr, mom)) in got.into_iter().enumerate() {
        assert_eq!(step, i);
        assert_eq!(lr.to_bits(), expected[i].lr.to_bits(), "lr at step {i}");
        assert_eq!(mom, expected[i].momentum, "momentum at step {i}");
    }
}

#[test]
fn pytorch_one_cycle_starts_at_max_over_div_and_peaks_at_max() {
    let got = rows(&stdout(&onecycle(&[
        "schedule",
        "one-cycle",
        "--steps",
        "10",
        "--max-lr",
        "1",
    ])));
    // PyTorch OneCycleLR(max_lr=1, total_steps=10): phase 1 ends at step 0.3·10 − 1 = 2.
    assert!((got[0].1 - 0.04).abs() < 1e-12);
    assert_eq!(got[2].1, 1.0);
    assert_eq!(got[2].2, Some(0.85));
    assert!((got[9].1 - 4e-6).abs() < 1e-18);
    assert_eq!(got[9].2, Some(0.95));
}

#[test]
fn momentum_column_is_empty_when_not_scheduled() {
    let text = stdout(&onecycle(&[
        "schedule", "constant", "--steps", "3", "--lr", "0.1",
    ]));
    assert_eq!(text, "step,lr,momentum\n0,0.1,\n1,0.1,\n2,0.1,\n");
    let none = rows(&stdout(&onecycle(&[
        "schedule",
        "one-cycle",
        "--steps",
        "5",
        "--max-lr",
        "1",
        "--moms",
        "none",
    ])));
    assert!(none.iter().all(|r| r.2.is_none()));
}

#[test]
fn every_policy_runs_from_the_command_line() {
    let cases: &[&[&str]] = &[
        &["one-cycle", "--max-lr", "1", "--convention", "fastai"],
        &[
            "one-cycle",
            "--max-lr",
            "1",
            "--convention",
            "fastai1",
            "--moms",
            "0.95,0.85",
        ],
        &[
            "one-cycle",
            "--max-lr",
            "1",
            "--anneal",
            "linear",
            "--final-div-factor",
            "100",
        ],
        &[
            "clr-beta",
            "--max-lr",
            "0.8",
            "--div",
            "10",
            "--pct",
            "13.68",
            "--moms",
            "0.95,0.85",
        ],
        &[
            "cyclic",
            "--base-lr",
            "0.01",
            "--max-lr",
            "0.1",
            "--step-size-up",
            "10",
            "--mode",
            "triangular2",
        ],
        &[
            "sgdr",
            "--max-lr",
            "0.1",
            "--cycle-len",
            "10",
            "--cycle-mult",
            "2",
        ],
        &["flat-cos", "--lr", "0.1", "--momentum", "0.9"],
        &["steps", "--lr", "0.1", "--milestones", "50,75"],
        &["constant", "--lr", "0.1"],
        &["sweep", "--start-lr", "1e-7", "--end-lr", "10", "--linear"],
    ];
    for case in cases {
        let mut args = vec!["schedule"];
        args.extend_from_slice(case);
        args.extend_from_slice(&["--steps", "100"]);
        let got = rows(&stdout(&onecycle(&args)));
        assert_eq!(got.len(), 100, "{case:?}");
        assert!(got.iter().all(|r| r.1.is_finite() && r.1 > 0.0), "{case:?}");
    }
}

#[test]
fn out_writes_the_csv_to_a_file() {
    let dir = temp_dir("out");
    let file = dir.join("s.csv");
    let out = onecycle(&[
        "schedule",
        "sgdr",
        "--steps",
        "20",
        "--max-lr",
        "0.1",
        "--cycle-len",
        "5",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(stdout(&out).is_empty());
    assert_eq!(rows(&std::fs::read_to_string(&file).unwrap()).len(), 20);
}

#[test]
fn plot_draws_png_and_svg_with_both_curves_and_labelled_axes() {
    let dir = temp_dir("plot");
    for name in ["s.png", "s.svg"] {
        let path = dir.join(name);
        stdout(&onecycle(&[
            "schedule",
            "one-cycle",
            "--steps",
            "200",
            "--max-lr",
            "0.5",
            "--plot",
            path.to_str().unwrap(),
        ]));
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 5_000, "{name} is {} bytes", bytes.len());
        if name.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        } else {
            let svg = String::from_utf8(bytes).unwrap();
            let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
            let texts: Vec<&str> = doc
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text())
                .map(str::trim)
                .collect();
            for label in [
                "learning rate",
                "momentum",
                "step",
                "one-cycle schedule, 200 steps",
            ] {
                assert!(
                    texts.contains(&label),
                    "the SVG lacks the label {label:?}: {texts:?}"
                );
            }
            // The two curves: polylines of 200 points each (the legend swatches have 2).
            let curves = doc
                .descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .filter(|n| {
                    n.attribute("points")
                        .unwrap_or("")
                        .split_whitespace()
                        .count()
                        == 200
                })
                .count();
            assert_eq!(curves, 2, "expected an LR and a momentum curve");
        }
    }
}

/// Bad input: non-zero exit and one clear line that names the problem.
fn fails_with(args: &[&str], needle: &str) {
    let out = onecycle(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "{args:?}: stderr {err:?} lacks {needle:?}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: {err:?} is not one line"
    );
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed rows before failing"
    );
}

#[test]
fn bad_parameters_exit_non_zero_with_one_line_naming_them() {
    let base = ["schedule", "one-cycle", "--steps", "100", "--max-lr", "1"];
    let with = |extra: &[&'static str]| [&base[..], extra].concat();
    fails_with(
        &with(&["--pct-start", "1.3"]),
        "pct_start must be in (0, 1), got 1.3",
    );
    fails_with(&with(&["--div", "0"]), "div");
    fails_with(&with(&["--moms", "1.5,0.85"]), "momentum");
    fails_with(&with(&["--moms", "0.9"]), "--moms takes 2 to 3 values");
    fails_with(
        &with(&["--final-div", "10", "--final-div-factor", "10"]),
        "final_div",
    );
    fails_with(
        &with(&["--pct", "10"]),
        "--pct does not apply to the one-cycle policy",
    );
    fails_with(
        &with(&["--convention", "fastai", "--phases", "3"]),
        "phases",
    );
    fails_with(
        &["schedule", "one-cycle", "--steps", "0", "--max-lr", "1"],
        "steps",
    );
    fails_with(
        &["schedule", "one-cycle", "--steps", "10", "--max-lr", "NaN"],
        "max_lr",
    );
    fails_with(
        &["schedule", "one-cycle", "--steps", "10"],
        "needs --max-lr",
    );
    fails_with(
        &[
            "schedule", "constant", "--steps", "10", "--lr", "1", "--plot", "x.jpg",
        ],
        "must end in .png or .svg",
    );
}

/// `schedule … | head -1`: the rows are streamed (the first comes at once even for 2⁶⁴ − 1
/// steps, in constant memory), and a reader that stops early ends the command quietly with
/// exit 0, as `seq` does.
#[test]
fn a_reader_that_stops_early_ends_an_endless_schedule_quietly() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(["schedule", "one-cycle", "--steps", "18446744073709551615"])
        .args(["--max-lr", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut header, mut first) = (String::new(), String::new());
    reader.read_line(&mut header).unwrap();
    reader.read_line(&mut first).unwrap();
    assert_eq!(header, "step,lr,momentum\n");
    assert!(first.starts_with("0,0.04"), "{first}");
    drop(reader);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
