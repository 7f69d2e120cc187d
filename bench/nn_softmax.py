# nn_softmax.py: PyTorch's side of bench/nn_softmax.lua (same shapes, same timing: µs per
# call, min over 300 reps of one call; forward, and forward + backward).
import os
from bench_util import torch, timeit, result, reps
import torch.nn.functional as F

N, C = 128, 1000
iters = int(os.environ.get('BENCH_SOFTMAX_ITERS', '1'))
reps_ = max(reps, int(os.environ.get('BENCH_SOFTMAX_REPS', '300')))


def us(f):
    f()
    def run():
        for _ in range(iters):
            f()
    return timeit(reps_, run)[0] / iters * 1e6


torch.manual_seed(0)
x = torch.randn(N, C)
xg = torch.randn(N, C, requires_grad=True)
g = torch.randn(N, C)
t = torch.randint(0, C, (N,))


def fwdbwd(f):
    def run():
        f().backward(g if f is not ce else None)
        xg.grad = None
    return run


sm = lambda: F.softmax(xg, -1)
lsm = lambda: F.log_softmax(xg, -1)
ce = lambda: F.cross_entropy(xg, t)
cases = [
    ('softmax_fwd', lambda: F.softmax(x, -1)),
    ('log_softmax_fwd', lambda: F.log_softmax(x, -1)),
    ('cross_entropy_fwd', lambda: F.cross_entropy(x, t)),
    ('softmax_fwdbwd', fwdbwd(sm)),
    ('log_softmax_fwdbwd', fwdbwd(lsm)),
    ('cross_entropy_fwdbwd', fwdbwd(ce)),
]
for key, f in cases:
    result('nn_%s_us_torch' % key, us(f))
