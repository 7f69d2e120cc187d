-- overhead.lua: where the time of a small op goes (a diagnosis, not a comparison). Peels
-- the `a + b` path on 16-element float32 tensors layer by layer, then the autograd loop of
-- autograd.lua (no-grad vs recording; backward through t:backward() vs the bare C engine),
-- then a 4M-element add with a fresh result vs in place, counting page faults.
-- BENCH_ONLY=k runs section k alone: a section's absolute numbers depend on what the process
-- did before (GC and finalizer-table state, and which op functions LuaJIT has blacklisted:
-- check with -jv), so compare rows within one section.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ffi = require 'ffi'
local ag = U.ag()
local C = require 'ag.lib'
local Ref, release, ffi_gc = ffi.typeof('ag_ref'), C.ag_ref_release, ffi.gc
ffi.cdef [[
typedef struct { ag_tensor *p; } bench_gcref;
]]
local function row(name, us, unit) print(string.format('| %-58s | %8.3f %s |', name, us, unit or 'µs')) end
local function header(title) print(string.format('\n| %-58s | per op      |\n|---|---:|', title)) end
local only = tonumber(os.getenv('BENCH_ONLY'))   -- run just section 1, 2 or 3 (a fresh process)
local function section(k) return only == nil or only == k end
local function per_op(N, ops, f)      -- min over reps, µs per op, one collect inside the timing
  f()
  return U.time(U.reps, function() f(); collectgarbage() end) / N / ops * 1e6
end

-- 1. a + b, 16 elements
local N = tonumber(os.getenv('BENCH_N')) or 1000000
if section(1) then
local a, b = ag.randn(16), ag.randn(16)
local ap, bp, ADD = a.p, b.p, 0
local GcRef = ffi.metatype('bench_gcref', {__gc = function(r) release(ffi.cast('ag_ref *', r)) end})
local function lua_release(r) release(r) end
header('a + b on 16 float32 (each line adds one layer)')
row('C: agt_binary + agt_release (no Lua object)', per_op(N, 1, function()
  for _ = 1, N do C.agt_release(C.agt_binary(ADD, ap, bp)) end end))
row('C: aga_binary (autograd wrapper, nothing to record)', per_op(N, 1, function()
  for _ = 1, N do C.agt_release(C.aga_binary(ADD, ap, bp)) end end))
row('+ ag_ref cdata box, released by hand (no finalizer)', per_op(N, 1, function()
  for _ = 1, N do local r = Ref(C.aga_binary(ADD, ap, bp)); release(r) end end))
row('+ ffi.gc(ref, C.ag_ref_release)  (what core.wrap does)', per_op(N, 1, function()
  for _ = 1, N do local r = ffi_gc(Ref(C.aga_binary(ADD, ap, bp)), release) end end))
row('  ffi.gc set, then ffi.gc(ref, nil) + release by hand', per_op(N, 1, function()
  for _ = 1, N do local r = ffi_gc(Ref(C.aga_binary(ADD, ap, bp)), release); ffi_gc(r, nil); release(r) end end))
row('  alt: ffi.gc with a Lua function finalizer', per_op(N, 1, function()
  for _ = 1, N do local r = ffi_gc(Ref(C.aga_binary(ADD, ap, bp)), lua_release) end end))
row('  alt: ffi.metatype __gc instead of ffi.gc', per_op(N, 1, function()
  for _ = 1, N do local r = GcRef(C.aga_binary(ADD, ap, bp)) end end))
row('ag: a + b (metamethod, checks, wrap)', per_op(N, 1, function()
  for _ = 1, N do local c = a + b end end))
header('other small ops on 16 float32, C only (no Lua object)')
local TANH = tonumber(C.AG_UOP_TANH)
row('agt_unary tanh', per_op(N, 1, function()
  for _ = 1, N do C.agt_release(C.agt_unary(TANH, ap)) end end))
row('agt_reduce sum (all 16 elements)', per_op(N, 1, function()
  for _ = 1, N do C.agt_release(C.agt_reduce(0, ap, 0, nil, 0)) end end))
end

-- 2. autograd: x*2, +1, tanh, y*y, sum
if section(2) then
local NA = tonumber(os.getenv('BENCH_N_AG')) or 100000
local xg, xn = ag.randn(16, {requires_grad = true}), ag.randn(16)
local function fwd(x) for _ = 1, NA do local y = x * 2; y = y + 1; y = y:tanh(); local z = y * y; local s = z:sum() end end
local roots, grads = ffi.new('ag_tensor *[1]'), ffi.new('ag_tensor *[1]')
header('autograd loop of autograd.lua, 5 ops per iteration')
row('forward, x does not require grad (no recording)', per_op(NA, 5, function() fwd(xn) end))
row('forward, recording', per_op(NA, 5, function() fwd(xg) end))
row('forward + s:backward()', per_op(NA, 5, function()
  for _ = 1, NA do local y = xg * 2; y = y + 1; y = y:tanh(); local z = y * y; z:sum():backward() end end))
row('forward + bare C engine (aga_engine_new/run/free)', per_op(NA, 5, function()
  for _ = 1, NA do
    local y = xg * 2; y = y + 1; y = y:tanh(); local z = y * y; local s = z:sum()
    roots[0] = s.p
    local e = C.aga_engine_new(1, roots, grads, 0, 0, 0, nil, 1, 0)
    assert(C.aga_engine_run(e) == 0)
    C.aga_engine_free(e)
  end end))
end

-- 3. 4M-element add: results freed by the GC (fresh pages until the first collection,
-- then recycled buffers) vs in place; minor page faults per op from getrusage
if section(3) then
local n, iters = 4 * 1024 * 1024, 10
local A, B, D = ag.randn(n), ag.randn(n), ag.randn(n)
local faults = U.faults
local function once(f)
  local f0, t0 = faults(), U.now()
  f()
  return (U.now() - t0) / iters * 1e3, (faults() - f0) / iters
end
local function fresh() for _ = 1, iters do local c = A + B end end
header('4M float32 add (16 MB per result), ag threads: ' .. ag.get_num_threads())
collectgarbage(); ag.empty_cache()
local t, pf = once(fresh)
row(string.format('c = A + B, allocator cache empty: %.0f page faults/op', pf), t, 'ms')
collectgarbage()
t, pf = once(fresh)
row(string.format('c = A + B, after a collect (recycled): %.0f faults/op', pf), t, 'ms')
t, pf = once(function() for _ = 1, iters do local c = A + B; c = nil; collectgarbage() end end)
row(string.format('c = A + B; collectgarbage() (same buffer): %.0f faults/op', pf), t, 'ms')
t, pf = once(function() for _ = 1, iters do D:add_(B) end end)
row(string.format('D:add_(B) (in place, same bytes): %.0f faults/op', pf), t, 'ms')
end
