//! Every bad hyper-parameter is rejected once, at construction, with a message naming the field;
//! asking for a step past the end is an error, not a clamp.

use schedule::*;

/// The error message of a failed build; panics if the build succeeded.
fn err(r: Result<impl Schedule, ScheduleError>) -> String {
    match r {
        Ok(_) => panic!("expected a validation error"),
        Err(e) => e.to_string(),
    }
}

fn oc(p: OneCycleParams, n: usize) -> String {
    err(OneCycle::new(&p, n))
}

fn base() -> OneCycleParams {
    OneCycleParams {
        max_lr: 1.0,
        ..Default::default()
    }
}

#[test]
fn pct_start_outside_the_unit_interval() {
    let p = OneCycleParams {
        pct_start: Some(1.3),
        ..base()
    };
    assert_eq!(oc(p, 100), "pct_start must be in (0, 1), got 1.3");
    for conv in [Convention::Fastai, Convention::Fastai1] {
        let p = OneCycleParams {
            pct_start: Some(0.0),
            convention: conv,
            ..base()
        };
        assert_eq!(oc(p, 100), "pct_start must be in (0, 1), got 0");
    }
}

#[test]
fn zero_or_non_finite_div() {
    let p = OneCycleParams {
        div: Some(0.0),
        ..base()
    };
    assert_eq!(oc(p, 100), "div must be a finite number > 0, got 0");
    let p = OneCycleParams {
        div: Some(f64::INFINITY),
        ..base()
    };
    assert_eq!(oc(p, 100), "div must be a finite number > 0, got inf");
}

#[test]
fn zero_steps() {
    assert_eq!(oc(base(), 0), "steps must be at least 1, got 0");
    let c = ConstantParams {
        lr: 0.1,
        momentum: None,
    };
    assert_eq!(err(Constant::new(&c, 0)), "steps must be at least 1, got 0");
}

#[test]
fn momentum_out_of_range() {
    let c = ConstantParams {
        lr: 0.1,
        momentum: Some(1.5),
    };
    assert_eq!(
        err(Constant::new(&c, 10)),
        "momentum must be in [0, 1), got 1.5"
    );
    let p = OneCycleParams {
        moms: MomsSetting::Values(vec![0.95, 1.5]),
        ..base()
    };
    assert_eq!(oc(p, 100), "moms[1] must be a momentum in [0, 1), got 1.5");
    let p = ClrBetaParams {
        max_lr: 1.0,
        div: 10.0,
        pct: 10.0,
        moms: Some([-0.1, 0.85]),
    };
    assert_eq!(
        err(ClrBeta::new(&p, 100)),
        "moms[0] must be a momentum in [0, 1), got -0.1"
    );
}

#[test]
fn moms_of_the_wrong_length() {
    let p = OneCycleParams {
        moms: MomsSetting::Values(vec![0.9]),
        ..base()
    };
    assert_eq!(
        oc(p, 100),
        "moms must have 2 or 3 values (start, peak[, end]), got 1"
    );
}

#[test]
fn nan_max_lr() {
    let p = OneCycleParams {
        max_lr: f64::NAN,
        ..base()
    };
    assert_eq!(oc(p, 100), "max_lr must be a finite number > 0, got NaN");
    let p = CyclicParams {
        base_lr: -0.1,
        max_lr: 1.0,
        step_size_up: 2,
        ..Default::default()
    };
    assert_eq!(
        err(Cyclic::new(&p, 10)),
        "base_lr must be a finite number > 0, got -0.1"
    );
}

#[test]
fn final_div_and_final_div_factor_together() {
    let p = OneCycleParams {
        final_div: Some(1e5),
        final_div_factor: Some(1e4),
        ..base()
    };
    let msg = oc(p, 100);
    assert!(msg.starts_with("final_div and final_div_factor"), "{msg}");
}

#[test]
fn phases_or_anneal_with_a_fastai_convention() {
    let p = OneCycleParams {
        convention: Convention::Fastai,
        phases: Some(3),
        ..base()
    };
    let msg = oc(p, 100);
    assert!(
        msg.starts_with("phases applies only to the pytorch convention"),
        "{msg}"
    );
    let p = OneCycleParams {
        convention: Convention::Fastai1,
        anneal: Some(Anneal::Linear),
        ..base()
    };
    let msg = oc(p, 100);
    assert!(
        msg.starts_with("anneal applies only to the pytorch convention"),
        "{msg}"
    );
}

#[test]
fn phases_other_than_2_or_3() {
    let p = OneCycleParams {
        phases: Some(4),
        ..base()
    };
    assert_eq!(oc(p, 100), "phases must be 2 or 3, got 4");
}

#[test]
fn pytorch_phase_ends_that_do_not_increase() {
    // 0.3 · 3 − 1 = −0.1: the warm-up would end before it starts.
    let msg = oc(base(), 3);
    assert!(msg.starts_with("pct_start = 0.3 with steps = 3"), "{msg}");
    // three phases: 2 · 0.6 · 10 − 2 = 10 > 9 = n − 1.
    let p = OneCycleParams {
        pct_start: Some(0.6),
        phases: Some(3),
        ..base()
    };
    assert!(oc(p, 10).contains("strictly increasing"));
}

#[test]
fn clr_beta_half_cycle_must_be_a_step() {
    let p = ClrBetaParams {
        max_lr: 1.0,
        div: 10.0,
        pct: 50.0,
        moms: None,
    };
    let msg = err(ClrBeta::new(&p, 3));
    assert!(msg.starts_with("pct = 50 with steps = 3"), "{msg}");
    let p = ClrBetaParams { pct: 100.0, ..p };
    assert_eq!(
        err(ClrBeta::new(&p, 100)),
        "pct must be a percentage in [0, 100), got 100"
    );
}

#[test]
fn milestones_must_increase_and_fit() {
    let p = StepsParams {
        lr: 0.1,
        milestones: vec![3, 3],
        ..Default::default()
    };
    assert_eq!(
        err(Steps::new(&p, 10)),
        "milestones must be strictly increasing, got [3, 3]"
    );
    let p = StepsParams {
        milestones: vec![3, 12],
        ..p
    };
    assert_eq!(
        err(Steps::new(&p, 10)),
        "milestones must be below steps = 10, got 12"
    );
}

#[test]
fn sgdr_cycle_parameters() {
    let p = SgdrParams {
        max_lr: 0.1,
        cycle_len: 5,
        cycle_mult: Some(0),
        ..Default::default()
    };
    assert_eq!(
        err(Sgdr::new(&p, 10)),
        "cycle_mult must be an integer >= 1, got 0"
    );
    let p = SgdrParams {
        cycle_len: 0,
        cycle_mult: None,
        ..p
    };
    assert_eq!(
        err(Sgdr::new(&p, 10)),
        "cycle_len must be at least 1, got 0"
    );
    let p = SgdrParams {
        cycle_len: 5,
        min_lr: Some(-1.0),
        ..p
    };
    assert_eq!(
        err(Sgdr::new(&p, 10)),
        "min_lr must be a finite number >= 0, got -1"
    );
}

#[test]
fn other_schedules_name_their_fields() {
    let p = CyclicParams {
        base_lr: 0.1,
        max_lr: 1.0,
        step_size_up: 0,
        ..Default::default()
    };
    assert_eq!(
        err(Cyclic::new(&p, 10)),
        "step_size_up must be at least 1, got 0"
    );
    let p = CyclicParams {
        step_size_up: 2,
        gamma: Some(0.0),
        ..p
    };
    assert_eq!(
        err(Cyclic::new(&p, 10)),
        "gamma must be a finite number > 0, got 0"
    );
    let p = FlatCosParams {
        lr: 0.1,
        pct_start: Some(1.0),
        ..Default::default()
    };
    assert_eq!(
        err(FlatCos::new(&p, 10)),
        "pct_start must be in (0, 1), got 1"
    );
    let p = SweepParams {
        start_lr: 1e-7,
        end_lr: 0.0,
        ..Default::default()
    };
    assert_eq!(
        err(Sweep::new(&p, 10)),
        "end_lr must be a finite number > 0, got 0"
    );
    // A sweep runs upwards: the range test's divergence stop and suggestions need a rising LR.
    for end_lr in [1e-3, 1.0] {
        let p = SweepParams {
            start_lr: 1.0,
            end_lr,
            ..Default::default()
        };
        assert_eq!(
            err(Sweep::new(&p, 10)),
            format!(
                "end_lr must be above start_lr (the sweep raises the LR), got start_lr 1 and \
                 end_lr {end_lr}"
            )
        );
    }
}

#[test]
fn asking_past_the_end_is_an_error() {
    let s = OneCycle::new(&base(), 100).unwrap();
    assert!(s.at(99).is_ok());
    assert_eq!(
        s.at(100),
        Err(ScheduleError::PastEnd {
            step: 100,
            steps: 100
        })
    );
    assert_eq!(s.points().len(), 100);
}

/// `moms` rising with the LR (`--moms 0.85,0.95`: start 0.85, peak 0.95) is accepted, not an
/// error: PyTorch's `OneCycleLR` takes `base_momentum > max_momentum` without a check and
/// fastai's `fit_one_cycle` takes any `moms`, and Smith (2018) himself compares
/// increasing against decreasing momentum, so the reversed cycle is a real experiment. Each
/// value is still checked to be a momentum in [0, 1).
#[test]
fn reversed_moms_are_accepted_and_followed() {
    for convention in [Convention::Pytorch, Convention::Fastai, Convention::Fastai1] {
        let s = OneCycle::new(
            &OneCycleParams {
                convention,
                moms: MomsSetting::Values(vec![0.85, 0.95]),
                ..base()
            },
            100,
        )
        .unwrap();
        let moms: Vec<f64> = s.points().iter().map(|p| p.momentum.unwrap()).collect();
        assert!((moms[0] - 0.85).abs() < 1e-12, "{convention:?}: {moms:?}");
        let peak = moms.iter().cloned().fold(f64::MIN, f64::max);
        assert!((peak - 0.95).abs() < 1e-9, "{convention:?}: {peak}");
        assert!(moms[99] < 0.86, "{convention:?}: {moms:?}");
    }
}
