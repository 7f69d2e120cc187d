-- conv.lua: convolution and pooling speed against PyTorch (issue 4). Layers of a small
-- Fashion-MNIST CNN at batch 64 on 28x28 inputs: conv2d 1->32 (3x3, padding 1; the input
-- does not require grad, as an image batch) and conv2d 32->64 (3x3, padding 1; the input
-- requires grad, as a hidden layer's), and max_pool2d 2x2 on (64, 32, 28, 28). Each is
-- timed forward and forward + y:sum():backward(), in ms (min over reps). Prints RESULT lines
-- for bench/run.sh and, unless BENCH_NO_TORCH=1, runs bench/conv.py and prints a table of
-- ag / PyTorch time ratios (target: <= 0.5 for the two convolutions); ratio is min/min,
-- r(med) median/median.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ag = U.ag()
local F = require 'ag.nn.functional_conv'

local iters = tonumber(os.getenv('BENCH_CONV_ITERS')) or 10
local function ms(f)
  f()                                   -- warm up: workspaces, thread pools, pages
  local best = U.time(U.reps, function() for _ = 1, iters do f() end end)
  return best / iters * 1e3
end

local cases = {}
local function conv_case(key, cin, cout, x_grad)
  local x = ag.randn(64, cin, 28, 28)
  if x_grad then x:requires_grad_() end
  local w = (ag.randn(cout, cin, 3, 3) * 0.1):requires_grad_()
  local b = ag.randn(cout):requires_grad_()
  cases[#cases + 1] = {key .. '_fwd', function() local y = F.conv2d(x, w, b, {padding = 1}) end}
  cases[#cases + 1] = {key .. '_fwdbwd', function() F.conv2d(x, w, b, {padding = 1}):sum():backward() end}
end
conv_case('conv1_32', 1, 32, false)
conv_case('conv32_64', 32, 64, true)
do
  local x = ag.randn(64, 32, 28, 28)
  local xg = ag.randn(64, 32, 28, 28):requires_grad_()
  cases[#cases + 1] = {'maxpool2_fwd', function() local y = F.max_pool2d(x, 2) end}
  cases[#cases + 1] = {'maxpool2_fwdbwd', function() F.max_pool2d(xg, 2):sum():backward() end}
end

-- BENCH_ROUNDS (default 1) rounds, each timing every ag case and then (unless
-- BENCH_NO_TORCH=1) running bench/conv.py once, so both sides see the same stretch of a
-- shared machine's load; the table gives the min and the median over rounds.
local rounds = tonumber(os.getenv('BENCH_ROUNDS')) or 1
local with_torch = os.getenv('BENCH_NO_TORCH') ~= '1'
local mine, theirs = {}, {}
for _ = 1, rounds do
  for _, c in ipairs(cases) do
    mine[c[1]] = mine[c[1]] or {}
    table.insert(mine[c[1]], ms(c[2]))
    collectgarbage()
  end
  if with_torch then
    for _, line in ipairs(U.torch_lines('conv.py')) do
      local k, v = line:match('^RESULT conv_(.-)_ms_torch (%S+)')
      if k then theirs[k] = theirs[k] or {}; table.insert(theirs[k], tonumber(v)) end
    end
  end
end
local function stats(t)
  if not t then return nil end
  table.sort(t)
  return t[1], t[math.floor((#t + 1) / 2)]
end
local function f2(v) return v and string.format('%.2f', v) or '-' end
for _, c in ipairs(cases) do U.result('conv_' .. c[1] .. '_ms', (stats(mine[c[1]]))) end
if with_torch then
  io.stderr:write(string.format('%-18s %9s %9s %9s %9s %7s %7s\n', 'case (batch 64)', 'ag min', 'ag med',
                                'torch min', 'torch med', 'ratio', 'r(med)'))
  for _, c in ipairs(cases) do
    local k = c[1]
    local amin, amed = stats(mine[k])
    local tmin, tmed = stats(theirs[k])
    io.stderr:write(string.format('%-18s %9s %9s %9s %9s %7s %7s\n', k, f2(amin), f2(amed), f2(tmin), f2(tmed),
                                  tmin and f2(amin / tmin) or '-', tmed and f2(amed / tmed) or '-'))
  end
  io.stderr:write(string.format('threads: %d each side; %d round(s); times in ms per call (min over %d reps of %d calls)\n',
                                ag.get_num_threads(), rounds, U.reps, iters))
end
