"""Checks `onecycle schedule one-cycle` against torch.optim.lr_scheduler.OneCycleLR itself (not a
re-statement of its formula): every step's LR and momentum, for n in {10, 100, 1000}, cos and
linear, 2 and 3 phases, several pct/div/final values. Prints the largest relative difference.

Usage: scripts/pytorch.sh scripts/reference/onecycle_vs_pytorch.py target/debug/onecycle
"""
import csv
import io
import itertools
import subprocess
import sys

import torch

binary = sys.argv[1]
worst = 0.0
cases = 0
for n, anneal, three, pct, div, fdf in itertools.product(
    [10, 100, 1000], ["cos", "linear"], [False, True], [0.25, 0.3, 0.45], [25.0, 10.0], [1e4, 100.0]
):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.8, total_steps=n, pct_start=pct, anneal_strategy=anneal,
        div_factor=div, final_div_factor=fdf, three_phase=three)
    want = []
    for _ in range(n):
        g = opt.param_groups[0]
        want.append((g["lr"], g["momentum"]))
        opt.step()
        sched.step()
    out = subprocess.run(
        [binary, "schedule", "one-cycle", "--steps", str(n), "--max-lr", "0.8", "--pct-start", str(pct),
         "--anneal", anneal, "--div", str(div), "--final-div-factor", str(fdf), "--phases", "3" if three else "2"],
        check=True, capture_output=True, text=True).stdout
    got = [(float(r["lr"]), float(r["momentum"])) for r in csv.DictReader(io.StringIO(out))]
    assert len(got) == n
    for (gl, gm), (wl, wm) in zip(got, want):
        worst = max(worst, abs(gl - wl) / abs(wl), abs(gm - wm) / abs(wm))
    cases += 1
print(f"{cases} OneCycleLR configurations, {torch.__version__}: largest relative difference {worst:.3e}")
sys.exit(0 if worst <= 1e-12 else 1)
