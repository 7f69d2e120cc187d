# autograd.py: PyTorch's cost of the same recorded workload as autograd.lua:
# x*2, +1, tanh, y*y, sum on a 16-element float32 leaf, repeated; µs per op for the
# forward with recording and for forward + backward.
import os
from bench_util import torch, timeit, result, note, reps

N = int(os.environ.get('BENCH_N_AG_PY', '30000'))
x = torch.randn(16, requires_grad=True)

def forward():
    for _ in range(N):
        y = x * 2
        y = y + 1
        y = y.tanh()
        z = y * y
        s = z.sum()

def forward_backward():
    for _ in range(N):
        y = x * 2
        y = y + 1
        y = y.tanh()
        z = y * y
        z.sum().backward()

forward(); forward_backward()
f = timeit(reps, forward)[0]
fb = timeit(reps, forward_backward)[0]
note('torch autograd: forward %.3f µs/op, forward+backward %.3f µs/op' % (f / N / 5 * 1e6, fb / N / 5 * 1e6))
result('ag_fwd_us_torch', f / N / 5 * 1e6)
result('ag_fwdbwd_us_torch', fb / N / 5 * 1e6)
