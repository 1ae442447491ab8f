"""Loads weights written by `onecycle export` into the PyTorch module (strict) and prints its
logits for a float32 input file as JSON: `check.py MODEL CLASSES WEIGHTS INPUT SIZE`."""
import json
import struct
import sys

import torch

from pytorch_models import build

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = bytearray(data[8 + n :])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        t = torch.frombuffer(body[start:end], dtype=DTYPES[info["dtype"]]) if end > start else torch.zeros(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def main():
    name, classes, weights, inputs, size = sys.argv[1:6]
    model = build(name, int(classes))
    model.load_state_dict(read_safetensors(weights), strict=True)
    model.eval()
    x = torch.frombuffer(bytearray(open(inputs, "rb").read()), dtype=torch.float32)
    x = x.reshape(-1, 3, int(size), int(size))
    with torch.no_grad():
        print(json.dumps(model(x).flatten().tolist()))


if __name__ == "__main__":
    main()
