# Reference values for the schedule crate's tests, from straight ports of the published code.
import math

def pt_onecycle(n, max_lr, div=25.0, fdf=1e4, pct=0.3, anneal='cos', three=False, moms=(0.85,0.95), min_lr=None):
    base_m, max_m = moms
    initial = max_lr / div
    mn = initial / fdf if min_lr is None else min_lr
    def cos(s, e, p):
        c = math.cos(math.pi * p) + 1
        return e + (s - e) / 2.0 * c
    def lin(s, e, p):
        return (e - s) * p + s
    f = cos if anneal == 'cos' else lin
    if three:
        ph = [(float(pct * n) - 1, initial, max_lr, max_m, base_m),
              (float(2 * pct * n) - 2, max_lr, initial, base_m, max_m),
              (n - 1, initial, mn, max_m, max_m)]
    else:
        ph = [(float(pct * n) - 1, initial, max_lr, max_m, base_m),
              (n - 1, max_lr, mn, base_m, max_m)]
    out = []
    for step in range(n):
        start = 0
        for k, (end, sl, el, sm, em) in enumerate(ph):
            if step <= end or k == len(ph) - 1:
                p = (step - start) / (end - start)
                out.append((f(sl, el, p), f(sm, em, p)))
                break
            start = end
    return out

def fastai2(n, max_lr, div=25.0, div_final=1e5, pct=0.25, moms=(0.95,0.85,0.95)):
    def cos(s, e, p):
        return s + (1 + math.cos(math.pi * (1 - p))) * (e - s) / 2
    pcts = [0.0, pct, pct + (1 - pct)]
    lrs = [(max_lr/div, max_lr), (max_lr, max_lr/div_final)]
    ms = [(moms[0], moms[1]), (moms[1], moms[2])]
    out = []
    for i in range(n):
        pos = i / n
        idx = min(max(k for k in range(3) if pos >= pcts[k]), 1)
        ap = (pos - pcts[idx]) / (pcts[idx+1] - pcts[idx])
        out.append((cos(*lrs[idx], ap), cos(*ms[idx], ap)))
    return out

class Sched:
    def __init__(self, vals, n_iter):
        self.start, self.end = vals
        self.n_iter = max(1, n_iter)
        self.n = 0
    def step(self):
        self.n += 1
        c = math.cos(math.pi * (self.n / self.n_iter)) + 1
        return self.end + (self.start - self.end) / 2 * c
    @property
    def is_done(self): return self.n >= self.n_iter

def fastai1(n, lr_max, div=25.0, pct=0.3, moms=(0.95, 0.85), final_div=None):
    final_div = div * 1e4 if final_div is None else final_div
    a1 = int(n * pct); a2 = n - a1
    low = lr_max / div
    lrs = [Sched((low, lr_max), a1), Sched((lr_max, lr_max / final_div), a2)]
    mss = [Sched((moms[0], moms[1]), a1), Sched((moms[1], moms[0]), a2)]
    lr, mom = lrs[0].start, mss[0].start
    idx = 0
    out = []
    for i in range(n):
        out.append((lr, mom))
        if idx >= len(lrs): break
        lr = lrs[idx].step(); mom = mss[idx].step()
        if lrs[idx].is_done: idx += 1
    return out

def clr_beta(n, lr, div, pct, max_mom, min_mom):
    cnb = int(n * (1 - pct / 100) / 2)
    out = []
    for it in range(n):
        if it > 2 * cnb:
            p = (it - 2 * cnb) / (n - 2 * cnb)
            r = lr * (1 + (p * (1 - 100) / 100)) / div
            m = max_mom
        elif it > cnb:
            p = 1 - (it - cnb) / cnb
            r = lr * (1 + p * (div - 1)) / div
            m = max_mom + p * (min_mom - max_mom)
        else:
            p = it / cnb
            r = lr * (1 + p * (div - 1)) / div
            m = max_mom + p * (min_mom - max_mom)
        out.append((r, m))
    return cnb, out

def cyclic(n, base, mx, up, down, mode, gamma=1.0, base_m=0.8, max_m=0.9):
    total = float(up + down); ratio = float(up) / total
    out = []
    for e in range(n):
        cycle = math.floor(1 + e / total)
        x = 1.0 + e / total - cycle
        sf = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if mode == 'triangular': s = 1.0
        elif mode == 'triangular2': s = 1 / (2.0 ** (cycle - 1))
        else: s = gamma ** e
        h = (mx - base) * sf
        lr = base + h * s
        hm = (max_m - base_m) * sf
        out.append((lr, max_m - hm * s))
    return out

def sgdr(n, mx, mn, T0, Tm):
    out = []
    for epoch in range(n):
        if epoch >= T0:
            if Tm == 1:
                tc = epoch % T0; ti = T0
            else:
                k = int(math.log((epoch / T0 * (Tm - 1) + 1), Tm))
                tc = epoch - T0 * (Tm ** k - 1) / (Tm - 1)
                ti = T0 * Tm ** k
        else:
            tc = epoch; ti = T0
        out.append(mn + (mx - mn) * (1 + math.cos(math.pi * tc / ti)) / 2)
    return out

def flat_cos(n, lr, div_final=1e5, pct=0.75):
    def cos(s, e, p):
        return s + (1 + math.cos(math.pi * (1 - p))) * (e - s) / 2
    out = []
    for i in range(n):
        pos = i / n
        if pos < pct: out.append(cos(lr, lr, pos / pct))
        else: out.append(cos(lr, lr / div_final, (pos - pct) / (1 - pct)))
    return out

def rs(v): return repr(float(v))
def emit(name, rows, idxs=None):
    idxs = range(len(rows)) if idxs is None else idxs
    print(f"// {name}")
    print("&[")
    for i in idxs:
        r = rows[i]
        if isinstance(r, tuple):
            print(f"    ({i}, {', '.join(rs(x) for x in r)}),")
        else:
            print(f"    ({i}, {rs(r)}),")
    print("],")

import sys
what = sys.argv[1]
if what == 'pt':
    emit("pt A: n=10 max=1 defaults", pt_onecycle(10, 1.0))
    emit("pt B: n=10 max=0.5 linear three pct=.25 div=10 fdf=100", pt_onecycle(10, 0.5, div=10.0, fdf=100.0, pct=0.25, anneal='lin', three=True))
    emit("pt C: n=100 max=3 cos three pct=.4 div=20 fdf=1e3", pt_onecycle(100, 3.0, div=20.0, fdf=1e3, pct=0.4, three=True), [0,1,20,38,39,40,41,60,77,78,79,80,90,98,99])
    emit("pt D: n=100 max=0.8 linear two pct=.45 moms .8/.9", pt_onecycle(100, 0.8, pct=0.45, anneal='lin', moms=(0.8, 0.9)), [0,1,22,43,44,45,46,70,98,99])
    emit("pt E: n=1000 max=0.1 cos two pct=.25 div=30 final_div=1e5", pt_onecycle(1000, 0.1, div=30.0, pct=0.25, min_lr=0.1/1e5), [0,1,123,248,249,250,251,500,777,998,999])
    emit("pt F: n=1000 max=2 linear three defaults", pt_onecycle(1000, 2.0, anneal='lin', three=True), [0,1,150,298,299,300,301,450,597,598,599,600,800,998,999])
    emit("pt G: n=1000 max=1 cos two pct=.3 div=25 fdf=1e4 (defaults)", pt_onecycle(1000, 1.0), [0, 1, 2, 100, 299, 300, 301, 650, 998, 999])
elif what == 'fa':
    emit("fastai v2: n=10 max=1 defaults", fastai2(10, 1.0))
    emit("fastai v2: n=200 max=0.4 div=10 div_final=1e4 pct=.3 moms .9/.8/.85", fastai2(200, 0.4, div=10.0, div_final=1e4, pct=0.3, moms=(0.9,0.8,0.85)), [0,1,30,59,60,61,130,199])
    emit("fastai v1: n=10 max=1 defaults", fastai1(10, 1.0))
    emit("fastai v1: n=7 max=1 pct=0.1 (a1=0)", fastai1(7, 1.0, pct=0.1))
    emit("fastai v1: n=250 max=0.3 div=10 pct=.25 moms .95/.85 final_div=1e3", fastai1(250, 0.3, div=10.0, pct=0.25, final_div=1e3), [0,1,31,61,62,63,64,150,248,249])
elif what == 'clr':
    for args in [(95*98, 0.8, 10.0, 13.68, 0.95, 0.85), (70*98, 3.0, 20.0, 10.0, 0.95, 0.85)]:
        c, rows = clr_beta(*args)
        n = args[0]
        emit(f"clr_beta {args} c={c}", rows, [0, 1, c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 1, n - 1])
elif what == 'cyc':
    emit("cyclic triangular base=.1 max=1 up=4 down=6 n=25", cyclic(25, 0.1, 1.0, 4, 6, 'triangular'))
    emit("cyclic triangular2 base=.01 max=.1 up=3 down=3 n=20", cyclic(20, 0.01, 0.1, 3, 3, 'triangular2'))
    emit("cyclic exp_range base=.001 max=.006 up=5 down=5 gamma=.99 n=30", cyclic(30, 0.001, 0.006, 5, 5, 'exp_range', gamma=0.99))
elif what == 'sgdr':
    emit("sgdr max=.1 min=.001 T0=7 mult=1 n=20", sgdr(20, 0.1, 0.001, 7, 1))
    emit("sgdr max=.1 min=0 T0=3 mult=2 n=30", sgdr(30, 0.1, 0.0, 3, 2))
elif what == 'misc':
    emit("flat_cos lr=.01 defaults n=20", flat_cos(20, 0.01))
    emit("flat_cos lr=1 div_final=100 pct=.5 n=8", flat_cos(8, 1.0, div_final=100.0, pct=0.5))
    emit("sweep exp 1e-7..10 n=100", [1e-7 * (10 / 1e-7) ** (i / 100) for i in range(100)], [0, 1, 50, 99])
    emit("sweep lin 0.01..1 n=10", [0.01 + (1 - 0.01) * i / 10 for i in range(10)])
