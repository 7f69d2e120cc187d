-- elementwise.lua: large elementwise ops on 4M float32 elements (16 MB per tensor):
-- a+b, a*b and a:exp(), each allocating its result, in ms per op, against a memcpy-bound
-- floor in the same run: ffi.copy of one tensor's 16 MB into a preallocated buffer.
-- GB/s counts the bytes each op must move (add/mul: 2 reads + 1 write, exp and memcpy:
-- 1 read + 1 write), so ag's GB/s over memcpy's says how close to the memory bound it is;
-- ag runs once on all threads and once on one thread, as ffi.copy does.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ffi = require 'ffi'
local ag = U.ag()
local C = require 'ag.lib'

local n, iters = 4 * 1024 * 1024, tonumber(os.getenv('BENCH_EW_ITERS')) or 20
local bytes = n * 4
local a, b, dst = ag.randn(n), ag.rand(n), ag.empty(n)
local pa, pd = C.agt_data_ptr(a.p), C.agt_data_ptr(dst.p)

-- each case ends with a collect, so ag's results go back to its caching allocator and the
-- next rep reuses them (steady state); first-touch page costs are in overhead.lua
local cases = {
  {'add', 3, function() for _ = 1, iters do local c = a + b end collectgarbage() end},
  {'mul', 3, function() for _ = 1, iters do local c = a * b end collectgarbage() end},
  {'exp', 2, function() for _ = 1, iters do local c = a:exp() end collectgarbage() end},
  {'memcpy', 2, function() for _ = 1, iters do ffi.copy(pd, pa, bytes) end end},
}
for _, c in ipairs(cases) do c[3]() end  -- warm up: pages, caches, thread pool
local best, pf = {}, {}
for _ = 1, U.reps do                       -- interleaved, so noise hits every case alike
  for _, c in ipairs(cases) do
    local f0 = U.faults()
    best[c[1]] = math.min(best[c[1]] or math.huge, U.time(1, c[3]) / iters)
    pf[c[1]] = (pf[c[1]] or 0) + (U.faults() - f0) / iters / U.reps
  end
end
for _, c in ipairs(cases) do
  local name, t = c[1], best[c[1]]
  U.note('%-6s 4M float32: %.3f ms, %.1f GB/s, %.0f page faults/op', name, t * 1e3, c[2] * bytes / t / 1e9, pf[name])
  U.result('ew_' .. name .. '_ms', t * 1e3)
  U.result('ew_' .. name .. '_gbs', c[2] * bytes / t / 1e9)
end
U.note('(%d OpenMP threads for ag; ffi.copy is one thread)', ag.get_num_threads())
ag.set_num_threads(1)                      -- ag on one thread, like ffi.copy
for _, c in ipairs(cases) do
  if c[1] ~= 'memcpy' then
    local t = math.huge
    for _ = 1, U.reps do t = math.min(t, U.time(1, c[3]) / iters) end
    U.note('%-6s 4M float32, 1 thread: %.3f ms, %.1f GB/s', c[1], t * 1e3, c[2] * bytes / t / 1e9)
    U.result('ew_' .. c[1] .. '_gbs_1t', c[2] * bytes / t / 1e9)
  end
end
