# elementwise.py: PyTorch's a+b, a*b and a.exp() on 4M float32 elements, allocating the
# result, in ms per op and GB/s (as elementwise.lua counts bytes). The page faults per op
# show whether glibc handed PyTorch's allocator fresh pages (mmap) or reused heap.
import os
from bench_util import torch, timeit, result, note, reps, faults

n, iters = 4 * 1024 * 1024, int(os.environ.get('BENCH_EW_ITERS', '20'))
a, b = torch.randn(n), torch.rand(n)

def add():
    for _ in range(iters): c = a + b
def mul():
    for _ in range(iters): c = a * b
def exp():
    for _ in range(iters): c = a.exp()

best, pf = {}, {}
cases = [('add', 3, add), ('mul', 3, mul), ('exp', 2, exp)]
for _, _, f in cases: f()
for _ in range(reps):
    for name, _, f in cases:
        f0 = faults()
        best[name] = min(best.get(name, 1e9), timeit(1, f)[0] / iters)
        pf[name] = pf.get(name, 0) + (faults() - f0) / iters / reps
for name, k, _ in cases:
    t = best[name]
    note('torch %-4s 4M float32: %.3f ms, %.1f GB/s, %.0f page faults/op'
         % (name, t * 1e3, k * n * 4 / t / 1e9, pf[name]))
    result('ew_%s_ms_torch' % name, t * 1e3)
