//! fast.ai's Wide ResNet from their DAWNBench CIFAR-10 entry (`fastai.vision.models.wrn`; `wrn_22`
//! is 3 groups of 3 blocks, widen factor 6). It differs from Zagoruyko & Komodakis' WRN in two ways
//! kept here on purpose: the residual branch is scaled by 0.2, and the identity shortcut carries the
//! block's pre-activated input `relu(bn(x))`, not `x`. Convs have no bias; the PyTorch default
//! initialisation is used (fast.ai's `conv2d` used kaiming-normal).

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::{batch_norm2d, conv2d, global_avg_pool, group_path, linear, BatchNorm};

/// Layer groups, input → output.
pub(crate) const GROUPS: [&str; 5] = ["stem", "group1", "group2", "group3", "head"];

/// fast.ai's scale of the residual branch.
const RESIDUAL_SCALE: f64 = 0.2;

/// A 3-group pre-activation Wide ResNet of depth `6N + 4`. Variables: `stem.conv`,
/// `group{g}.{b}.{bn1,conv1,bn2,conv2}` (plus `group{g}.0.shortcut` where the width changes),
/// `head.{bn,fc}`.
#[derive(Debug)]
pub struct WideResNet {
    conv: nn::Conv2D,
    blocks: Vec<WideBlock>,
    bn: BatchNorm,
    fc: nn::Linear,
}

impl WideResNet {
    /// `n` blocks per group, widths `16k`, `32k`, `64k`; WRN-22 is `n = 3`, fast.ai's `k = 6`.
    pub fn new(vs: &nn::Path, n: i64, k: i64, num_classes: i64) -> Self {
        assert!(
            n >= 1 && k >= 1,
            "WideResNet needs n >= 1 and k >= 1, got n={n}, k={k}"
        );
        let stem = group_path(vs, &GROUPS, 0);
        let conv = conv2d(stem.sub("conv"), 3, 16, 3, 1, false);
        let mut blocks = Vec::new();
        let mut c_in = 16;
        for (g, c_out) in [16 * k, 32 * k, 64 * k].into_iter().enumerate() {
            let group = group_path(vs, &GROUPS, g + 1);
            for b in 0..n {
                let stride = if g > 0 && b == 0 { 2 } else { 1 };
                blocks.push(WideBlock::new(&group.sub(b), c_in, c_out, stride));
                c_in = c_out;
            }
        }
        let head = group_path(vs, &GROUPS, 4);
        WideResNet {
            conv,
            blocks,
            bn: batch_norm2d(head.sub("bn"), c_in),
            fc: linear(head.sub("fc"), c_in, num_classes, true),
        }
    }
}

impl ModuleT for WideResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.apply(&self.conv);
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        let x = x.apply_t(&self.bn, train).relu();
        global_avg_pool(&x).apply(&self.fc)
    }
}

/// BN-ReLU, then conv1 → BN-ReLU → conv2 scaled by 0.2, plus the (projected) pre-activation.
#[derive(Debug)]
struct WideBlock {
    bn1: BatchNorm,
    conv1: nn::Conv2D,
    bn2: BatchNorm,
    conv2: nn::Conv2D,
    /// A strided 1×1 conv where the width changes; otherwise the identity.
    shortcut: Option<nn::Conv2D>,
}

impl WideBlock {
    fn new(vs: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        // fast.ai projects only when the width changes; every stride-2 block also widens.
        let shortcut = (c_in != c_out || stride != 1)
            .then(|| conv2d(vs.sub("shortcut"), c_in, c_out, 1, stride, false));
        WideBlock {
            bn1: batch_norm2d(vs.sub("bn1"), c_in),
            conv1: conv2d(vs.sub("conv1"), c_in, c_out, 3, stride, false),
            bn2: batch_norm2d(vs.sub("bn2"), c_out),
            conv2: conv2d(vs.sub("conv2"), c_out, c_out, 3, 1, false),
            shortcut,
        }
    }
}

impl ModuleT for WideBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let pre = xs.apply_t(&self.bn1, train).relu();
        let r = match &self.shortcut {
            Some(conv) => pre.apply(conv),
            None => pre.shallow_clone(),
        };
        let branch = pre
            .apply(&self.conv1)
            .apply_t(&self.bn2, train)
            .relu()
            .apply(&self.conv2);
        branch * RESIDUAL_SCALE + r
    }
}
