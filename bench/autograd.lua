-- autograd.lua: the cost of recording a graph (issue 3). The workload on a 16-element
-- float32 leaf x that requires grad: y = x*2; y = y+1; y = tanh(y); z = y*y; s = z:sum()
-- (5 ops), repeated. Reports µs per op for the forward with recording, and µs per op for
-- forward + s:backward() (total time / 5 ops). Finalizers and GC are inside the timing,
-- as in tensor_ops.lua. Targets: <= 0.5 µs/op forward, <= 1.0 µs/op forward+backward.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ag = U.ag()

local N = tonumber(os.getenv('BENCH_N_AG')) or 100000
local x = ag.randn(16, {requires_grad = true})

local function forward()
  for _ = 1, N do
    local y = x * 2
    y = y + 1
    y = y:tanh()
    local z = y * y
    local s = z:sum()
  end
  collectgarbage()
end
local function forward_backward()
  for _ = 1, N do
    local y = x * 2
    y = y + 1
    y = y:tanh()
    local z = y * y
    z:sum():backward()
  end
  collectgarbage()
end
forward(); forward_backward()            -- warm up
local f = U.time(U.reps, forward)
local fb = U.time(U.reps, forward_backward)
U.note('ag autograd: forward %.3f µs/op, forward+backward %.3f µs/op', f / N / 5 * 1e6, fb / N / 5 * 1e6)
U.result('ag_fwd_us', f / N / 5 * 1e6)
U.result('ag_fwdbwd_us', fb / N / 5 * 1e6)
