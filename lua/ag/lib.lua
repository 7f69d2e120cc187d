-- lib.lua: finds and loads libag.so and declares its C API to the FFI. The library is
-- looked up (1) in $AG_LIBRARY, (2) on package.cpath as a luarocks install puts it, and
-- (3) in build/ next to the source tree this file lives in.
local ffi = require 'ffi'

ffi.cdef(require 'ag.cdef')
ffi.cdef [[
int setenv(const char *name, const char *value, int overwrite);
]]

local function here()
  local src = debug.getinfo(1, 'S').source
  return src:sub(1, 1) == '@' and src:sub(2):match('^(.*)/[^/]*$') or '.'
end

local function exists(path)
  local f = path and io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

local function find()
  local env = os.getenv('AG_LIBRARY')
  if env and exists(env) then return env end
  local p = package.searchpath('libag', package.cpath)
  if p then return p end
  for _, rel in ipairs({'/../../build/libag.so', '/../../build-asan/libag.so'}) do
    local cand = here() .. rel
    if exists(cand) then return cand end
  end
  error("ag: cannot find libag.so. Build it (cmake -B build && cmake --build build), install with " ..
        "`luarocks make rockspecs/ag-scm-1.rockspec`, or set AG_LIBRARY to its path.", 2)
end

-- One thread pool (DESIGN.md): OpenBLAS runs single-threaded and ag splits GEMMs over its
-- OpenMP threads (lib/tensor/gemm.c), so idle OpenMP threads may spin briefly before they
-- sleep: about 3 ms, libgomp's own default, which waking them for every op would otherwise
-- cost (the char-LSTM step: 67 -> 46 ms). The runtime reads this when libag pulls it in, so it
-- is set before the load; OMP_WAIT_POLICY or GOMP_SPINCOUNT set by the user win.
if not os.getenv('OMP_WAIT_POLICY') then ffi.C.setenv('GOMP_SPINCOUNT', '300000', 0) end

local path = find()
local lib = ffi.load(path)

-- A libag.so built from other headers than lua/ag/cdef.lua would read garbage: refuse it.
local ok, sizes = pcall(function()
  return {lib.ag_struct_size(0), lib.ag_struct_size(1), lib.ag_struct_size(2), lib.ag_struct_size(3),
          lib.aga_meta_size()}
end)
local want = {ffi.sizeof('ag_tensor'), ffi.sizeof('ag_storage'), ffi.sizeof('ag_alloc_stats'),
              ffi.sizeof('ag_ref'), ffi.sizeof('ag_meta')}
local stale = not ok
if ok then for i = 1, #want do if tonumber(sizes[i]) ~= want[i] then stale = true end end end
if stale then
  error("ag: " .. path .. " was built from other headers than lua/ag/cdef.lua (struct sizes differ); " ..
        "rebuild it (cmake -B build && cmake --build build) or point AG_LIBRARY at a current build", 2)
end
return lib
