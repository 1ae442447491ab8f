"""PyTorch side of the speed-run comparison: `onecycle fit --preset speedrun` (presets/fit/speedrun.toml)
written in plain PyTorch, on the same CIFAR-10 binary files, with the same steps: airbench94's net
(frozen 2x2 patch whitening from the first 5,000 training images, conv-BN-GELU groups 64/256/256,
BatchNorm momentum 0.4 with eps 1e-12 and frozen weights, logits x 1/9), the whole training set
as one tensor augmented per batch (translate by up to 2 px with reflect padding, alternating
flip), SGD with Nesterov momentum 0.85, mean cross-entropy with label smoothing 0.2 at peak LR 1.5
(BatchNorm biases x64, their weight decay /64), L2 weight decay 1.3304e-3, torch's own OneCycleLR
(linear, div 5, final_div_factor 0.2/0.07, pct_start 0.23, momentum not cycled), every batch of
1,024 including the last partial one, lookahead every 5 steps (decay 0.95^5 (step/total)^3, the
weights become the average after the last step), the whitening bias frozen after epoch 3,
validation after every epoch, and mirror-translate TTA at the end.

Prints one JSON line with the wall time from the start of the script to the final accuracy.

Usage: scripts/pytorch.sh scripts/bench/speedrun_pytorch.py DATA_DIR [--epochs N] [--seed S]
       [--limit-train N] [--limit-valid N] [--threads T] [--device cpu|cuda] [--bf16]
"""
import argparse
import json
import os
import time

START = time.perf_counter()

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def read_cifar(data_dir, files):
    rows = []
    for name in files:
        raw = np.fromfile(os.path.join(data_dir, name), dtype=np.uint8)
        rows.append(raw.reshape(-1, 3073))
    rows = np.concatenate(rows)
    labels = torch.from_numpy(rows[:, 0].astype(np.int64))
    images = torch.from_numpy(rows[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, labels


def normalise(images):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


class BatchNorm(nn.BatchNorm2d):
    def __init__(self, channels):
        super().__init__(channels, eps=1e-12, momentum=0.4)
        self.weight.requires_grad = False


def identity_conv(c_in, c_out):
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    torch.nn.init.dirac_(conv.weight.data[:c_in])
    return conv


class ConvGroup(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = identity_conv(c_in, c_out)
        self.norm1 = BatchNorm(c_out)
        self.conv2 = identity_conv(c_out, c_out)
        self.norm2 = BatchNorm(c_out)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.gelu(self.norm1(x))
        return F.gelu(self.norm2(self.conv2(x)))


class SpeedrunNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        self.whiten.weight.requires_grad = False
        self.blocks = nn.Sequential(ConvGroup(24, 64), ConvGroup(64, 256), ConvGroup(256, 256))
        self.head = nn.Linear(256, classes, bias=False)

    def forward(self, x):
        x = self.blocks(F.gelu(self.whiten(x)))
        x = F.adaptive_max_pool2d(x, 1).flatten(1)
        return self.head(x) / 9.0


def init_whitening(conv, images, eps=5e-4):
    patches = images.double().unfold(2, 2, 1).unfold(3, 2, 1)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    covariance = patches.T @ patches / len(patches)
    values, vectors = torch.linalg.eigh(covariance)
    values, vectors = values.flip(0), vectors.T.flip(0)
    scaled = vectors / (values + eps).sqrt().unsqueeze(1)
    conv.weight.data[:] = torch.cat([scaled, -scaled]).reshape(24, 3, 2, 2).float()


def augment(images, flip_start, epoch, generator, translate=2):
    n = len(images)
    padded = F.pad(images, (translate,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * translate + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * translate + 1, (n,), generator=generator)
    out = torch.empty_like(images)
    for y in range(2 * translate + 1):
        for x in range(2 * translate + 1):
            rows = ((dy == y) & (dx == x)).nonzero().flatten()
            if len(rows):
                out[rows] = padded[rows, :, y : y + 32, x : x + 32]
    flip = flip_start ^ bool(epoch % 2)
    out[flip] = out[flip].flip(3)
    return out


def shifted(images, shift):
    if shift == 0:
        return images
    p = abs(shift)
    padded = F.pad(images, (p,) * 4, mode="reflect")
    start = p - shift
    return padded[:, :, start : start + 32, start : start + 32]


def predict(model, images, batch, autocast):
    model.eval()
    out = []
    with torch.no_grad(), autocast():
        for i in range(0, len(images), batch):
            out.append(model(images[i : i + batch]).float().softmax(-1))
    return torch.cat(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-train", type=int)
    p.add_argument("--limit-valid", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    # As onecycle does on a GPU (its --no-cudnn-benchmark turns it off), and as airbench does.
    torch.backends.cudnn.benchmark = device.type == "cuda"
    generator = torch.Generator().manual_seed(a.seed)
    autocast = lambda: torch.autocast(device.type, torch.bfloat16, enabled=a.bf16)  # noqa: E731

    train_x, train_y = read_cifar(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    valid_x, valid_y = read_cifar(a.data, ["test_batch.bin"])
    train_x, train_y = train_x[: a.limit_train], train_y[: a.limit_train]
    valid_x, valid_y = valid_x[: a.limit_valid], valid_y[: a.limit_valid]
    train_x, valid_x = normalise(train_x), normalise(valid_x)

    model = SpeedrunNet().to(memory_format=torch.channels_last)
    init_whitening(model.whiten, train_x[:5000])
    model = model.to(device)
    train_x, train_y = train_x.to(device), train_y.to(device)
    valid_x, valid_y = valid_x.to(device), valid_y.to(device)

    batch, peak, wd, bias_scale = 1024, 1.5, 0.0153 / 11.5, 64.0
    norm_biases = [p for n, p in model.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in model.named_parameters() if "norm" not in n and p.requires_grad]
    optimizer = torch.optim.SGD(
        [
            dict(params=norm_biases, lr=peak * bias_scale, weight_decay=wd / bias_scale),
            dict(params=others, lr=peak, weight_decay=wd),
        ],
        momentum=0.85,
        nesterov=True,
    )
    steps_per_epoch = -(-len(train_x) // batch)
    total = a.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[peak * bias_scale, peak],
        total_steps=total,
        pct_start=0.23,
        anneal_strategy="linear",
        cycle_momentum=False,
        div_factor=5.0,
        final_div_factor=0.2 / 0.07,
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.2)
    average = {k: v.clone() for k, v in model.state_dict().items()}

    def pull(decay):
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                average[k].lerp_(v, 1 - decay)
                v.copy_(average[k])

    flip_start = torch.rand(len(train_x), generator=generator) < 0.5
    step, epochs = 0, []
    for epoch in range(a.epochs):
        began = time.perf_counter()
        model.whiten.bias.requires_grad = epoch < 3
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        for i in range(0, len(train_x), batch):
            rows = order[i : i + batch]
            inputs = augment(train_x[rows], flip_start[rows], epoch, generator)
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast():
                loss = loss_fn(model(inputs).float(), train_y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 5 == 0:
                pull(0.95**5 * (step / total) ** 3)
            elif step == total:
                pull(1.0)
        probs = predict(model, valid_x, batch, autocast)
        accuracy = (probs.argmax(1) == valid_y).float().mean().item()
        epochs.append(dict(epoch=epoch, accuracy=accuracy, seconds=time.perf_counter() - began))
        print(json.dumps(epochs[-1]), flush=True)

    def mirrored(shift):
        view = shifted(valid_x, shift)
        return (predict(model, view, batch, autocast) + predict(model, view.flip(3), batch, autocast)) / 2

    blended = mirrored(0) * 0.5 + (mirrored(1) + mirrored(-1)) * 0.25
    tta = (blended.argmax(1) == valid_y).float().mean().item()
    print(
        json.dumps(
            dict(
                engine="pytorch",
                epochs=a.epochs,
                steps=total,
                seed=a.seed,
                accuracy=epochs[-1]["accuracy"],
                tta_accuracy=tta,
                wall_seconds=time.perf_counter() - START,
                threads=torch.get_num_threads(),
            )
        )
    )


if __name__ == "__main__":
    main()
