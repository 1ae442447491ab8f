"""Prints what torch.optim does to fixed parameters and gradients over three steps whose lr,
momentum (β1) and weight decay change every step: the reference values of
crates/onecycle/tests/optim_matches_pytorch.rs. Run: scripts/pytorch.sh scripts/reference/optim.py
"""
import struct
import torch

P0 = [0.5, -1.25, 2.0, 0.125, 3.0e-3, -7.5]
GRADS = [
    [0.1, -0.2, 0.3, -0.4, 0.5, -0.6],
    [-0.05, 0.25, 0.125, 1.5, -2.0, 0.0625],
    [0.3, 0.3, -0.7, 0.01, 0.2, -1.1],
]
HYPERS = [(0.1, 0.95, 1e-2), (0.4, 0.9, 1e-2), (0.05, 0.85, 1e-2)]  # lr, momentum/β1, wd


def run(name, make, momentum_key, decoupled_by_hand=False):
    p = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float32))
    opt = make([p])
    for grads, (lr, mom, wd) in zip(GRADS, HYPERS):
        g = opt.param_groups[0]
        g["lr"] = lr
        if momentum_key == "momentum":
            g["momentum"] = mom
        else:
            g["betas"] = (mom, g["betas"][1])
        if decoupled_by_hand:  # fastai's true_wd for SGD: decay the weights, then step
            with torch.no_grad():
                p.mul_(1 - lr * wd)
        else:
            g["weight_decay"] = wd
        p.grad = torch.tensor(grads, dtype=torch.float32)
        opt.step()
    bits = ", ".join("0x%08x" % struct.unpack("<I", struct.pack("<f", v))[0] for v in p.detach().tolist())
    print(f"{name}: [{bits}]")


run("sgd_l2", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), "momentum")
run("sgd_nesterov_l2", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), "momentum")
run("sgd_decoupled", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), "momentum", decoupled_by_hand=True)
run("adam_l2", lambda ps: torch.optim.Adam(ps, lr=0.1), "betas")
run("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.1), "betas")
