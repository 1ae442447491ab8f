//! Properties every schedule must have, over randomly drawn valid hyper-parameters.

use proptest::prelude::*;
use schedule::*;

/// A valid 1cycle configuration of any convention, with default momentum.
fn one_cycle_params() -> impl Strategy<Value = OneCycleParams> {
    let pytorch = (
        0.05f64..0.45,
        prop_oneof![Just(Anneal::Cos), Just(Anneal::Linear)],
        2usize..=3,
    )
        .prop_map(|(pct, anneal, phases)| OneCycleParams {
            convention: Convention::Pytorch,
            pct_start: Some(pct),
            anneal: Some(anneal),
            phases: Some(phases),
            ..Default::default()
        });
    let fastai = (
        0.05f64..0.95,
        prop_oneof![Just(Convention::Fastai), Just(Convention::Fastai1)],
    )
        .prop_map(|(pct, convention)| OneCycleParams {
            convention,
            pct_start: Some(pct),
            ..Default::default()
        });
    (
        prop_oneof![pytorch, fastai],
        1e-4f64..10.0,
        2.0f64..100.0,
        prop_oneof![Just(None), (10.0f64..1e6).prop_map(Some)],
    )
        .prop_map(|(p, max_lr, div, final_div)| OneCycleParams {
            max_lr,
            div: Some(div),
            final_div,
            ..p
        })
}

/// The shortest phase as a fraction of the steps, for continuity bounds.
fn shortest_phase(p: &OneCycleParams) -> f64 {
    let pct = p.pct_start.unwrap();
    if p.phases == Some(3) {
        pct.min(1.0 - 2.0 * pct)
    } else {
        pct.min(1.0 - pct)
    }
}

/// Any valid policy over `n` steps (n drawn separately).
fn any_policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        one_cycle_params().prop_map(Policy::OneCycle),
        (1e-3f64..5.0, 2.0f64..50.0, 0.0f64..30.0).prop_map(|(max_lr, div, pct)| {
            Policy::ClrBeta(ClrBetaParams {
                max_lr,
                div,
                pct,
                moms: Some([0.95, 0.85]),
            })
        }),
        (
            1e-4f64..0.1,
            1.0f64..20.0,
            1usize..50,
            0usize..50,
            0usize..3,
            0.9f64..1.0
        )
            .prop_map(|(base_lr, mult, up, down, mode, gamma)| Policy::Cyclic(
                CyclicParams {
                    base_lr,
                    max_lr: base_lr * mult,
                    step_size_up: up,
                    step_size_down: Some(down),
                    mode: [
                        CyclicMode::Triangular,
                        CyclicMode::Triangular2,
                        CyclicMode::ExpRange
                    ][mode],
                    gamma: Some(gamma),
                    moms: Some([0.95, 0.85]),
                }
            )),
        (1e-3f64..1.0, 0.0f64..1e-3, 1usize..100, 1usize..4).prop_map(
            |(max_lr, min_lr, cycle_len, mult)| Policy::Sgdr(SgdrParams {
                max_lr,
                min_lr: Some(min_lr),
                cycle_len,
                cycle_mult: Some(mult),
                momentum: Some(0.9),
            })
        ),
        (1e-3f64..1.0, 0.05f64..0.95).prop_map(|(lr, pct)| Policy::FlatCos(FlatCosParams {
            lr,
            pct_start: Some(pct),
            ..Default::default()
        })),
        (1e-3f64..1.0).prop_map(|lr| Policy::Constant(ConstantParams { lr, momentum: None })),
        (1e-8f64..1e-5, 1.0f64..10.0, any::<bool>()).prop_map(|(start_lr, end_lr, lin)| {
            Policy::Sweep(SweepParams {
                start_lr,
                end_lr,
                kind: if lin {
                    SweepKind::Linear
                } else {
                    SweepKind::Exponential
                },
                momentum: None,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn one_cycle_lr_rises_to_a_single_peak_then_falls(p in one_cycle_params(), n in 100usize..3000) {
        let s = OneCycle::new(&p, n).unwrap();
        let lrs: Vec<f64> = s.points().iter().map(|q| q.lr).collect();
        let peak = (0..n).max_by(|&a, &b| lrs[a].total_cmp(&lrs[b])).unwrap();
        let eps = 1e-12 * p.max_lr;
        for i in 0..n - 1 {
            if i < peak {
                prop_assert!(lrs[i + 1] >= lrs[i] - eps, "dip before the peak at {}", i);
            } else {
                prop_assert!(lrs[i + 1] <= lrs[i] + eps, "rise after the peak at {}", i);
            }
        }
    }

    #[test]
    fn one_cycle_momentum_moves_against_the_lr(p in one_cycle_params(), n in 100usize..3000) {
        let s = OneCycle::new(&p, n).unwrap();
        let pts = s.points();
        let (eps_lr, eps_m) = (1e-12 * p.max_lr, 1e-12);
        // The pair of steps around the peak straddles the phase boundary: when the boundary
        // falls between two steps (fastai's float position), both values turn there.
        let peak = (0..n).max_by(|&a, &b| pts[a].lr.total_cmp(&pts[b].lr)).unwrap();
        for (i, w) in pts.windows(2).enumerate() {
            if i + 1 == peak || i == peak {
                continue;
            }
            let (dl, dm) = (w[1].lr - w[0].lr, w[1].momentum.unwrap() - w[0].momentum.unwrap());
            if dl > eps_lr {
                prop_assert!(dm <= eps_m, "lr up {} and momentum up {}", dl, dm);
            } else if dl < -eps_lr {
                prop_assert!(dm >= -eps_m, "lr down {} and momentum down {}", dl, dm);
            }
        }
    }

    #[test]
    fn one_cycle_starts_low_peaks_at_max_lr_and_ends_near_final(
        p in one_cycle_params(),
        n in 1000usize..4000,
    ) {
        let s = OneCycle::new(&p, n).unwrap();
        let pts = s.points();
        let tol = 1e-12 * p.max_lr;
        prop_assert!((pts[0].lr - s.initial_lr()).abs() <= tol);
        prop_assert!((pts[0].momentum.unwrap() - 0.95).abs() <= 1e-12);
        let (peak, top) = pts.iter().enumerate().fold((0, 0.0), |acc, (i, q)| {
            if q.lr > acc.1 { (i, q.lr) } else { acc }
        });
        prop_assert!(top <= p.max_lr + tol && top >= 0.99 * p.max_lr, "peak {} of {}", top, p.max_lr);
        prop_assert!((pts[peak].momentum.unwrap() - 0.85).abs() <= 0.01);
        let last = pts[n - 1].lr;
        let final_lr = s.final_lr();
        if p.convention == Convention::Pytorch {
            prop_assert!((last - final_lr).abs() <= tol, "last {} final {}", last, final_lr);
            prop_assert!((pts[n - 1].momentum.unwrap() - 0.95).abs() <= 1e-12);
        } else {
            // one step short of the end: within the last step's cosine tail of the final LR
            let tail = p.max_lr * (std::f64::consts::PI / (shortest_phase(&p) * n as f64 - 2.0)).powi(2);
            prop_assert!(last >= final_lr - tol && last <= final_lr + tail, "last {} final {}", last, final_lr);
        }
    }

    #[test]
    fn one_cycle_adjacent_steps_are_close(p in one_cycle_params(), n in 1000usize..5000) {
        let s = OneCycle::new(&p, n).unwrap();
        let bound = 4.0 / (shortest_phase(&p) * n as f64 - 2.0);
        for w in s.points().windows(2) {
            prop_assert!((w[1].lr - w[0].lr).abs() <= bound * p.max_lr);
            prop_assert!((w[1].momentum.unwrap() - w[0].momentum.unwrap()).abs() <= bound * 0.1);
        }
    }

    #[test]
    fn every_policy_is_finite_positive_and_ends_at_n(policy in any_policy(), n in 40usize..2000) {
        let s = policy.build(n).unwrap();
        prop_assert_eq!(s.steps(), n);
        let pts = s.points();
        prop_assert_eq!(pts.len(), n);
        for (i, q) in pts.iter().enumerate() {
            prop_assert!(q.lr.is_finite() && q.lr > 0.0, "{} lr {} at {}", policy.name(), q.lr, i);
            if let Some(m) = q.momentum {
                prop_assert!((0.0..1.0).contains(&m), "{} momentum {} at {}", policy.name(), m, i);
            }
        }
        prop_assert_eq!(s.at(n).unwrap_err(), ScheduleError::PastEnd { step: n, steps: n });
        prop_assert!(s.at(n + 17).is_err());
    }

    #[test]
    fn cyclic_stays_between_base_and_max(policy in any_policy(), n in 40usize..500) {
        if let Policy::Cyclic(p) = &policy {
            let s = policy.build(n).unwrap();
            for q in s.points() {
                prop_assert!(q.lr >= p.base_lr * (1.0 - 1e-12) && q.lr <= p.max_lr * (1.0 + 1e-12));
                let m = q.momentum.unwrap();
                prop_assert!((0.85 - 1e-12..=0.95 + 1e-12).contains(&m));
            }
        }
    }

    #[test]
    fn sgdr_restarts_at_max_and_decreases_within_a_cycle(
        cycle_len in 1usize..40,
        mult in 1usize..4,
        n in 1usize..500,
    ) {
        let s = Sgdr::new(&SgdrParams { max_lr: 1.0, min_lr: Some(0.01), cycle_len, cycle_mult: Some(mult), momentum: None }, n).unwrap();
        let pts = s.points();
        for i in 0..n {
            let (t_cur, t_i) = s.cycle_position(i);
            prop_assert!(t_cur < t_i);
            if t_cur == 0 {
                prop_assert_eq!(pts[i].lr, 1.0);
            } else {
                prop_assert!(pts[i].lr < pts[i - 1].lr && pts[i].lr > 0.01);
            }
        }
    }

    #[test]
    fn sweeps_increase_from_start_lr_towards_end_lr(
        start in 1e-8f64..1e-3,
        ratio in 10.0f64..1e8,
        lin in any::<bool>(),
        n in 2usize..1000,
    ) {
        let kind = if lin { SweepKind::Linear } else { SweepKind::Exponential };
        let s = Sweep::new(&SweepParams { start_lr: start, end_lr: start * ratio, kind, momentum: None }, n).unwrap();
        let pts = s.points();
        prop_assert_eq!(pts[0].lr, start);
        for w in pts.windows(2) {
            prop_assert!(w[1].lr > w[0].lr);
        }
        prop_assert!(pts[n - 1].lr < start * ratio);
    }

    #[test]
    fn steps_never_increase(lr in 1e-3f64..1.0, gamma in 0.01f64..1.0, n in 10usize..200, cuts in proptest::collection::btree_set(0usize..10, 0..5)) {
        let milestones: Vec<usize> = cuts.into_iter().collect();
        let s = Steps::new(&StepsParams { lr, milestones: milestones.clone(), gamma: Some(gamma), momentum: None }, n).unwrap();
        let pts = s.points();
        for w in pts.windows(2) {
            prop_assert!(w[1].lr <= w[0].lr);
        }
        let k = milestones.len() as i32;
        prop_assert!((pts[n - 1].lr - lr * gamma.powi(k)).abs() <= 1e-12 * lr);
    }
}
