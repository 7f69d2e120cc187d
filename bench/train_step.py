# train_step.py: PyTorch's side of bench/train_step.lua: one full training step
# (zero_grad, forward, loss, backward, optimizer step) of the same three models on the same
# shapes, timed the same way (warm-up: >= 5 steps and 2 s; then the median and min of single steps, ms,
# and the medians of the forward (+loss), backward and optimizer phases and of the process
# CPU time per step).
#   mlp:  784-512-256-10, batch 128, SGD(lr 0.05, momentum 0.9)
#   cnn:  Conv(1,32,3)-ReLU-MaxPool2-Conv(32,64,3)-ReLU-MaxPool2-Flatten-Linear(1600,128)-
#         ReLU-Linear(128,10), batch 64, Adam(1e-3)
#   char: Embedding(65,128), LSTMCell(128,256) looped over T=64 in Python, Linear(256,65),
#         batch 32, Adam(2e-3)
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import torch, result
import time
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
torch.manual_seed(0)
WARMUP = int(os.environ.get('BENCH_WARMUP', '5'))
WARMUP_S = float(os.environ.get('BENCH_WARMUP_S', '2'))
STEPS = int(os.environ.get('BENCH_STEPS', '31'))


def median(t):
    t.sort()
    return t[len(t) // 2] * 1e3


def time_steps(case):
    forward, opt = case
    total, fwd, bwd, upd, cpu = [], [], [], [], []
    w, w_end = 0, time.perf_counter() + WARMUP_S   # at least WARMUP steps and WARMUP_S seconds
    while w < WARMUP or time.perf_counter() < w_end:
        opt.zero_grad()
        forward().backward()
        opt.step()
        w += 1
    for i in range(STEPS):
        c0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = forward()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        total.append(t3 - t0), fwd.append(t1 - t0), bwd.append(t2 - t1), upd.append(t3 - t2)
        cpu.append(time.process_time() - c0)
    mean = sum(total) / len(total) * 1e3
    return median(total), min(total) * 1e3, median(fwd), median(bwd), median(upd), median(cpu), mean


def mlp_case():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.rand(128, 1, 28, 28), torch.randint(0, 10, (128,))

    return (lambda: F.cross_entropy(model(x), y)), opt


def cnn_case():
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))

    return (lambda: F.cross_entropy(model(x), y)), opt


class CharModel(nn.Module):
    def __init__(self, V=65, E=128, H=256):
        super().__init__()
        self.embed, self.cell, self.head = nn.Embedding(V, E), nn.LSTMCell(E, H), nn.Linear(H, V)
        self.H = H

    def forward(self, ids):
        B, T = ids.shape
        e = self.embed(ids)
        h = c = torch.zeros(B, self.H)
        outs = []
        for t in range(T):
            h, c = self.cell(e[:, t], (h, c))
            outs.append(h)
        return self.head(torch.stack(outs, 1))


def char_case():
    model = CharModel()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.randint(0, 65, (32, 64)), torch.randint(0, 65, (32, 64))

    return (lambda: F.cross_entropy(model(x).reshape(-1, 65), y.reshape(-1))), opt


cases = {'mlp': mlp_case, 'cnn': cnn_case, 'char': char_case}
only = os.environ.get('BENCH_CASES')
for name, make in cases.items():
    if only and name not in only.split(','):
        continue
    r = time_steps(make())
    for key, v in zip(('', '_min', '_forward', '_backward', '_optimizer', '_cpu', '_mean'), r):
        result('train_step_%s%s_ms_torch' % (name, key), v)
