# conv.py: PyTorch's side of bench/conv.lua (same layers, same timing: ms per call, min
# over reps, forward and forward + y.sum().backward()).
import os
from bench_util import torch, timeit, result, reps
import torch.nn.functional as F

iters = int(os.environ.get('BENCH_CONV_ITERS', '10'))


def ms(f):
    f()
    def run():
        for _ in range(iters):
            f()
    return timeit(reps, run)[0] / iters * 1e3


cases = []


def conv_case(key, cin, cout, x_grad):
    x = torch.randn(64, cin, 28, 28, requires_grad=x_grad)
    w = (torch.randn(cout, cin, 3, 3) * 0.1).requires_grad_()
    b = torch.randn(cout).requires_grad_()
    cases.append((key + '_fwd', lambda: F.conv2d(x, w, b, padding=1)))
    cases.append((key + '_fwdbwd', lambda: F.conv2d(x, w, b, padding=1).sum().backward()))


conv_case('conv1_32', 1, 32, False)
conv_case('conv32_64', 32, 64, True)
x = torch.randn(64, 32, 28, 28)
xg = torch.randn(64, 32, 28, 28, requires_grad=True)
cases.append(('maxpool2_fwd', lambda: F.max_pool2d(x, 2)))
cases.append(('maxpool2_fwdbwd', lambda: F.max_pool2d(xg, 2).sum().backward()))

for key, f in cases:
    result('conv_%s_ms_torch' % key, ms(f))
