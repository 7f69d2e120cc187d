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

-- The PyTorch twin runs twice, with the environment this process started with (loading ag
-- sets GOMP_SPINCOUNT, lua/ag/lib.lua, and a child would inherit it) and with
-- OMP_WAIT_POLICY=PASSIVE: PyTorch's OpenMP pool and its pthreads OpenBLAS spin against each
-- other on 2 cores, and which setting is faster varies by model (the char step: 101 vs 225 ms
-- passive vs default; the CNN: the other way round). Callers keep PyTorch's better number.
-- Returns every line both runs printed.
local user_env = {GOMP_SPINCOUNT = os.getenv('GOMP_SPINCOUNT'), OMP_WAIT_POLICY = os.getenv('OMP_WAIT_POLICY')}
function U.torch_lines(script)
  local py = (os.getenv('PYTHON') or '/usr/bin/python3') .. ' ' .. dir .. '/' .. script
  local base = user_env.GOMP_SPINCOUNT and 'env ' or 'env -u GOMP_SPINCOUNT '
  local runs = {base .. py}
  if not user_env.OMP_WAIT_POLICY then runs[2] = base .. 'OMP_WAIT_POLICY=PASSIVE ' .. py end
  local lines = {}
  for _, cmd in ipairs(runs) do
    local p = io.popen(cmd)
    for line in p:lines() do lines[#lines + 1] = line end
    p:close()
  end
  return lines
end

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
