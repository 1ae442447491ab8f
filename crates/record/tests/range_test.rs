//! The range-test record without a Learner: fastai's suggestions on
//! the smoothed curve, and the weight-decay choice (moved here from onecycle's tests).

use record::range_test::choose_wd;
use record::{LrFind, LrFindOptions, LrFindRow};
use schedule::{Curve, Rule};

/// A record with the given smoothed losses on an exponential grid (for rules without training).
fn record(wd: f64, smooth: &[f64]) -> LrFind {
    LrFind {
        rows: smooth
            .iter()
            .enumerate()
            .map(|(i, &s)| LrFindRow {
                lr: 10f64.powf(i as f64 / 10.0 - 5.0),
                loss: s,
                smooth_loss: s,
                val_loss: None,
                val_smooth_loss: None,
                metrics: Vec::new(),
            })
            .collect(),
        metric_names: Vec::new(),
        options: LrFindOptions {
            num_it: smooth.len(),
            ..LrFindOptions::default()
        },
        wd,
        stopped: None,
        seconds: 0.0,
    }
}

#[test]
fn suggestions_read_the_smoothed_curve_with_fastai_s_skips() {
    let smooth: Vec<f64> = (0..40).map(|i| ((i as f64) - 25.0).powi(2) + 1.0).collect();
    let r = record(0.0, &smooth);
    let c = Curve::new(&r.lrs(), &smooth, 4, 5).unwrap();
    assert_eq!(r.curve().unwrap(), c);
    assert_eq!(r.suggest(Rule::Minimum).unwrap().mark.0, r.rows[25].lr);
    let all = r.suggestions();
    assert_eq!(all.len(), Rule::ALL.len());
    assert!(all.iter().all(|(_, s)| s.is_ok()));
    // Too short for the skips: every rule reports why.
    let short = record(0.0, &smooth[..6]);
    assert!(short.suggestions().iter().all(|(_, s)| s
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("too few")));
}

#[test]
fn the_weight_decay_with_the_lowest_loss_at_the_shared_high_lr_wins() {
    // Minima at rows 20 (wd a), 28 (wd b), 30 (wd c): compare at row 20, where b is lowest.
    let curve = |m: f64, depth: f64| -> Vec<f64> {
        (0..40)
            .map(|i| 3.0 - depth * (1.0 - ((i as f64 - m) / 20.0).powi(2)))
            .collect()
    };
    let runs = [
        record(1e-2, &curve(20.0, 1.0)),
        record(1e-3, &curve(28.0, 1.5)),
        record(1e-4, &curve(30.0, 1.2)),
    ];
    let choice = choose_wd(&runs).unwrap();
    assert_eq!(choice.lr, runs[0].rows[20].lr);
    assert_eq!((choice.index, choice.wd), (1, 1e-3));
    assert_eq!(choice.losses[0], runs[0].rows[20].smooth_loss);
}

#[test]
fn the_lenient_reader_takes_bare_and_reordered_columns_and_prefers_the_smoothed_loss() {
    let dir = std::env::temp_dir().join(format!("record-lenient-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bare = dir.join("bare.csv");
    std::fs::write(&bare, "lr,loss\n0.001,2.5\n0.01, 2.0\n").unwrap();
    assert_eq!(
        record::range_test::read_lr_loss(&bare).unwrap(),
        (vec![0.001, 0.01], vec![2.5, 2.0])
    );
    let ours = dir.join("ours.csv");
    std::fs::write(&ours, "smooth_loss,lr,loss\n1.5,0.001,2.5\n").unwrap();
    assert_eq!(
        record::range_test::read_lr_loss(&ours).unwrap(),
        (vec![0.001], vec![1.5])
    );
    let none = dir.join("none.csv");
    std::fs::write(&none, "lr,loss\n").unwrap();
    let err = record::range_test::read_lr_loss(&none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no rows"), "{err}");
    // LRs out of order (a shuffled or concatenated file): the file and the first bad row.
    let unsorted = dir.join("unsorted.csv");
    std::fs::write(
        &unsorted,
        "lr,loss\n0.001,2.5\n0.01,2.0\n0.005,2.2\n0.1,1.9\n",
    )
    .unwrap();
    let err = record::range_test::read_lr_loss(&unsorted)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{} row 4: lr 0.005 is not above the previous row's 0.01; a range-test CSV lists \
             increasing LRs",
            unsorted.display()
        )
    );
    let repeated = dir.join("repeated.csv");
    std::fs::write(&repeated, "lr,loss\n0.001,2.5\n0.001,2.0\n").unwrap();
    let err = record::range_test::read_lr_loss(&repeated)
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 3: lr 0.001 is not above"), "{err}");
}
