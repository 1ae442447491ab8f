//! David Page's ResNet-9 from "How to train your ResNet" (the DAWNBench CIFAR-10 winner, 94 % in 24
//! epochs): conv-BN-ReLU blocks of 3×3 convs without bias, max-pooling between the widths
//! 64/128/256/512, two residual pairs, a global max pool and a bias-free classifier scaled by 0.125.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::{batch_norm2d, conv2d, group_path, linear, BatchNorm};

/// Layer groups, input → output.
pub(crate) const GROUPS: [&str; 5] = ["prep", "layer1", "layer2", "layer3", "head"];

/// Page's scaling of the logits (his `Mul(0.125)` layer).
const OUTPUT_SCALE: f64 = 0.125;

/// ResNet-9. Variables: `prep.{conv,bn}`, `layer{1,2,3}.{conv,bn}`, `layer{1,3}.res{1,2}.{conv,bn}`,
/// `head.fc` (weight only).
#[derive(Debug)]
pub struct ResNet9 {
    prep: ConvBn,
    layer1: ConvBn,
    res1: (ConvBn, ConvBn),
    layer2: ConvBn,
    layer3: ConvBn,
    res3: (ConvBn, ConvBn),
    fc: nn::Linear,
}

impl ResNet9 {
    pub fn new(vs: &nn::Path, num_classes: i64) -> Self {
        let prep = group_path(vs, &GROUPS, 0);
        let l1 = group_path(vs, &GROUPS, 1);
        let l2 = group_path(vs, &GROUPS, 2);
        let l3 = group_path(vs, &GROUPS, 3);
        let head = group_path(vs, &GROUPS, 4);
        ResNet9 {
            prep: ConvBn::new(&prep, 3, 64),
            layer1: ConvBn::new(&l1, 64, 128),
            res1: (
                ConvBn::new(&l1.sub("res1"), 128, 128),
                ConvBn::new(&l1.sub("res2"), 128, 128),
            ),
            layer2: ConvBn::new(&l2, 128, 256),
            layer3: ConvBn::new(&l3, 256, 512),
            res3: (
                ConvBn::new(&l3.sub("res1"), 512, 512),
                ConvBn::new(&l3.sub("res2"), 512, 512),
            ),
            fc: linear(head.sub("fc"), 512, num_classes, false),
        }
    }
}

impl ModuleT for ResNet9 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let residual = |x: Tensor, (a, b): &(ConvBn, ConvBn)| {
            let r = b.forward_t(&a.forward_t(&x, train), train);
            x + r
        };
        let x = self.prep.forward_t(xs, train);
        let x = self.layer1.forward_t(&x, train).max_pool2d_default(2);
        let x = residual(x, &self.res1);
        let x = self.layer2.forward_t(&x, train).max_pool2d_default(2);
        let x = self.layer3.forward_t(&x, train).max_pool2d_default(2);
        let x = residual(x, &self.res3);
        let (x, _) = x.adaptive_max_pool2d([1, 1]);
        x.flatten(1, -1).apply(&self.fc) * OUTPUT_SCALE
    }
}

/// 3×3 conv (no bias) → BatchNorm → ReLU, under `conv` and `bn`.
#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(vs: &nn::Path, c_in: i64, c_out: i64) -> Self {
        ConvBn {
            conv: conv2d(vs.sub("conv"), c_in, c_out, 3, 1, false),
            bn: batch_norm2d(vs.sub("bn"), c_out),
        }
    }
}

impl ModuleT for ConvBn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.apply(&self.conv).apply_t(&self.bn, train).relu()
    }
}
