"""CIFAR-10's binary batches as lossless WebP mosaics, to carry the data set where only ~64 MB travel.

  pack SRC DST NAME.bin[:K/N] ...   the batch's K-th of N parts (default: all of it, 1 part) ->
                                    DST/NAME.K-of-N.webp, a 32x32-tile mosaic, + its .labels;
                                    batches.meta.txt and SHA256SUMS copied beside
  unpack SRC DST                    SRC's parts -> DST; a batch whose parts are all in DST (from
                                    this or an earlier unpack) becomes DST/NAME.bin, checked
                                    against SHA256SUMS

Lossless WebP holds a batch in about 15 MB instead of 30.7 (xz: 24); parts let a batch be split
over two transfers. Needs numpy and Pillow.
"""
import hashlib
import os
import shutil
import sys

import numpy as np
from PIL import Image

RECORD, SIDE, COLUMNS = 3073, 32, 100


def copy_extras(src, dst):
    """The class names and checksums go along, writable (the source may be read-only)."""
    for extra in ("batches.meta.txt", "SHA256SUMS"):
        target = os.path.join(dst, extra)
        if os.path.exists(os.path.join(src, extra)):
            if os.path.exists(target):
                os.remove(target)
            shutil.copyfile(os.path.join(src, extra), target)


def pack(src, dst, specs):
    os.makedirs(dst, exist_ok=True)
    for spec in specs:
        name, _, part = spec.partition(":")
        k, n = map(int, (part or "1/1").split("/"))
        records = np.fromfile(os.path.join(src, name), dtype=np.uint8).reshape(-1, RECORD)
        size = len(records) // n
        assert size * n == len(records) and size % COLUMNS == 0, f"{name}: {len(records)} records in {n} parts"
        records = records[(k - 1) * size : k * size]
        rows = size // COLUMNS
        planes = records[:, 1:].reshape(rows, COLUMNS, 3, SIDE, SIDE)
        mosaic = np.ascontiguousarray(planes.transpose(0, 3, 1, 4, 2).reshape(rows * SIDE, COLUMNS * SIDE, 3))
        stem = os.path.join(dst, f"{name[: -len('.bin')]}.{k}-of-{n}")
        Image.fromarray(mosaic).save(stem + ".webp", "WEBP", lossless=True, quality=100, method=4)
        records[:, 0].tofile(stem + ".labels")
        print(f"{spec}: {os.path.getsize(stem + '.webp') / 1e6:.1f} MB", flush=True)
    copy_extras(src, dst)


def unpack(src, dst):
    os.makedirs(dst, exist_ok=True)
    copy_extras(src, dst)
    for webp in sorted(n for n in os.listdir(src) if n.endswith(".webp")):
        stem = webp[: -len(".webp")]
        mosaic = np.asarray(Image.open(os.path.join(src, webp)).convert("RGB"))
        rows = mosaic.shape[0] // SIDE
        planes = mosaic.reshape(rows, SIDE, COLUMNS, SIDE, 3).transpose(0, 2, 4, 1, 3).reshape(-1, 3 * SIDE * SIDE)
        labels = np.fromfile(os.path.join(src, stem + ".labels"), dtype=np.uint8).reshape(-1, 1)
        np.concatenate([labels, planes], axis=1).tofile(os.path.join(dst, stem + ".part"))
    sums = {}
    if os.path.exists(os.path.join(dst, "SHA256SUMS")):
        for line in open(os.path.join(dst, "SHA256SUMS")):
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    parts = sorted(n for n in os.listdir(dst) if n.endswith(".part"))
    for batch in sorted({p.split(".")[0] for p in parts}):
        mine = [p for p in parts if p.split(".")[0] == batch]
        n = int(mine[0].split(".")[1].split("-of-")[1])
        if len(mine) < n:
            print(f"{batch}.bin: {len(mine)} of {n} parts so far")
            continue
        data = b"".join(open(os.path.join(dst, f"{batch}.{k}-of-{n}.part"), "rb").read() for k in range(1, n + 1))
        digest = hashlib.sha256(data).hexdigest()
        if batch + ".bin" in sums and sums[batch + ".bin"] != digest:
            sys.exit(f"{batch}.bin: sha256 {digest} differs from SHA256SUMS")
        with open(os.path.join(dst, batch + ".bin"), "wb") as f:
            f.write(data)
        for p in mine:
            os.remove(os.path.join(dst, p))
        print(f"{batch}.bin: {len(data)} bytes, sha256 {'checked' if batch + '.bin' in sums else 'unchecked'}")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "pack":
        pack(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 4 and sys.argv[1] == "unpack":
        unpack(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
