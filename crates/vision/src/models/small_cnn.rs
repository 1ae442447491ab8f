//! A small CNN for quick runs and tests: three conv-BN-ReLU-maxpool blocks at 32/64/128 channels,
//! global average pooling and a linear classifier (≈ 95k parameters for 10 classes).

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::{batch_norm2d, conv2d, global_avg_pool, group_path, linear, BatchNorm};

/// Layer groups, input → output.
pub(crate) const GROUPS: [&str; 4] = ["block1", "block2", "block3", "head"];

/// The small CNN. Variables: `block{1,2,3}.{conv,bn}`, `head.fc`.
#[derive(Debug)]
pub struct SmallCnn {
    blocks: Vec<(nn::Conv2D, BatchNorm)>,
    fc: nn::Linear,
}

impl SmallCnn {
    pub fn new(vs: &nn::Path, num_classes: i64) -> Self {
        let mut blocks = Vec::new();
        let mut c_in = 3;
        for (i, c_out) in [32, 64, 128].into_iter().enumerate() {
            let p = group_path(vs, &GROUPS, i);
            blocks.push((
                conv2d(p.sub("conv"), c_in, c_out, 3, 1, false),
                batch_norm2d(p.sub("bn"), c_out),
            ));
            c_in = c_out;
        }
        let head = group_path(vs, &GROUPS, 3);
        SmallCnn {
            blocks,
            fc: linear(head.sub("fc"), c_in, num_classes, true),
        }
    }
}

impl ModuleT for SmallCnn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for (conv, bn) in &self.blocks {
            x = x
                .apply(conv)
                .apply_t(bn, train)
                .relu()
                .max_pool2d_default(2);
        }
        global_avg_pool(&x).apply(&self.fc)
    }
}
