-- bench_util.lua: what the Lua benchmarks share: lua/ag on package.path (found from this
-- file, so scripts run from any directory), a wall clock, repeat-and-take-min/median, and
-- `RESULT key value` lines that run.sh turns into the table.
local ffi = require 'ffi'
local dir = debug.getinfo(1, 'S').source:match('^@(.*)/[^/]*$') or '.'
package.path = dir .. '/../lua/?.lua;' .. dir .. '/../lua/?/init.lua;' .. package.path

ffi.cdef [[
typedef struct { long sec, nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
typedef struct { long ut[2], st[2]; long maxrss, ixrss, idrss, isrss, minflt, majflt, rest[8]; } bench_rusage;
int getrusage(int who, bench_rusage *ru);
]]
local ts = ffi.new('bench_timespec')
local U = {}

function U.now()   -- seconds, CLOCK_MONOTONIC (wall time: counts BLAS/OpenMP threads once)
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9
end

local ru = ffi.new('bench_rusage')
function U.faults()   -- minor page faults of this process so far (first touches of fresh pages)
  ffi.C.getrusage(0, ru)
  return tonumber(ru.minflt)
end

-- Run f() `reps` times; returns min and median of the seconds each run took.
function U.time(reps, f)
  local t = {}
  for r = 1, reps do
    local t0 = U.now()
    f()
    t[r] = U.now() - t0
  end
  table.sort(t)
  return t[1], t[math.floor((reps + 1) / 2)]
end

U.reps = tonumber(os.getenv('BENCH_REPS')) or 7

-- require 'ag', with BENCH_THREADS applied (PyTorch's side uses the same count)
function U.ag()
  local ag = require 'ag'
  local n = tonumber(os.getenv('BENCH_THREADS'))
  if n then ag.set_num_threads(n) end
  return ag
end

function U.result(key, value) print(string.format('RESULT %s %.6g', key, value)) end
function U.note(fmt, ...) io.stderr:write(string.format(fmt, ...), '\n') end

return U
