"""PyTorch side of `onecycle bench train`: the same models (ResNet-20/56 with option-A shortcuts,
ResNet-9, airbench94's speed-run net from speedrun_pytorch.py), the same step (forward, cross-entropy, backward, SGD momentum 0.9 + weight decay 5e-4,
gradients set to None), the same synthetic batch and timing (3 warm-up steps, then at least 5
steps and SECONDS seconds), on DEVICE (cpu, cuda, cuda:N) at PRECISION (fp32; bf16 or fp16 under
autocast, fp16 with a GradScaler). Prints one JSON object.

Usage: scripts/pytorch.sh scripts/bench/train_pytorch.py MODEL BATCH {nchw|channels-last} [SECONDS]
       [THREADS] [DEVICE] [PRECISION]

BENCH_MODE=infer times inference instead, as `onecycle bench infer` does: the model in eval mode,
forward passes and a softmax under torch.inference_mode(), the output read back each pass.

BENCH_STEPS=N times exactly N steps instead. Under torchrun (WORLD_SIZE > 1; BENCH_STEPS is then
needed, so that every rank takes the same steps) it trains with DistributedDataParallel (Gloo on
the CPU, NCCL on GPUs, GPU = LOCAL_RANK), BATCH is the global batch, and rank 0 prints the rate of
all ranks together, as `onecycle launch --nproc N -- bench train --steps S` does.
"""
import os
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, (cout - cin) // 2

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.stride != 1 or self.pad:
            short = x[:, :, :: self.stride, :: self.stride]
            short = F.pad(short, (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class CifarResNet(nn.Module):
    def __init__(self, depth, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, c in enumerate([16, 32, 64]):
            for j in range(n):
                layers.append(Block(cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.layers(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def conv_bn(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.res = nn.Sequential(conv_bn(c, c), conv_bn(c, c))

    def forward(self, x):
        return x + self.res(x)


class ResNet9(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.net = nn.Sequential(
            conv_bn(3, 64),
            conv_bn(64, 128), nn.MaxPool2d(2), Residual(128),
            conv_bn(128, 256), nn.MaxPool2d(2),
            conv_bn(256, 512), nn.MaxPool2d(2), Residual(512),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(512, classes, bias=False),
        )

    def forward(self, x):
        return self.net(x) * 0.125


def build(name):
    if name == "resnet9":
        return ResNet9()
    if name == "speedrun":
        # airbench94's net, as `onecycle bench train` times it: whitening filters from random
        # images, which whiten the synthetic batch to unit variance as real filters do real images
        # (GELU's cost depends on its inputs' scale).
        from speedrun_pytorch import SpeedrunNet, init_whitening
        net = SpeedrunNet()
        init_whitening(net.whiten, torch.randn(256, 3, 32, 32))
        return net
    return CifarResNet(int(name.removeprefix("resnet")))


def main():
    name, batch, layout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    if len(sys.argv) > 5:
        torch.set_num_threads(int(sys.argv[5]))
    device = torch.device(sys.argv[6] if len(sys.argv) > 6 else "cpu")
    precision = sys.argv[7] if len(sys.argv) > 7 else "fp32"
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    fixed = int(os.environ["BENCH_STEPS"]) if "BENCH_STEPS" in os.environ else None
    global_batch = batch
    if world > 1:
        assert fixed, "a data-parallel run needs BENCH_STEPS"
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        batch = global_batch * (rank + 1) // world - global_batch * rank // world
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = build(name).to(device)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(10, (batch,), device=device)
    if layout == "channels-last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    model.train()

    infer = os.environ.get("BENCH_MODE") == "infer"

    def step():
        if infer:
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                return model(x).float().softmax(-1).cpu()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.item()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    began, steps = time.perf_counter(), 0
    while (steps < fixed) if fixed else (steps < 5 or time.perf_counter() - began < seconds):
        step()
        steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - began
    if world > 1:
        torch.distributed.destroy_process_group()
    if rank != 0:
        return
    print(json.dumps({
        "engine": "pytorch", "mode": os.environ.get("BENCH_MODE", "train"), "model": name, "batch": global_batch,
        "channels_last": layout == "channels-last",
        "device": str(device), "precision": precision, "world_size": world,
        "threads": torch.get_num_threads(), "steps": steps, "seconds": elapsed,
        "images_per_sec": steps * global_batch / elapsed, "ms_per_step": elapsed * 1e3 / steps,
    }))

if __name__ == "__main__":
    main()
