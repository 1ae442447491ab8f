//! ResNet-50 in torchvision's layout (v1.5: the stride sits on the 3×3 conv of a bottleneck), the
//! network of fast.ai's DAWNBench ImageNet entry: a 7×7 stride-2 stem conv and a 3×3 stride-2 max
//! pool, four stages of [3, 4, 6, 3] bottleneck blocks (expansion 4) at 64/128/256/512 planes,
//! global average pooling and a linear classifier. 25,557,032 parameters for 1000 classes, as
//! torchvision's `resnet50()`.
//!
//! Initialisation is PyTorch's module default like the other models, except that the last
//! BatchNorm of every block starts with weight 0 (torchvision's `zero_init_residual=True`, fast.ai's
//! `--init-bn0`): each block starts as the identity, which makes the large-batch warm-up stable.

use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

use super::{batch_norm2d, conv2d, global_avg_pool, group_path, linear, BatchNorm};

/// Layer groups, input → output.
pub(crate) const GROUPS: [&str; 6] = ["stem", "layer1", "layer2", "layer3", "layer4", "head"];

/// Blocks per stage of ResNet-50.
const BLOCKS: [i64; 4] = [3, 4, 6, 3];

/// Output channels of a bottleneck are `EXPANSION ×` its planes.
const EXPANSION: i64 = 4;

/// ResNet-50. Variables: `stem.{conv,bn}`, `layer{s}.{b}.{conv1,bn1,conv2,bn2,conv3,bn3}` (plus
/// `layer{s}.0.downsample.{conv,bn}`), `head.fc`.
#[derive(Debug)]
pub struct ResNet50 {
    conv: nn::Conv2D,
    bn: BatchNorm,
    blocks: Vec<Bottleneck>,
    fc: nn::Linear,
}

impl ResNet50 {
    pub fn new(vs: &nn::Path, num_classes: i64) -> Self {
        let stem = group_path(vs, &GROUPS, 0);
        let conv = conv2d(stem.sub("conv"), 3, 64, 7, 2, false);
        let bn = batch_norm2d(stem.sub("bn"), 64);
        let mut blocks = Vec::new();
        let mut c_in = 64;
        for (s, (planes, n)) in [64, 128, 256, 512].into_iter().zip(BLOCKS).enumerate() {
            let stage = group_path(vs, &GROUPS, s + 1);
            for b in 0..n {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                blocks.push(Bottleneck::new(&stage.sub(b), c_in, planes, stride));
                c_in = planes * EXPANSION;
            }
        }
        let head = group_path(vs, &GROUPS, 5);
        let fc = linear(head.sub("fc"), c_in, num_classes, true);
        ResNet50 {
            conv,
            bn,
            blocks,
            fc,
        }
    }
}

impl ModuleT for ResNet50 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs
            .apply(&self.conv)
            .apply_t(&self.bn, train)
            .relu()
            .max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        global_avg_pool(&x).apply(&self.fc)
    }
}

/// 1×1 reduce → 3×3 (strided) → 1×1 expand, each followed by BatchNorm, ReLU between; the
/// (projected) input is added before the final ReLU.
#[derive(Debug)]
struct Bottleneck {
    conv1: nn::Conv2D,
    bn1: BatchNorm,
    conv2: nn::Conv2D,
    bn2: BatchNorm,
    conv3: nn::Conv2D,
    bn3: BatchNorm,
    /// A strided 1×1 conv + BatchNorm where the shape changes; otherwise the identity.
    downsample: Option<(nn::Conv2D, BatchNorm)>,
}

impl Bottleneck {
    fn new(vs: &nn::Path, c_in: i64, planes: i64, stride: i64) -> Self {
        let c_out = planes * EXPANSION;
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let p = vs.sub("downsample");
            (
                conv2d(p.sub("conv"), c_in, c_out, 1, stride, false),
                batch_norm2d(p.sub("bn"), c_out),
            )
        });
        let zero_gamma = nn::BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
            ws_init: Init::Const(0.0),
            bs_init: Init::Const(0.0),
            ..Default::default()
        };
        Bottleneck {
            conv1: conv2d(vs.sub("conv1"), c_in, planes, 1, 1, false),
            bn1: batch_norm2d(vs.sub("bn1"), planes),
            conv2: conv2d(vs.sub("conv2"), planes, planes, 3, stride, false),
            bn2: batch_norm2d(vs.sub("bn2"), planes),
            conv3: conv2d(vs.sub("conv3"), planes, c_out, 1, 1, false),
            bn3: BatchNorm::new(vs.sub("bn3"), 2, c_out, zero_gamma),
            downsample,
        }
    }
}

impl ModuleT for Bottleneck {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train)
            .relu()
            .apply(&self.conv3)
            .apply_t(&self.bn3, train);
        let identity = match &self.downsample {
            Some((conv, bn)) => xs.apply(conv).apply_t(bn, train),
            None => xs.shallow_clone(),
        };
        (out + identity).relu()
    }
}
