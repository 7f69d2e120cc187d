# bench_util.py: what the PyTorch benchmarks share: threads set as for ag (all cores),
# repeat-and-take-min/median, and `RESULT key value` lines that run.sh turns into the table.
import os, resource, sys, time
import torch

torch.set_num_threads(int(os.environ.get('BENCH_THREADS', os.cpu_count())))
reps = int(os.environ.get('BENCH_REPS', '7'))

def timeit(reps, f):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    t.sort()
    return t[0], t[(reps - 1) // 2]

def faults():
    # minor page faults of this process so far (first touches of fresh pages)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def result(key, value):
    print('RESULT %s %.6g' % (key, value))

def note(msg):
    print(msg, file=sys.stderr)
