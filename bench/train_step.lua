-- train_step.lua: one full training step (zero_grad, forward, loss, backward, optimizer
-- step) of issue 5's three models, against PyTorch in the same run (bench/train_step.py).
--   mlp:  784-512-256-10, batch 128, SGD(lr 0.05, momentum 0.9)       target ag/torch <= 0.6
--   cnn:  Conv(1,32,3)-ReLU-MaxPool2-Conv(32,64,3)-ReLU-MaxPool2-Flatten-Linear(1600,128)-
--         ReLU-Linear(128,10), batch 64, Adam(1e-3)                    target <= 0.3
--   char: Embedding(65,128), LSTMCell(128,256) looped over T=64 in Lua, Linear(256,65),
--         batch 32, Adam(2e-3)                                         target <= 0.25
-- Each side: warm-up (at least BENCH_WARMUP = 5 steps and BENCH_WARMUP_S = 2 seconds, so ag's
-- allocator cache reaches its steady state), then BENCH_STEPS single steps (31) timed; the
-- median (and min, and mean: GC pauses included) in ms, with the medians of the forward (+loss), backward and optimizer phases and
-- of the process CPU time per step (all threads: work plus any spin-waiting). 2 threads each side (BENCH_THREADS). BENCH_CASES=mlp,char picks cases;
-- BENCH_NO_TORCH=1 skips PyTorch (for perf record); BENCH_ROUNDS=n alternates the two sides n
-- times and keeps each side's best round. Prints RESULT lines, then a table.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ag = require 'ag'
local nn, F, optim = require 'ag.nn', require 'ag.nn.functional', require 'ag.optim'

local threads = tonumber(os.getenv('BENCH_THREADS')) or 2
ag.set_num_threads(threads)
ag.manual_seed(0)
local WARMUP = tonumber(os.getenv('BENCH_WARMUP')) or 5
local WARMUP_S = tonumber(os.getenv('BENCH_WARMUP_S')) or 2
local STEPS = tonumber(os.getenv('BENCH_STEPS')) or 31

-- a case is {forward = function() return loss end, opt = optimizer}; a step is zero_grad,
-- forward (model and loss), backward, optimizer step. Returns the medians of the whole step
-- and of each phase, and the min of the whole step, in ms.
local ffi = require 'ffi'
local cts = ffi.new('bench_timespec')
local function cpu_now()   -- CPU seconds of the whole process (all its threads, spinning included)
  ffi.C.clock_gettime(2, cts)   -- CLOCK_PROCESS_CPUTIME_ID
  return tonumber(cts.sec) + tonumber(cts.nsec) * 1e-9
end
local function median(t)
  table.sort(t)
  return t[math.floor(#t / 2) + 1] * 1e3
end
local function time_steps(case)
  local forward, opt = case.forward, case.opt
  local total, fwd, bwd, upd, cpu = {}, {}, {}, {}, {}
  local w, w_end = 0, U.now() + WARMUP_S   -- warm up: at least WARMUP steps and WARMUP_S seconds
  repeat
    opt:zero_grad()
    forward():backward()
    opt:step()
    w = w + 1
  until w >= WARMUP and U.now() >= w_end
  for i = 1, STEPS do
    local c0 = cpu_now()
    local t0 = U.now()
    opt:zero_grad()
    local loss = forward()
    local t1 = U.now()
    loss:backward()
    local t2 = U.now()
    opt:step()
    local t3 = U.now()
    total[i], fwd[i], bwd[i], upd[i], cpu[i] = t3 - t0, t1 - t0, t2 - t1, t3 - t2, cpu_now() - c0
  end
  local sum = 0
  for i = 1, STEPS do sum = sum + total[i] end
  local med = median(total)
  return {med, total[1] * 1e3, median(fwd), median(bwd), median(upd), median(cpu), sum / STEPS * 1e3}
end

local function mlp_case()
  local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10))
  local opt = optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})
  local x, y = ag.rand(128, 1, 28, 28), ag.randint(1, 11, {128})
  return {opt = opt, forward = function() return F.cross_entropy(model(x), y) end}
end

local function cnn_case()
  local model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
  local opt = optim.Adam(model:parameters(), {lr = 1e-3})
  local x, y = ag.rand(64, 1, 28, 28), ag.randint(1, 11, {64})
  return {opt = opt, forward = function() return F.cross_entropy(model(x), y) end}
end

local CharModel = nn.Module:extend('CharModel')
function CharModel:init(V, E, H)
  self.embed, self.cell, self.head = nn.Embedding(V, E), nn.LSTMCell(E, H), nn.Linear(H, V)
  self.H = H
end
function CharModel:forward(ids)
  local B, T = ids.shape[1], ids.shape[2]
  local e = self.embed(ids)
  local h, c = ag.zeros(B, self.H), ag.zeros(B, self.H)
  local outs = {}
  for t = 1, T do
    h, c = self.cell(e:select(2, t), {h, c})
    outs[t] = h
  end
  return self.head(ag.stack(outs, 2))
end

local function char_case()
  local model = CharModel(65, 128, 256)
  local opt = optim.Adam(model:parameters(), {lr = 2e-3})
  local x, y = ag.randint(1, 66, {32, 64}), ag.randint(1, 66, {32, 64})
  return {opt = opt, forward = function() return F.cross_entropy(model(x):reshape(-1, 65), y:reshape(-1)) end}
end

local cases = {{'mlp', mlp_case, 0.6}, {'cnn', cnn_case, 0.3}, {'char', char_case, 0.25}}
local only = os.getenv('BENCH_CASES')
-- BENCH_ROUNDS (default 1) rounds, each timing ag's cases and then (unless BENCH_NO_TORCH=1)
-- PyTorch's, so both sides see the same stretches of a shared machine's load; each side
-- keeps its best round (the smallest median) per number.
local rounds = tonumber(os.getenv('BENCH_ROUNDS')) or 1
local mine, theirs = {}, {}
for round = 1, rounds do
  for _, c in ipairs(cases) do
    if not only or (',' .. only .. ','):find(',' .. c[1] .. ',', 1, true) then
      local r = time_steps(c[2]())
      local keys = {'_ms', '_min_ms', '_forward_ms', '_backward_ms', '_optimizer_ms', '_cpu_ms', '_mean_ms'}
      for i, key in ipairs(keys) do U.result('train_step_' .. c[1] .. key, r[i]) end
      local m = mine[c[1]] or {}
      for i = 1, #keys do m[i] = math.min(m[i] or math.huge, r[i]) end
      mine[c[1]] = m
      collectgarbage()
    end
  end
  if os.getenv('BENCH_NO_TORCH') ~= '1' then
    for _, line in ipairs(U.torch_lines('train_step.py')) do   -- PyTorch's better number of its two runs
      print(line)
      local k, v = line:match('^RESULT train_step_(.-)_ms_torch (%S+)')
      if k then theirs[k] = math.min(theirs[k] or math.huge, tonumber(v)) end
    end
  end
end

if os.getenv('BENCH_NO_TORCH') ~= '1' then
  local function fmt(v) return v and string.format('%.2f', v) or '-' end
  io.stderr:write(string.format('%-20s %10s %10s %7s %8s\n', 'one step', 'ag ms', 'torch ms', 'ratio', 'target'))
  for _, c in ipairs(cases) do
    local k, m = c[1], mine[c[1]]
    if m then
      local rows = {{'', m[1], theirs[k], '<= ' .. c[3]}, {' min', m[2], theirs[k .. '_min']},
                    {' mean', m[7], theirs[k .. '_mean']},
                    {' forward+loss', m[3], theirs[k .. '_forward']}, {' backward', m[4], theirs[k .. '_backward']},
                    {' optimizer', m[5], theirs[k .. '_optimizer']}, {' CPU time', m[6], theirs[k .. '_cpu']}}
      for _, r in ipairs(rows) do
        io.stderr:write(string.format('%-20s %10s %10s %7s %8s\n', k .. r[1], fmt(r[2]), fmt(r[3]),
                                      r[3] and string.format('%.2f', r[2] / r[3]) or '-', r[4] or ''))
      end
    end
  end
  io.stderr:write(string.format('medians of single steps (min: the fastest; mean: GC pauses included; CPU time: all threads);\n' ..
                                'ratio = ag / PyTorch; threads: %d each side; warm-up >= %d steps and %gs, then %d timed steps;\n' ..
                                '%d round(s), the best of each side\n', threads, WARMUP, WARMUP_S, STEPS, rounds))
end
