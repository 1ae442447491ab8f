//! `onecycle lr-find`, `onecycle suggest` and `onecycle fit --max-lr auto` on the embedded sample:
//! the files they write, the suggestions they print, and their messages on bad input.

use std::path::PathBuf;

mod common;
use common::{fails, ok, onecycle, temp_dir};

/// A V-shaped curve over 40 LRs 10^(k/10 − 5): minimum at k = 25.
fn v_curve_csv(dir: &std::path::Path, loss_column: &str) -> PathBuf {
    let mut text = format!("lr,{loss_column}\n");
    for k in 0..40 {
        let lr = 10f64.powf(k as f64 / 10.0 - 5.0);
        let loss = 1.0 + ((k as f64) - 25.0).abs() * 0.1;
        text.push_str(&format!("{lr:?},{loss:?}\n"));
    }
    let path = dir.join("curve.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn suggest_prints_every_rule_and_json_with_the_known_answers() {
    let dir = temp_dir("suggest");
    let csv = v_curve_csv(&dir, "loss");
    let input = csv.to_str().unwrap();
    let json = ok(onecycle(&["suggest", "--input", input, "--json"]));
    let lr = |k: usize| 10f64.powf(k as f64 / 10.0 - 5.0);
    // Skips 4 and 5: points 4..35. Minimum at 25 → lr/10 (lowest: that lr itself); valley:
    // decreasing run 4..=25, start 3, span 22, s = 7.33, pick 3 + 7 + 3 = 13; steep/min_grad: first of the equal slopes;
    // slide: gradients 15 points apart differ until the pair (24, 9), so the last l tried, 10;
    // plateau: losses within 0.1 × the descent (3.1 → 1.0) of the lowest are 23..=27, whose
    // geometric middle is 25.
    let expected = format!(
        "{{\"valley\":{:?},\"steep\":{:?},\"minimum\":{:?},\"slide\":{:?},\"min_grad\":{:?},\
         \"lowest\":{:?},\"plateau\":{:?}}}",
        lr(13),
        lr(4),
        lr(25) / 10.0,
        lr(10),
        lr(4),
        lr(25),
        lr(25)
    );
    assert_eq!(json.trim(), expected);
    let text = ok(onecycle(&[
        "suggest",
        "--input",
        input,
        "--skip-start",
        "0",
    ]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7);
    assert!(lines[2].starts_with("minimum  3.162e-4"), "{text}");
    // A smooth_loss column is preferred over loss.
    let csv = v_curve_csv(&dir, "smooth_loss");
    let json2 = ok(onecycle(&[
        "suggest",
        "--input",
        csv.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(json2, json);
}

#[test]
fn suggest_explains_why_a_curve_is_unusable() {
    let dir = temp_dir("short");
    let path = dir.join("short.csv");
    std::fs::write(&path, "lr,loss\n0.001,2.0\n0.01,1.5\n0.1,1.0\n").unwrap();
    let err = fails(onecycle(&["suggest", "--input", path.to_str().unwrap()]));
    assert!(
        err.contains("too few to drop 0 at the start and 5 at the end"),
        "{err}"
    );
    std::fs::write(&path, "learning_rate,loss\n0.1,1\n").unwrap();
    let err = fails(onecycle(&["suggest", "--input", path.to_str().unwrap()]));
    assert!(err.contains("no `lr` column"), "{err}");
    // LRs out of order: the file and the first row that breaks the order.
    std::fs::write(&path, "lr,loss\n0.001,2.0\n0.1,1.5\n0.01,1.0\n").unwrap();
    let err = fails(onecycle(&["suggest", "--input", path.to_str().unwrap()]));
    assert!(
        err.contains(&format!(
            "{} row 4: lr 0.01 is not above the previous row's 0.1",
            path.display()
        )),
        "{err}"
    );
}

/// A sweep from a high LR down to a low one is no range test: refused naming both ends, before
/// any training.
#[test]
fn lr_find_refuses_a_decreasing_sweep() {
    let dir = temp_dir("decreasing-sweep");
    let err = fails(onecycle(&[
        "lr-find",
        "--start-lr",
        "1",
        "--end-lr",
        "1e-3",
        "--run-dir",
        dir.to_str().unwrap(),
    ]));
    assert!(
        err.contains("end_lr must be above start_lr (the sweep raises the LR), got start_lr 1 and end_lr 0.001"),
        "{err}"
    );
}

const QUICK: &[&str] = &[
    "--model",
    "small-cnn",
    "--batch",
    "16",
    "--limit-train",
    "128",
    "--limit-valid",
    "64",
];

#[test]
fn lr_find_at_several_weight_decays_writes_one_csv_and_plot_each_and_compares_them() {
    let dir = temp_dir("wds");
    let mut args = vec!["lr-find", "--num-it", "24", "--val-each-step"];
    args.extend(QUICK);
    args.extend(["--wd", "1e-2,1e-4", "--run-dir", dir.to_str().unwrap()]);
    let out = ok(onecycle(&args));
    for stem in ["lr_find_wd1e-2", "lr_find_wd1e-4"] {
        let csv = std::fs::read_to_string(dir.join(format!("{stem}.csv"))).unwrap();
        assert_eq!(
            csv.lines().next(),
            Some("lr,loss,smooth_loss,val_loss,val_smooth_loss,accuracy")
        );
        assert!(csv.lines().count() > 12, "{stem}: {csv}");
        assert!(dir.join(format!("{stem}.png")).is_file());
    }
    assert!(dir.join("lr_find_wd.png").is_file());
    assert!(
        out.contains("wd 1e-2: ") && out.contains("wd 1e-4: "),
        "{out}"
    );
    assert!(out.contains("  valley   "), "{out}");
    assert!(out.contains("weight decay: "), "{out}");

    // `onecycle plot --what lr-find` redraws both curves from the CSVs; the folder has no
    // training history, so asking for the schedule is an error that says so.
    let redrawn = ok(onecycle(&[
        "plot",
        dir.to_str().unwrap(),
        "--what",
        "lr-find",
        "--svg",
    ]));
    for stem in ["lr_find_wd1e-2", "lr_find_wd1e-4"] {
        assert!(redrawn.contains(&format!("{stem}.svg")), "{redrawn}");
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert!(
            svg.contains("valley"),
            "{stem}.svg lacks the valley suggestion"
        );
    }
    let err = fails(onecycle(&[
        "plot",
        dir.to_str().unwrap(),
        "--what",
        "schedule",
    ]));
    assert!(err.contains("no steps.csv"), "{err}");
}

#[test]
fn fit_with_max_lr_auto_runs_the_range_test_and_trains_at_the_chosen_lr() {
    let dir = temp_dir("auto");
    let mut args = vec!["fit", "--epochs", "1", "--quiet", "--max-lr", "auto"];
    args.extend(QUICK);
    args.extend(["--suggest", "minimum", "--run-dir", dir.to_str().unwrap()]);
    let out = ok(onecycle(&args));
    let line = out.lines().next().unwrap();
    assert!(line.contains("the minimum suggestion"), "{out}");
    let chosen: f64 = line
        .strip_prefix("max_lr ")
        .and_then(|s| s.split(':').next())
        .unwrap()
        .parse()
        .unwrap();
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let in_config: f64 = config
        .lines()
        .find_map(|l| l.strip_prefix("max_lr = "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (in_config / chosen - 1.0).abs() < 1e-3,
        "{chosen} vs {in_config}"
    );
    assert!(dir.join("lr_find.csv").is_file() && dir.join("lr_find.png").is_file());
    assert!(
        out.lines().nth(1).unwrap().starts_with("accuracy "),
        "{out}"
    );

    let err = fails(onecycle(&["fit", "--suggest", "steep", "--max-lr", "0.1"]));
    assert!(err.contains("--max-lr auto"), "{err}");
    let err = fails(onecycle(&[
        "schedule",
        "one-cycle",
        "--steps",
        "10",
        "--max-lr",
        "auto",
    ]));
    assert!(err.contains("only understood by `onecycle fit`"), "{err}");
}
