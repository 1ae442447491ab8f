//! Data and a classifier Learner shared by the precision, CUDA, data-parallel and report tests.
#![allow(dead_code)] // each test binary uses its own part

use onecycle::amp::Precision;
use onecycle::data::TensorData;
use onecycle::learner::{cross_entropy, FitSummary, Learner, TrainConfig};
use onecycle::metrics::accuracy;
use schedule::{OneCycleParams, Policy};
use tch::{nn, Device, Kind, Tensor};

/// 8×8 one-channel images whose class (0–3) is the quadrant holding a bright 3×3 blob, plus
/// noise: 512 training and 128 validation images.
pub fn quadrants(seed: i64) -> TensorData {
    tch::manual_seed(seed);
    let make = |n: i64| {
        let y = Tensor::randint(4, [n], (Kind::Int64, Device::Cpu));
        let x = Tensor::randn([n, 1, 8, 8], (Kind::Float, Device::Cpu)) * 0.3;
        let labels: Vec<i64> = Vec::try_from(&y).unwrap();
        for (i, &c) in labels.iter().enumerate() {
            let (r, col) = ((c / 2) * 4, (c % 2) * 4);
            let _ = x
                .get(i as i64)
                .narrow(1, r, 3)
                .narrow(2, col, 3)
                .g_add_scalar_(1.0);
        }
        (x, y)
    };
    TensorData {
        train: make(512),
        valid: Some(make(128)),
        batch_size: 64,
        shuffle: true,
        seed: 3,
    }
}

/// A one-group Learner for a 4-class classifier `net` with accuracy, at `precision`.
pub fn classifier(
    vs: nn::VarStore,
    net: nn::SequentialT,
    data: TensorData,
    precision: Precision,
) -> Learner<TensorData> {
    let mut l = Learner::builder(vs, net, data)
        .loss(cross_entropy(0.0))
        .config(TrainConfig::default())
        .build()
        .unwrap();
    l.add_metric(Box::new(accuracy()));
    l.set_precision(precision).unwrap();
    l
}

/// Trains `l` for five epochs of 1cycle (max LR 0.05) and checks that it learnt with fp32 master
/// weights: the last epoch's training loss under 0.3× the first's, validation accuracy over 0.9,
/// every variable still `Float`. `what` starts each failure message.
pub fn fit_and_check_it_learns(l: &mut Learner<TensorData>, what: &str) -> FitSummary {
    let policy = Policy::OneCycle(OneCycleParams {
        max_lr: 0.05,
        ..Default::default()
    });
    let summary = l.fit(5, &policy).unwrap();
    let first = summary.epochs[0].train_loss;
    let last = summary.epochs.last().unwrap().train_loss;
    assert!(
        last < 0.3 * first,
        "{what}: training loss {first:.4} → {last:.4} did not fall clearly"
    );
    let acc = summary.final_metric("accuracy").unwrap();
    assert!(acc > 0.9, "{what}: validation accuracy {acc}");
    for (name, v) in l.var_store().variables() {
        assert_eq!(v.kind(), Kind::Float, "{what}: {name} stays fp32");
    }
    summary
}
