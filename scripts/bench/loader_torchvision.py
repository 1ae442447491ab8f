"""PyTorch side of `onecycle bench loader --augment`: torch.utils.data.DataLoader over CIFAR-10
(read from the binary files into uint8 HWC arrays and turned into PIL images per item, as
torchvision.datasets.CIFAR10 does) with RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
Normalize; shuffled, num_workers=0. Streams batches for SECONDS and prints one JSON object.

Usage: scripts/pytorch.sh scripts/bench/loader_torchvision.py CIFAR_DIR [BATCH] [SECONDS] [WORKERS]
"""
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms


class Cifar10Binary(torch.utils.data.Dataset):
    def __init__(self, root, transform):
        raw = b"".join(open(os.path.join(root, f"data_batch_{i}.bin"), "rb").read() for i in range(1, 6))
        records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
        self.labels = records[:, 0].astype(np.int64)
        self.images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def main():
    root = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    t = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    ])
    data = Cifar10Binary(root, t)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers)
    began, images, batches = time.perf_counter(), 0, 0
    while time.perf_counter() - began < seconds:
        for x, y in loader:
            images += x.shape[0]
            batches += 1
            if time.perf_counter() - began >= seconds:
                break
    elapsed = time.perf_counter() - began
    print(json.dumps({"engine": "torchvision", "batch": batch, "workers": workers, "batches": batches,
                      "images": images, "seconds": elapsed, "images_per_sec": images / elapsed}))


if __name__ == "__main__":
    main()
