//! airbench94's network: its shape and trained parameters, the identity-initialised convolutions,
//! the frozen weights, and whitening filters that decorrelate 2×2 patches to unit variance.

use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use vision::models::{build, whitening_filters, ModelName};

fn trained(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn the_network_trains_conv_weights_bn_biases_whitening_bias_and_head_only() {
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(ModelName::Speedrun, &vs.root(), 10);
    // Convs 64·24·9 + 64·64·9, 256·64·9 + 256·256·9, 2 × 256·256·9; BN biases 2·(64 + 256 + 256);
    // the whitening bias 24; the head 10·256.
    let count: i64 = trained(&vs).iter().map(|(_, t)| t.numel() as i64).sum();
    assert_eq!(count, 1_971_352);
    let vars = vs.variables();
    assert_eq!(vars["whiten.weight"].size(), [24, 3, 2, 2]);
    for frozen in ["whiten.weight", "block1.bn1.weight", "block3.bn2.weight"] {
        assert!(!vars[frozen].requires_grad(), "{frozen} must not train");
    }
    assert!(vars["whiten.bias"].requires_grad() && vars["block2.bn1.bias"].requires_grad());
    // Every conv starts as the identity on its first input-many filters.
    let w = &vars["block1.conv1.weight"];
    let centre = w.narrow(0, 0, 24).select(3, 1).select(2, 1);
    assert!(centre.equal(&Tensor::eye(24, (Kind::Float, Device::Cpu))));
    let off = w.narrow(0, 0, 24).copy();
    let _ = off.select(3, 1).select(2, 1).zero_();
    assert_eq!(off.abs().sum(Kind::Float).double_value(&[]), 0.0);
    assert!(w.narrow(0, 24, 40).abs().sum(Kind::Float).double_value(&[]) > 0.0);
    // 32×32 and 16×16 images give logits; the head is scaled by 1/9.
    for side in [32, 16] {
        let x = Tensor::randn([4, 3, side, side], (Kind::Float, Device::Cpu));
        assert_eq!(model.forward_t(&x, true).size(), [4, 10]);
    }
    assert_eq!(ModelName::Speedrun.min_size(), 16);
}

#[test]
fn whitening_filters_decorrelate_patches_to_unit_variance() {
    tch::manual_seed(0);
    // Correlated pixels: noise blurred across neighbours and channels.
    let noise = Tensor::randn([64, 3, 12, 12], (Kind::Double, Device::Cpu));
    let images =
        (&noise + noise.roll([1], [3]) * 0.8 + noise.roll([1], [1]) * 0.5).to_kind(Kind::Float);
    let filters = whitening_filters(&images, 0.0);
    assert_eq!(filters.size(), [24, 3, 2, 2]);
    let out = images
        .conv2d::<Tensor>(&filters, None, [1, 1], [0, 0], [1, 1], 1)
        .to_kind(Kind::Double);
    let first = out.narrow(1, 0, 12).permute([1, 0, 2, 3]).reshape([12, -1]);
    let n = first.size()[1] as f64;
    let covariance = first.matmul(&first.transpose(0, 1)) / n;
    let eye = Tensor::eye(12, (Kind::Double, Device::Cpu));
    let err = (covariance - eye).abs().max().double_value(&[]);
    assert!(err < 1e-3, "whitened covariance is {err} off the identity");
    // The other 12 are the same filters negated.
    assert!(filters.narrow(0, 12, 12).equal(&-filters.narrow(0, 0, 12)));
    // The model takes them, with the default eps.
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(ModelName::Speedrun, &vs.root(), 10);
    assert!(ModelName::Speedrun.whitens() && !ModelName::ResNet9.whitens());
    model.init_whitening(&images);
    let want = whitening_filters(&images, vision::models::WHITENING_EPS);
    assert!(vs.variables()["whiten.weight"].allclose(&want, 1e-6, 1e-6, false));
}
