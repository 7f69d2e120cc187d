-- train_step.lua: one full training step (zero_grad, forward, loss, backward, optimizer
-- step) of issue 5's three models, against PyTorch in the same run (bench/train_step.py).
--   mlp:  784-512-256-10, batch 128, SGD(lr 0.05, momentum 0.9)       target ag/torch <= 0.6
--   cnn:  Conv(1,32,3)-ReLU-MaxPool2-Conv(32,64,3)-ReLU-MaxPool2-Flatten-Linear(1600,128)-
--         ReLU-Linear(128,10), batch 64, Adam(1e-3)                    target <= 0.3
--   char: Embedding(65,128), LSTMCell(128,256) looped over T=64 in Lua, Linear(256,65),
--         batch 32, Adam(2e-3)                                         target <= 0.25
-- Each side: BENCH_WARMUP steps (5), then BENCH_STEPS single steps (31) timed; the median
-- (and min) in ms. 2 threads each side (BENCH_THREADS). BENCH_CASES=mlp,char picks cases;
-- BENCH_NO_TORCH=1 skips PyTorch (for perf record). Prints RESULT lines, then a table.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ag = require 'ag'
local nn, F, optim = require 'ag.nn', require 'ag.nn.functional', require 'ag.optim'

local threads = tonumber(os.getenv('BENCH_THREADS')) or 2
ag.set_num_threads(threads)
ag.manual_seed(0)
local WARMUP = tonumber(os.getenv('BENCH_WARMUP')) or 5
local STEPS = tonumber(os.getenv('BENCH_STEPS')) or 31

local function time_steps(step)
  for _ = 1, WARMUP do step() end
  local t = {}
  for i = 1, STEPS do
    local t0 = U.now()
    step()
    t[i] = U.now() - t0
  end
  table.sort(t)
  return t[math.floor(#t / 2) + 1] * 1e3, t[1] * 1e3
end

local function mlp_case()
  local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10))
  local opt = optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})
  local x, y = ag.rand(128, 1, 28, 28), ag.randint(1, 11, {128})
  return function()
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
end

local function cnn_case()
  local model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
  local opt = optim.Adam(model:parameters(), {lr = 1e-3})
  local x, y = ag.rand(64, 1, 28, 28), ag.randint(1, 11, {64})
  return function()
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
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
  return function()
    opt:zero_grad()
    F.cross_entropy(model(x):reshape(-1, 65), y:reshape(-1)):backward()
    opt:step()
  end
end

local cases = {{'mlp', mlp_case, 0.6}, {'cnn', cnn_case, 0.3}, {'char', char_case, 0.25}}
local only = os.getenv('BENCH_CASES')
local mine = {}
for _, c in ipairs(cases) do
  if not only or (',' .. only .. ','):find(',' .. c[1] .. ',', 1, true) then
    local med, best = time_steps(c[2]())
    mine[c[1]] = {med, best}
    U.result('train_step_' .. c[1] .. '_ms', med)
    U.result('train_step_' .. c[1] .. '_min_ms', best)
    collectgarbage()
  end
end

if os.getenv('BENCH_NO_TORCH') ~= '1' then
  local dir = arg[0]:match('^(.*)/') or '.'
  local p = io.popen((os.getenv('PYTHON') or '/usr/bin/python3') .. ' ' .. dir .. '/train_step.py')
  local theirs = {}
  for line in p:lines() do
    print(line)
    local k, v = line:match('^RESULT train_step_(.-)_ms_torch (%S+)')
    if k then theirs[k] = tonumber(v) end
  end
  p:close()
  io.stderr:write(string.format('%-6s %12s %12s %12s %12s %8s %8s\n', 'step', 'ag med ms', 'torch med ms',
                                'ag min ms', 'torch min ms', 'ratio', 'target'))
  for _, c in ipairs(cases) do
    local k, m, t = c[1], mine[c[1]], theirs[c[1]]
    if m then
      io.stderr:write(string.format('%-6s %12.2f %12s %12.2f %12s %8s %8s\n', k, m[1],
                                    t and string.format('%.2f', t) or '-', m[2],
                                    theirs[k .. '_min'] and string.format('%.2f', theirs[k .. '_min']) or '-',
                                    t and string.format('%.2f', m[1] / t) or '-', '<= ' .. c[3]))
    end
  end
  io.stderr:write(string.format('ratio = ag median / PyTorch median; threads: %d each side; %d warm-up + %d timed steps\n',
                                threads, WARMUP, STEPS))
end
