# train_epoch.py: PyTorch's side of bench/train_epoch.lua: epochs of the MLP 784-512-256-10
# (batch 128, SGD lr 0.05 momentum 0.9) on Fashion-MNIST's 60000 training images, batched the
# way ag's DataLoader does it (a shuffled permutation, rows gathered with x[idx]); one
# warm-up epoch, then the median of BENCH_EPOCHS (3) timed epochs. Also one epoch through
# torch.utils.data.DataLoader(TensorDataset) (per-sample indexing + collate, the idiomatic
# way) for reference, run after the RSS reading. Memory: VmRSS after import and after
# loading the data, and VmHWM (peak RSS) after the timed epochs, from /proc/self/status.
import gzip, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def status_kb(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


import numpy as np
from bench_util import torch, result
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
torch.manual_seed(0)
rss_import = status_kb('VmRSS')
ROOT = os.environ.get('FASHION_MNIST', '/usr/share/datasets/fashion-mnist')
EPOCHS = int(os.environ.get('BENCH_EPOCHS', '3'))


def idx(name, offset):
    with gzip.open(os.path.join(ROOT, name), 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


x = torch.from_numpy(idx('train-images-idx3-ubyte.gz', 16).copy()).float().div_(255).view(-1, 1, 28, 28)
y = torch.from_numpy(idx('train-labels-idx1-ubyte.gz', 8).astype(np.int64))
n = x.shape[0]
rss_data, hwm_data = status_kb('VmRSS'), status_kb('VmHWM')

model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                      nn.Linear(256, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def step(xb, yb):
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def epoch():
    perm = torch.randperm(n)
    total = 0.0
    for i in range(0, n, 128):
        b = perm[i:i + 128]
        total += step(x[b], y[b])
    return total


times = []
for e in range(EPOCHS + 1):
    t0 = time.perf_counter()
    epoch()
    if e > 0:
        times.append(time.perf_counter() - t0)
times.sort()
result('train_epoch_mlp_s_torch', times[len(times) // 2])
result('train_epoch_mlp_min_s_torch', times[0])
result('rss_import_mb_torch', rss_import / 1024)
result('rss_data_mb_torch', rss_data / 1024)
result('peak_rss_data_mb_torch', hwm_data / 1024)
result('peak_rss_mb_torch', status_kb('VmHWM') / 1024)

if os.environ.get('BENCH_TORCH_DATALOADER', '1') == '1':
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=128, shuffle=True)
    t0 = time.perf_counter()
    for xb, yb in loader:
        step(xb, yb)
    result('train_epoch_mlp_dataloader_s_torch', time.perf_counter() - t0)
