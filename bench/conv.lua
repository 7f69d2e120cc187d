-- conv.lua: convolution and pooling speed against PyTorch (issue 4). Layers of a small
-- Fashion-MNIST CNN at batch 64 on 28x28 inputs: conv2d 1->32 (3x3, padding 1; the input
-- does not require grad, as an image batch) and conv2d 32->64 (3x3, padding 1; the input
-- requires grad, as a hidden layer's), and max_pool2d 2x2 on (64, 32, 28, 28). Each is
-- timed forward and forward + y:sum():backward(), in ms (min over reps). Prints RESULT lines
-- for bench/run.sh and, unless BENCH_NO_TORCH=1, runs bench/conv.py and prints a table of
-- ag / PyTorch time ratios (target: <= 0.5 for the two convolutions).
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

local mine = {}
for _, c in ipairs(cases) do
  mine[c[1]] = ms(c[2])
  U.result('conv_' .. c[1] .. '_ms', mine[c[1]])
  collectgarbage()
end

if os.getenv('BENCH_NO_TORCH') ~= '1' then
  local dir = arg[0]:match('^(.*)/') or '.'
  local p = io.popen((os.getenv('PYTHON') or '/usr/bin/python3') .. ' ' .. dir .. '/conv.py')
  local theirs = {}
  for line in p:lines() do
    local k, v = line:match('^RESULT conv_(.-)_ms_torch (%S+)')
    if k then theirs[k] = tonumber(v) end
  end
  p:close()
  io.stderr:write(string.format('%-18s %10s %10s %8s\n', 'case (batch 64)', 'ag ms', 'torch ms', 'ratio'))
  for _, c in ipairs(cases) do
    local k = c[1]
    io.stderr:write(string.format('%-18s %10.2f %10s %8s\n', k, mine[k], theirs[k] and string.format('%.2f', theirs[k]) or '-',
                                  theirs[k] and string.format('%.2f', mine[k] / theirs[k]) or '-'))
  end
  io.stderr:write(string.format('threads: %d each side\n', ag.get_num_threads()))
end
