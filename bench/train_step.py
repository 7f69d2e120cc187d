# train_step.py: PyTorch's side of bench/train_step.lua: one full training step
# (zero_grad, forward, loss, backward, optimizer step) of the same three models on the same
# shapes, timed the same way (warm-up steps, then the median and min of single steps, ms).
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
STEPS = int(os.environ.get('BENCH_STEPS', '31'))


def time_steps(step):
    for _ in range(WARMUP):
        step()
    t = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        step()
        t.append(time.perf_counter() - t0)
    t.sort()
    return t[len(t) // 2] * 1e3, t[0] * 1e3


def mlp_case():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.rand(128, 1, 28, 28), torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def cnn_case():
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


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

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x).reshape(-1, 65), y.reshape(-1)).backward()
        opt.step()
    return step


cases = {'mlp': mlp_case, 'cnn': cnn_case, 'char': char_case}
only = os.environ.get('BENCH_CASES')
for name, make in cases.items():
    if only and name not in only.split(','):
        continue
    med, best = time_steps(make())
    result('train_step_%s_ms_torch' % name, med)
    result('train_step_%s_min_ms_torch' % name, best)
