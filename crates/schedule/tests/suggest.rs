//! LR suggestions on hand-made curves whose answers follow from fastai's definitions by hand:
//! valley, steep, minimum, slide (fastai 2.8), min_grad (fastai v1), and the curve preparation
//! (skips, truncation at the first non-finite loss, refusal of short, flat or rising curves).

use schedule::suggest::{gradient, interp};
use schedule::{Curve, Rule, SuggestError};

/// `10^(k/10 − 7)`: an exponential sweep's LR grid, equally spaced in log LR.
fn lr_grid(n: usize) -> Vec<f64> {
    (0..n).map(|k| 10f64.powf(k as f64 / 10.0 - 7.0)).collect()
}

fn curve(losses: &[f64]) -> Curve {
    Curve::new(&lr_grid(losses.len()), losses, 0, 0).unwrap()
}

#[test]
fn valley_picks_a_third_into_the_descent_counting_from_one_point_before_it() {
    // Ten falling points (indices 0..=9), then rising: the longest decreasing run has span
    // 9 − (−1) = 10 (fastai starts it one point early), s = 10/3, pick −1 + 3 + 1 = 3.
    let losses = [
        10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0,
    ];
    let s = curve(&losses).valley();
    assert_eq!(s.lr, lr_grid(14)[3]);
    assert_eq!(s.mark, (lr_grid(14)[3], 7.0));
}

#[test]
fn valley_follows_the_longest_decreasing_subsequence_not_the_longest_run() {
    // Bumps do not break it: 9, 8, 7, 6, 5 (indices 1, 3, 4, 6, 7) is decreasing with length 5,
    // ending at 7: start 7 − 5 = 2, s = 5/3, pick 2 + 1 + 0 = 3.
    let losses = [3.0, 9.0, 9.5, 8.0, 7.0, 7.5, 6.0, 5.0, 8.0];
    assert_eq!(curve(&losses).valley().lr, lr_grid(9)[3]);
}

#[test]
fn valley_reproduces_fastai_s_wrap_to_the_last_point_for_a_single_early_drop() {
    // Longest decreasing subsequence is (2, 1) at indices 0–1: start −1, s = 2/3, pick −1, which
    // Python reads as the last point.
    let losses = [2.0, 1.0, 3.0, 4.0];
    assert_eq!(curve(&losses).valley().lr, lr_grid(4)[3]);
}

#[test]
fn steep_takes_the_left_end_of_the_steepest_segment_against_log_lr() {
    // Δloss per decade: −0.1, −0.9, −0.2, −0.1, +2.3 → segment 1–2, so lr at index 1.
    let lrs = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5];
    let losses = [5.0, 4.9, 4.0, 3.8, 3.7, 6.0];
    let c = Curve::new(&lrs, &losses, 0, 0).unwrap();
    let s = c.steep();
    assert_eq!((s.lr, s.mark), (10.0, (10.0, 4.9)));
    // Against log LR, not per point: squeezing the first segment into a tenth of a decade makes
    // its −0.1 the steepest (−1 per decade).
    let lrs = [1.0, 10f64.powf(0.1), 100.0, 1e3, 1e4, 1e5];
    let c = Curve::new(&lrs, &losses, 0, 0).unwrap();
    assert_eq!(c.steep().lr, 1.0);
}

#[test]
fn minimum_is_a_tenth_of_the_lr_at_the_first_lowest_loss() {
    let lrs = [1e-3, 1e-2, 1e-1, 1.0, 10.0];
    let c = Curve::new(&lrs, &[5.0, 3.0, 1.0, 1.0, 2.0], 0, 0).unwrap();
    let s = c.minimum();
    assert_eq!(s.lr, 1e-1 / 10.0);
    assert_eq!(s.mark, (1e-1, 1.0));
    // Smith's 1cycle peak is that LR itself.
    let s = c.suggest(Rule::Lowest).unwrap();
    assert_eq!((s.lr, s.mark), (1e-1, (1e-1, 1.0)));
}

#[test]
fn plateau_takes_the_middle_in_log_lr_of_the_flat_stretch_around_the_lowest_loss() {
    // Descent 3.0 → 2.0 (depth 1): the plateau is every neighbour of the lowest point within
    // 0.1 of it, indices 3..=7 (2.05 at 2 and 2.3 at 8 are out), LRs 1e-4 and 1: middle 1e-2.
    let lrs = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];
    let losses = [3.0, 2.6, 2.15, 2.08, 2.02, 2.0, 2.01, 2.09, 2.3];
    let c = Curve::new(&lrs, &losses, 0, 0).unwrap();
    let s = c.suggest(Rule::Plateau).unwrap();
    assert!((s.lr - 1e-2).abs() < 1e-12, "{}", s.lr);
    assert_eq!(s.mark, (s.lr, 2.0));
    // A sharp valley has no plateau: its middle is the lowest point itself.
    let sharp = Curve::new(&lrs, &[3.0, 2.8, 2.5, 2.2, 2.0, 2.5, 3.0, 4.0, 6.0], 0, 0).unwrap();
    assert_eq!(sharp.plateau().lr, sharp.lowest().lr);
    // A curve that never rises again: the plateau runs to the end of the sweep.
    let open = Curve::new(
        &lrs,
        &[3.0, 2.0, 1.5, 1.15, 1.05, 1.0, 1.02, 1.01, 1.03],
        0,
        0,
    )
    .unwrap();
    let s = open.plateau();
    assert!((s.lr - (1e-4f64 * 10.0).sqrt()).abs() < 1e-12, "{}", s.lr);
}

#[test]
fn min_grad_uses_numpy_s_gradient_per_point() {
    // numpy.gradient: −0.1, −0.5, −0.55, −0.15, 1.1, 2.3 → index 2 (steep, per log LR, says 1).
    let losses = [5.0, 4.9, 4.0, 3.8, 3.7, 6.0];
    let g = gradient(&losses);
    let expected = [-0.1, -0.5, -0.55, -0.15, 1.1, 2.3];
    for (a, b) in g.iter().zip(expected) {
        assert!((a - b).abs() < 1e-12, "{g:?}");
    }
    let lrs = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5];
    let c = Curve::new(&lrs, &losses, 0, 0).unwrap();
    assert_eq!(c.min_grad().lr, 100.0);
    assert_eq!(c.suggest(Rule::MinGrad).unwrap().mark, (100.0, 4.0));
}

#[test]
fn slide_walks_left_until_gradients_fifteen_points_apart_agree() {
    // Falling with slope −0.1 up to index 20, then rising by 0.5 a point: gradients are −0.1
    // up to 19, 0.2 at 20, 0.5 after. Pairs (r, r − 15) from (29, 14) down to (20, 5) differ by
    // more than 0.005; (19, 4) agree, so the last l tried before, 5, is the suggestion.
    let losses: Vec<f64> = (0..30)
        .map(|i| {
            if i <= 20 {
                3.0 - 0.1 * i as f64
            } else {
                1.0 + 0.5 * (i - 20) as f64
            }
        })
        .collect();
    let c = curve(&losses);
    let s = c.suggest(Rule::Slide).unwrap();
    assert_eq!(s.lr, lr_grid(30)[5]);
    assert!((s.mark.1 - 2.5).abs() < 1e-12, "{:?}", s.mark);
    // A straight line agrees at once: the first l tried, n − 16.
    let line: Vec<f64> = (0..20).map(|i| 3.0 - 0.1 * i as f64).collect();
    assert_eq!(
        curve(&line).slide(15, 0.005, 1.0).unwrap().lr,
        lr_grid(20)[4]
    );
    // adjust_value scales the answer; the mark interpolates the loss on log LR.
    let s = curve(&line).slide(15, 0.005, 0.5).unwrap();
    assert_eq!(s.lr, lr_grid(20)[4] * 0.5);
    // 0.5 is 0.30103 decades, 3.0103 grid steps: from index 4 back to 0.9897, loss 2.90103.
    let at = 4.0 - 0.5f64.log10().abs() * 10.0;
    assert!((s.mark.1 - (3.0 - 0.1 * at)).abs() < 1e-9, "{:?}", s.mark);
}

#[test]
fn slide_needs_sixteen_points() {
    let losses: Vec<f64> = (0..15).map(|i| 3.0 - 0.1 * i as f64).collect();
    let err = curve(&losses).suggest(Rule::Slide).unwrap_err();
    assert_eq!(
        err.to_string(),
        "slide needs at least 16 points, the curve has 15"
    );
}

#[test]
fn interp_is_linear_between_points_and_clamped_outside() {
    let xs = [0.0, 1.0, 3.0];
    let ys = [10.0, 20.0, 0.0];
    assert_eq!(interp(0.5, &xs, &ys), 15.0);
    assert_eq!(interp(2.0, &xs, &ys), 10.0);
    assert_eq!(interp(1.0, &xs, &ys), 20.0);
    assert_eq!(interp(-4.0, &xs, &ys), 10.0);
    assert_eq!(interp(9.0, &xs, &ys), 0.0);
}

#[test]
fn skips_drop_points_at_both_ends_before_the_rules_see_the_curve() {
    let lrs = lr_grid(30);
    let losses: Vec<f64> = (0..30).map(|i| ((i as f64) - 20.0).powi(2)).collect();
    let c = Curve::new(&lrs, &losses, 3, 5).unwrap();
    assert_eq!(c.lrs(), &lrs[3..25]);
    assert_eq!(c.losses(), &losses[3..25]);
    // fastai's lr_find skips num_it/10 and 5.
    assert_eq!(Curve::fastai(&lrs, &losses, 30).unwrap().lrs(), &lrs[3..25]);
    // The minimum at index 20 survives; lowered after index 25, it would be skipped.
    assert_eq!(c.minimum().mark.0, lrs[20]);
}

#[test]
fn a_nan_in_the_middle_cuts_the_curve_before_it() {
    let lrs = lr_grid(12);
    let mut losses = vec![
        5.0,
        4.0,
        3.0,
        2.0,
        1.5,
        1.0,
        f64::NAN,
        0.1,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    let c = Curve::new(&lrs, &losses, 0, 0).unwrap();
    assert_eq!(c.losses(), &losses[..6]);
    assert_eq!(c.minimum().lr, lrs[5] / 10.0);
    // Infinity counts as well; a NaN among the skipped first points does not matter.
    losses[6] = f64::INFINITY;
    losses[0] = f64::NAN;
    assert_eq!(Curve::new(&lrs, &losses, 1, 0).unwrap().losses().len(), 5);
}

#[test]
fn unusable_curves_are_refused_with_a_reason() {
    let lrs = lr_grid(10);
    let falling: Vec<f64> = (0..10).map(|i| 10.0 - i as f64).collect();
    let err = Curve::new(&lrs, &falling, 5, 4).unwrap_err();
    assert_eq!(
        err,
        SuggestError::TooFewPoints {
            points: 10,
            skip_start: 5,
            skip_end: 4
        }
    );
    assert!(err
        .to_string()
        .contains("too few to drop 5 at the start and 4 at the end"));
    assert!(Curve::new(&lrs, &falling, 4, 4).is_ok());

    let mut nan_early = falling.clone();
    nan_early[1] = f64::NAN;
    assert!(matches!(
        Curve::new(&lrs, &nan_early, 0, 0),
        Err(SuggestError::NotFinite { kept: 1, .. })
    ));

    let flat = vec![2.5; 10];
    assert!(matches!(
        Curve::new(&lrs, &flat, 0, 0),
        Err(SuggestError::Flat { .. })
    ));
    let rising: Vec<f64> = (0..10).map(|i| (i / 2) as f64).collect();
    let err = Curve::new(&lrs, &rising, 0, 0).unwrap_err();
    assert!(err.to_string().contains("never falls"), "{err}");

    assert!(matches!(
        Curve::new(&lrs[..9], &falling, 0, 0),
        Err(SuggestError::Lengths { lrs: 9, losses: 10 })
    ));
    let mut bad_lr = lrs.clone();
    bad_lr[4] = 0.0;
    assert!(matches!(
        Curve::new(&bad_lr, &falling, 0, 0),
        Err(SuggestError::BadLr { index: 4, .. })
    ));
}

#[test]
fn rules_parse_from_their_names() {
    assert_eq!("valley".parse::<Rule>().unwrap(), Rule::Valley);
    assert_eq!("min-grad".parse::<Rule>().unwrap(), Rule::MinGrad);
    assert_eq!("min_grad".parse::<Rule>().unwrap(), Rule::MinGrad);
    assert_eq!(Rule::MinGrad.to_string(), "min_grad");
    assert!("lowest-loss"
        .parse::<Rule>()
        .unwrap_err()
        .to_string()
        .contains("unknown"));
    let names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        ["valley", "steep", "minimum", "slide", "min_grad", "lowest", "plateau"]
    );
    assert_eq!("plateau".parse::<Rule>().unwrap(), Rule::Plateau);
}

/// fastai's `valley` word for word (the O(n²) double loop): the index it picks.
fn fastai_valley_index(l: &[f64]) -> usize {
    let n = l.len();
    let mut lds = vec![1usize; n];
    let (mut max_start, mut max_end) = (0isize, 0usize);
    for i in 1..n {
        for j in 0..i {
            if l[i] < l[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[max_end] < lds[i] {
                max_end = i;
                max_start = max_end as isize - lds[max_end] as isize;
            }
        }
    }
    let sections = (max_end as isize - max_start) as f64 / 3.0;
    let idx = max_start + sections as isize + (sections / 2.0) as isize;
    if idx < 0 {
        (idx + n as isize) as usize
    } else {
        idx as usize
    }
}

proptest::proptest! {
    #[test]
    fn valley_picks_what_fastai_s_quadratic_loop_picks(
        losses in proptest::collection::vec(0u8..12, 2..60)
    ) {
        // Few distinct values, so that ties and equal neighbours are common.
        let losses: Vec<f64> = losses.iter().map(|&v| f64::from(v)).collect();
        proptest::prop_assume!(losses.windows(2).any(|w| w[1] < w[0]));
        let lrs = lr_grid(losses.len());
        let c = Curve::new(&lrs, &losses, 0, 0).unwrap();
        proptest::prop_assert_eq!(c.valley().lr, lrs[fastai_valley_index(&losses)]);
    }
}

#[test]
fn valley_takes_two_million_points() {
    // A noisy descent then a rise: fastai's O(n²) loop would take hours here.
    let n = 2_000_000;
    let losses: Vec<f64> = (0..n)
        .map(|i| {
            let x = i as f64 / n as f64;
            (x - 0.6).powi(2) + 0.01 * ((i * 7919 % 1000) as f64 / 1000.0)
        })
        .collect();
    let lrs: Vec<f64> = (0..n)
        .map(|i| 1e-7 * 1e8f64.powf(i as f64 / n as f64))
        .collect();
    let s = Curve::new(&lrs, &losses, 0, 0).unwrap().valley();
    // A pick inside the curve, not at either end.
    assert!(s.lr > lrs[n / 10] && s.lr < lrs[9 * n / 10], "{}", s.lr);
}
