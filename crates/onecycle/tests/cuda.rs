//! On a machine with a usable NVIDIA GPU (a no-op elsewhere): libtorch's CUDA backend loads at
//! run time into a binary linked without it, batches reach the GPU through pinned memory in
//! order, autocast runs in bf16 and fp16 there, and a small CNN trains on the GPU in every
//! precision with fp32 master weights, and data-parallel training through NCCL (one rank: the
//! reducer and synchronised batch norm on CUDA tensors) equals plain training. One test function,
//! so that CUDA is loaded before any other libtorch call of this process.

mod common;
use common::{classifier, fit_and_check_it_learns, quadrants};
use onecycle::amp::{Autocast, Precision};
use onecycle::data::{Batch, Data, TensorData};
use onecycle::device::{self, DeviceSpec};
use onecycle::dist::{self, DistOptions, ProcessGroup};
use onecycle::learner::Learner;
use schedule::{OneCycleParams, Policy};
use tch::{nn, nn::Module, Device, Kind, Tensor};

fn small_cnn_on(device: Device, precision: Precision) -> Learner<TensorData> {
    let data = quadrants(0);
    tch::manual_seed(1);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let conv = nn::ConvConfig {
        padding: 1,
        ..Default::default()
    };
    let net = nn::seq_t()
        .add(nn::conv2d(&root / "conv", 1, 8, 3, conv))
        .add(dist::BatchNorm::new(&root / "bn", 2, 8, Default::default()))
        .add_fn(|x| x.relu().flatten(1, -1))
        .add(nn::linear(&root / "fc", 8 * 8 * 8, 4, Default::default()));
    vs.set_device(device);
    classifier(vs, net, data, precision)
}

#[test]
fn training_on_the_gpu_in_every_precision() {
    onecycle::engine::init();
    if device::cuda_device_count() == 0 {
        eprintln!(
            "skipped: no usable CUDA GPU ({})",
            device::load_cuda()
                .err()
                .unwrap_or("the CUDA library loaded, but no GPU is visible")
        );
        return;
    }
    let gpu = DeviceSpec::Auto.resolve().unwrap();
    assert_eq!(gpu, Device::Cuda(0), "auto picks the first GPU");
    device::set_cudnn_benchmark(true);

    // Pinned, asynchronous copies arrive intact and in order, one batch ahead.
    let data = quadrants(0);
    let on_cpu: Vec<Batch> = data
        .train_epoch(0, 0)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let on_gpu: Vec<Batch> = device::prefetch(data.train_epoch(0, 0).unwrap(), gpu)
        .map(Result::unwrap)
        .collect();
    assert_eq!(on_gpu.len(), on_cpu.len());
    for (c, g) in on_cpu.iter().zip(&on_gpu) {
        assert_eq!(g.inputs.device(), gpu);
        assert_eq!(g.targets.device(), gpu);
        assert!(c.inputs.equal(&g.inputs.to_device(Device::Cpu)));
        assert!(c.targets.equal(&g.targets.to_device(Device::Cpu)));
    }

    // Autocast on the GPU.
    let vs = nn::VarStore::new(gpu);
    let fc = nn::linear(vs.root() / "fc", 16, 4, Default::default());
    let x = Tensor::randn([8, 16], (Kind::Float, gpu));
    for (kind, precision) in [(Kind::BFloat16, "bf16"), (Kind::Half, "fp16")] {
        let _autocast = Autocast::new(gpu, kind).unwrap();
        assert_eq!(fc.forward(&x).kind(), kind, "{precision}");
    }
    assert_eq!(fc.forward(&x).kind(), Kind::Float);

    // Training converges in every precision, the weights staying fp32 on the GPU.
    for precision in [Precision::Fp32, Precision::Bf16, Precision::Fp16] {
        let mut l = small_cnn_on(gpu, precision);
        fit_and_check_it_learns(&mut l, &precision.to_string());
        for (name, v) in l.var_store().variables() {
            assert_eq!(v.device(), gpu, "{precision}: {name}");
        }
        if precision == Precision::Fp16 {
            let scale = l.grad_scaler().unwrap().scale();
            assert!(scale > 1.0 && scale <= 65536.0, "fp16 loss scale {scale}");
        }
        let bench =
            onecycle::bench::train_throughput(&mut l, true, (1, 8, 8), 4, 64, 2, 0.2, 5).unwrap();
        assert_eq!(bench.device, "cuda:0");
        assert_eq!(bench.precision, precision.to_string());
        eprintln!("{precision}: {:.0} images/s", bench.images_per_sec);
    }

    // NCCL: a one-rank group (this machine may have one GPU, and NCCL refuses two ranks on one
    // GPU) with synchronised batch norm trains exactly like one plain process.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = DistOptions {
        url: format!("tcp://127.0.0.1:{port}"),
        world_size: 1,
        rank: 0,
        timeout: std::time::Duration::from_secs(60),
    };
    let group = std::rc::Rc::new(ProcessGroup::new(&options).unwrap());
    let policy = Policy::OneCycle(OneCycleParams {
        max_lr: 0.05,
        ..Default::default()
    });
    let mut plain = small_cnn_on(gpu, Precision::Fp32);
    plain.fit(2, &policy).unwrap();
    let mut parallel = small_cnn_on(gpu, Precision::Fp32);
    let ddp = dist::Ddp::new(group, parallel.var_store(), true).unwrap();
    parallel.set_strategy(ddp);
    parallel.fit(2, &policy).unwrap();
    dist::sync_batch_norm(None);
    let weights = |l: &Learner<TensorData>| {
        let mut vars: Vec<(String, Tensor)> = l.var_store().variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let flat: Vec<Tensor> = vars.iter().map(|(_, t)| t.flatten(0, -1)).collect();
        Tensor::cat(&flat, 0).to_device(Device::Cpu)
    };
    let diff = (weights(&plain) - weights(&parallel))
        .abs()
        .max()
        .double_value(&[]);
    eprintln!("NCCL, one rank: weights within {diff:e} of plain training");
    assert!(
        diff < 1e-4,
        "NCCL data parallel differs from plain training by {diff}"
    );
}
