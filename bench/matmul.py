# matmul.py: PyTorch's 1024x1024 float32 torch.mm throughput in GFLOP/s (allocating its
# result). Pairs with matmul.lua.
import os
from bench_util import torch, timeit, result, note, reps

n, iters = 1024, int(os.environ.get('BENCH_MM_ITERS', '10'))
A, B = torch.randn(n, n), torch.randn(n, n)

def run():
    for _ in range(iters):
        c = torch.mm(A, B)

run()
tmin, tmed = timeit(reps, run)
note('torch.mm %d: %.1f GFLOP/s (min), %.1f (median), %d threads'
     % (n, 2 * n**3 * iters / tmin / 1e9, 2 * n**3 * iters / tmed / 1e9, torch.get_num_threads()))
result('mm_gflops_torch', 2 * n**3 * iters / tmin / 1e9)
