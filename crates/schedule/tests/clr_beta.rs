//! The seed's schedule (fastai 0.7 `use_clr_beta`), checked step for step against a plain
//! re-statement of the DESIGN.md formula, and at its corners against python3 literals.

use schedule::*;

/// DESIGN.md, "Schedules", the seed's form, written out as directly as possible.
fn design_formula(
    n: usize,
    max: f64,
    div: f64,
    pct: f64,
    max_mom: f64,
    min_mom: f64,
) -> Vec<(f64, f64)> {
    let c = (n as f64 * (1.0 - pct / 100.0) / 2.0).floor();
    (0..n)
        .map(|i| {
            let i = i as f64;
            if i <= 2.0 * c {
                let t = if i <= c { i / c } else { 1.0 - (i - c) / c };
                (
                    max * (1.0 + t * (div - 1.0)) / div,
                    max_mom + t * (min_mom - max_mom),
                )
            } else {
                let u = (i - 2.0 * c) / (n as f64 - 2.0 * c);
                (max * (1.0 + u * (1.0 - 100.0) / 100.0) / div, max_mom)
            }
        })
        .collect()
}

fn clr(max_lr: f64, div: f64, pct: f64, n: usize) -> ClrBeta {
    ClrBeta::new(
        &ClrBetaParams {
            max_lr,
            div,
            pct,
            moms: Some([0.95, 0.85]),
        },
        n,
    )
    .unwrap()
}

fn check_against_formula(s: &ClrBeta, n: usize, max: f64, div: f64, pct: f64) {
    let want = design_formula(n, max, div, pct, 0.95, 0.85);
    assert_eq!(s.steps(), n);
    for (i, (p, (lr, mom))) in s.points().iter().zip(want).enumerate() {
        assert!(
            (p.lr - lr).abs() <= 1e-14 * lr,
            "lr at {i}: {} vs {lr}",
            p.lr
        );
        let m = p.momentum.unwrap();
        assert!((m - mom).abs() <= 1e-14, "momentum at {i}: {m} vs {mom}");
    }
}

/// Rows `(step, lr, momentum)` printed by tests/reference/gen.py (a port of fastai 0.7's
/// `CircularLR_beta.calc_lr`, momentum taken at the same step as the LR).
fn check_rows(s: &ClrBeta, rows: &[(usize, f64, f64)]) {
    for &(i, lr, mom) in rows {
        let p = s.at(i).unwrap();
        assert!(
            (p.lr - lr).abs() <= 1e-12 * lr,
            "lr at {i}: {} vs {lr}",
            p.lr
        );
        assert!(
            (p.momentum.unwrap() - mom).abs() <= 1e-12,
            "momentum at {i}"
        );
    }
}

#[test]
fn seed_resnet56_95_epochs_lr_0_8_div_10_pct_13_68() {
    let n = 95 * 98;
    let s = clr(0.8, 10.0, 13.68, n);
    // c = floor(9310 · 0.8632 / 2) = floor(4018.19...) = 4018
    assert_eq!(s.half_cycle(), 4018);
    check_against_formula(&s, n, 0.8, 10.0, 13.68);
    #[rustfmt::skip]
    check_rows(&s, &[
        (0, 0.08, 0.95),
        (1, 0.08017919362867097, 0.9499751119960179),
        (4017, 0.799820806371329, 0.850024888003982),
        (4018, 0.8, 0.85),
        (4019, 0.799820806371329, 0.850024888003982),
        (8035, 0.080179193628671, 0.9499751119960179),
        (8036, 0.08, 0.95),
        (8037, 0.07993783359497646, 0.95),
        (9309, 0.0008621664050235456, 0.95),
    ]);
}

#[test]
fn seed_resnet56_70_epochs_lr_3_div_20_pct_10() {
    let n = 70 * 98;
    let s = clr(3.0, 20.0, 10.0, n);
    // c = floor(6860 · 0.9 / 2) = 3087
    assert_eq!(s.half_cycle(), 3087);
    check_against_formula(&s, n, 3.0, 20.0, 10.0);
    #[rustfmt::skip]
    check_rows(&s, &[
        (0, 0.15, 0.95),
        (1, 0.15092322643343054, 0.949967606090055),
        (3086, 2.9990767735665695, 0.8500323939099449),
        (3087, 3.0, 0.85),
        (3088, 2.9990767735665695, 0.8500323939099449),
        (6173, 0.15092322643343045, 0.949967606090055),
        (6174, 0.15, 0.95),
        (6175, 0.149783527696793, 0.95),
        (6859, 0.0017164723032070117, 0.95),
    ]);
}

#[test]
fn annihilation_heads_towards_max_over_100_div() {
    let n = 1000;
    let s = clr(1.0, 10.0, 20.0, n);
    let last = s.at(n - 1).unwrap().lr;
    let floor = 1.0 / (100.0 * 10.0);
    assert!(last > floor && last < 2.0 * floor, "last lr {last}");
}

#[test]
fn without_moms_momentum_is_not_cycled() {
    let s = ClrBeta::new(
        &ClrBetaParams {
            max_lr: 0.8,
            div: 10.0,
            pct: 13.68,
            moms: None,
        },
        500,
    )
    .unwrap();
    assert!(s.points().iter().all(|p| p.momentum.is_none()));
}
