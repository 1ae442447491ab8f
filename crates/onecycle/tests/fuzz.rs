//! Fuzzing checkpoint files: a real checkpoint with random bytes replaced, inserted or cut must
//! load as a checkpoint or be refused with an error naming the file, never panic or abort, and
//! a refused one must leave the model as it was. A short run here;
//! `ONECYCLE_FUZZ_CASES=100000 cargo test -p onecycle --test fuzz` runs a long one.

#[path = "../../../tests/fuzz_support.rs"]
mod fuzz;

use onecycle::data::TensorData;
use onecycle::learner::{mse, Learner};
use proptest::prelude::*;
use schedule::{ConstantParams, Policy};
use tch::{nn, Device, Kind, Tensor};

fn learner() -> Learner<TensorData> {
    let x = Tensor::ones([16, 3], (Kind::Float, Device::Cpu));
    let data = TensorData {
        train: (x.shallow_clone(), x.sum_dim_intlist(1, true, Kind::Float)),
        valid: None,
        batch_size: 8,
        shuffle: false,
        seed: 0,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = nn::linear(vs.root() / "fc", 3, 1, Default::default());
    Learner::builder(vs, net, data).loss(mse()).build().unwrap()
}

fn weights(l: &Learner<TensorData>) -> Vec<f32> {
    let w = l.var_store().variables()["fc.weight"].flatten(0, -1);
    Vec::try_from(&w).unwrap()
}

proptest! {
    #![proptest_config(fuzz::config(64))]

    #[test]
    fn checkpoints_never_panic(edits in fuzz::edits(6)) {
        let dir = std::env::temp_dir().join(format!("onecycle-fuzz-{}", std::process::id()));
        let path = dir.join("last.safetensors");
        let mut l = learner();
        l.fit(1, &Policy::Constant(ConstantParams { lr: 0.01, momentum: None })).unwrap();
        l.save_checkpoint(&path, Default::default()).unwrap();
        let bytes = fuzz::mutate(std::fs::read(&path).unwrap(), &edits, None);
        std::fs::write(&path, &bytes).unwrap();
        let mut fresh = learner();
        let before = weights(&fresh);
        if let Err(err) = fresh.load_checkpoint(&path) {
            prop_assert!(format!("{err:#}").contains("last.safetensors"), "{:#}", err);
            prop_assert_eq!(weights(&fresh), before, "a refused checkpoint changed the model");
        }
    }
}
