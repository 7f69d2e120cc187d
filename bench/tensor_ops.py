# tensor_ops.py: PyTorch's per-op cost of `a + b` on 16-element float32 tensors, in µs
# (allocation and free included: refcounting frees each result at once). Pairs with
# tensor_ops.lua.
import os
from bench_util import torch, timeit, result, note, reps

N = int(os.environ.get('BENCH_N_PY', '300000'))
a, b = torch.randn(16), torch.randn(16)

def loop():
    for _ in range(N):
        c = a + b

loop()
tmin, tmed = timeit(reps, loop)
note('torch a+b (16 float32): min %.3f µs/op, median %.3f µs/op' % (tmin / N * 1e6, tmed / N * 1e6))
result('add16_us_torch', tmin / N * 1e6)
