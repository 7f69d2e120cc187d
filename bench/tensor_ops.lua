-- tensor_ops.lua: per-op cost of `a + b` on 16-element float32 tensors, in µs, counting
-- the C call, the allocation, the ffi.gc finalizer and the GC work it causes: a loop of N
-- adds with no collectgarbage() inside; one full collect after the loop is inside the
-- timing so that every finalizer the loop created has run. Target (issue 2): <= 0.4 µs.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ag = U.ag()

local N = tonumber(os.getenv('BENCH_N')) or 1000000
local a, b = ag.randn(16), ag.randn(16)
local function loop()
  for _ = 1, N do local c = a + b end
  collectgarbage()
end
loop()                                   -- warm up: JIT traces, allocator caches
local tmin, tmed = U.time(U.reps, loop)
U.note('ag a+b (16 float32): min %.3f µs/op, median %.3f µs/op', tmin / N * 1e6, tmed / N * 1e6)
U.result('add16_us', tmin / N * 1e6)
