-- core.lua: what every part of the Lua layer shares: the C library handle, the Tensor
-- ctype, turning C results into owned Lua objects (ffi.gc) or Lua errors, argument
-- checks, dtype names and size parsing. The GC is driven from the C allocator's byte
-- count here, so a training loop stays bounded without collectgarbage() in user code.
local ffi = require 'ffi'
local C = require 'ag.lib'

local core = {C = C}
-- A Tensor is an ag_ref: a one-field struct holding the C pointer (see ag_tensor.h).
local Ref = ffi.typeof('ag_ref')
core.Tensor = Ref
local istype, ffi_gc, ffi_string = ffi.istype, ffi.gc, ffi.string
local release = C.ag_ref_release

-- memory: an adaptive soft limit on live tensor bytes (Torch7's heap tracking, made adaptive)
-- After each collection the limit is what survived plus a fixed headroom, so garbage
-- tensors never hold more than MIN_HEADROOM however big the live set (a dataset in memory)
-- is, and a loop's buffers cycle through the allocator's cache instead of fresh pages. A
-- full collection costs time in proportion to the Lua heap, not to tensor bytes, so
-- collecting often is cheap.
local stats = C.ag_alloc_stats_get()
local MIN_HEADROOM = 64 * 1024 * 1024
core.stats = stats

local function collect()
  collectgarbage('collect')
  local live = tonumber(stats.live_bytes)
  stats.soft_limit = live + MIN_HEADROOM
  stats.over_limit = 0
end
stats.soft_limit = math.max(tonumber(stats.live_bytes), 0) + MIN_HEADROOM
-- Tensor handles are tiny cdata with finalizers: collecting them as they die (pause 100,
-- a new cycle as soon as one ends, and steps twice LuaJIT's default size) returns their C
-- buffers while still warm in cache, which halves the cost of a small op. Scripts can set
-- their own after require 'ag'.
collectgarbage('setpause', 100)
collectgarbage('setstepmul', 400)
core.collect = collect

-- The smallest headroom of garbage tensor bytes before a collection; returns the old one.
function core.set_memory_limit(bytes)
  if type(bytes) ~= 'number' or bytes ~= bytes or bytes < 0 then
    error("ag.set_memory_limit: expected a number of bytes >= 0, got " .. tostring(bytes), 2)
  end
  local old = MIN_HEADROOM
  MIN_HEADROOM = bytes
  stats.soft_limit = tonumber(stats.live_bytes) + MIN_HEADROOM
  return old
end

-- Raise msg (by default the C error message), positioned at the first caller outside ag's
-- own files.
local function raise(msg)
  msg = msg or ffi_string(C.ag_last_error())
  for level = 3, 40 do
    local info = debug.getinfo(level, 'Sl')
    if not info then break end
    local src = info.source
    if info.what ~= 'C' and not (src:find('/ag/', 1, true) or src:find('@ag/', 1, true)) then
      error(msg, level)
    end
  end
  error(msg, 0)
end
core.raise = raise
core.raise_message = raise

-- anomaly mode: each new node remembers the Lua traceback of the op that made it
local anomaly = false
function core.set_anomaly(b) anomaly = b end
local function record_trace(p)
  local gf = C.aga_grad_fn(p)
  if gf ~= nil then
    if C.aga_node_trace(gf) == nil then C.aga_node_set_trace(gf, debug.traceback('', 3)) end
    C.aga_node_release(gf)
  end
end

-- Own a fresh tensor pointer, or raise the C error.
local function wrap(p)
  if p == nil then raise() end
  if stats.over_limit ~= 0 then collect() end
  if anomaly then record_trace(p) end
  return ffi_gc(Ref(p), release)
end
core.wrap = wrap

-- After a C call returned NULL: if it ran out of memory, collect every unreachable tensor,
-- give the allocator's cache back, and call f(...) once more. Ops call this only on
-- failure (`if r == nil then r = retry(C.f, ...) end`), so the fast path stays plain.
local function retry(f, ...)
  local msg = ffi_string(C.ag_last_error())
  if not msg:find('out of memory', 1, true) then return nil end
  collect()
  C.ag_empty_cache()
  return f(...)
end
core.retry = retry

-- A one-tensor op as a Lua function: check the argument, call f, retry once on
-- out-of-memory, own the result.
function core.unary_op(f, name)
  local check_ = core.check
  return function(a)
    local p = check_(a, name)
    local r = f(p)
    if r == nil then r = retry(f, p) end
    return wrap(r)
  end
end

-- Call f(...) and own its result; on out-of-memory collect everything and retry once.
function core.call(f, ...)
  local p = f(...)
  if p == nil then p = retry(f, ...) end
  return wrap(p)
end

-- Check an int status (0 ok, -1 error).
function core.ok(rc)
  if rc ~= 0 then raise() end
end

function core.is_tensor(x) return istype(Ref, x) end

local function typename(x)
  if istype(Ref, x) then return 'Tensor' end
  return type(x)
end
core.typename = typename

-- The C pointer of a Tensor argument, or an error naming the op and the position.
function core.check(x, op, pos)
  if istype(Ref, x) then return x.p end
  error(string.format("ag.%s: expected a Tensor as argument %d%s, but got %s", op, pos or 1,
        (pos or 1) == 1 and ' (self)' or '', typename(x)), 3)
end

-- dtypes
local dtypes = {float32 = 0, float64 = 1, int64 = 2, int32 = 3, uint8 = 4, bool = 5}
local aliases = {float = 'float32', double = 'float64', long = 'int64', int = 'int32',
                 byte = 'uint8', half = nil}
local names = {[0] = 'float32', 'float64', 'int64', 'int32', 'uint8', 'bool'}
core.dtype_names = names
function core.dtype_id(name, op)
  if name == nil then return 0 end
  if type(name) == 'string' then
    local id = dtypes[name] or dtypes[aliases[name] or '']
    if id then return id end
    local short = name:match('^ag%.(.*)$') or name:match('^torch%.(.*)$')
    if short and (dtypes[short] or aliases[short]) then return dtypes[short] or dtypes[aliases[short]] end
  end
  error(string.format("ag.%s: unknown dtype %s; expected one of float32, float64, int64, int32, uint8, bool",
                      op or 'tensor', tostring(name)), 3)
end

-- Sizes given as numbers or as one table, with an optional trailing options table:
-- f(2, 3), f({2, 3}), f(2, 3, {dtype = 'float64'}), f({2, 3}, {dtype = ...}).
local function is_options(t)
  return type(t) == 'table' and t[1] == nil and next(t) ~= nil
end
core.is_options = is_options

local function check_size(v, op, pos)
  if type(v) ~= 'number' then
    error(string.format("ag.%s: size must be a number, got %s at position %d", op, typename(v), pos), 4)
  end
  if v ~= v or v == math.huge or v == -math.huge then
    error(string.format("ag.%s: size must be a finite integer, got %s at position %d", op, tostring(v), pos), 4)
  end
  if v ~= math.floor(v) then
    error(string.format("ag.%s: size must be an integer, got %s at position %d", op, tostring(v), pos), 4)
  end
  if v < 0 then
    error(string.format("ag.%s: negative dimension %d in size at position %d; sizes must be >= 0", op, v, pos), 4)
  end
  return v
end

local function shape_string(list, n)
  local parts = {}
  for i = 1, n do parts[i] = string.format('%.0f', list[i]) end
  return '[' .. table.concat(parts, ', ') .. ']'
end

-- Returns n, int64_t[n], options (possibly {}).
function core.parse_sizes(op, ...)
  local n = select('#', ...)
  local args = {...}
  local opts = {}
  -- a trailing table with no array part is options, even empty: zeros(3, {dtype = nil})
  if n > 0 and (is_options(args[n]) or (n > 1 and type(args[n]) == 'table' and next(args[n]) == nil)) then
    opts = args[n]; n = n - 1
  end
  local list = args
  if n == 1 and type(args[1]) == 'table' then list = args[1]; n = #list end
  if n > 16 then error(string.format("ag.%s: at most 16 dimensions, got %d", op, n), 3) end
  local sizes = ffi.new('int64_t[?]', math.max(n, 1))
  local numel, zero = 1, false
  for i = 1, n do
    local v = check_size(list[i], op, i)
    if v == 0 then zero = true end
    numel = numel * v
    sizes[i - 1] = v
  end
  if not zero and numel > 2 ^ 62 then
    error(string.format("ag.%s: a tensor of shape %s has too many elements (more than 2^62)", op,
                        shape_string(list, n)), 3)
  end
  return n, sizes, opts
end

-- Like parse_sizes, but -1 is allowed (view/reshape/expand).
function core.parse_shape(op, ...)
  local n = select('#', ...)
  local list = {...}
  if n == 1 and type(list[1]) == 'table' then list = list[1]; n = #list end
  if n > 16 then error(string.format("ag.%s: at most 16 dimensions, got %d", op, n), 3) end
  local sizes = ffi.new('int64_t[?]', math.max(n, 1))
  for i = 1, n do
    local v = list[i]
    if v == -1 then sizes[i - 1] = -1 else sizes[i - 1] = check_size(v, op, i) end
  end
  return n, sizes
end

-- Dims as a number or a table: returns n, int64_t[n] (n = 0 means "all").
function core.parse_dims(op, dim)
  if dim == nil then return 0, nil end
  if type(dim) == 'number' then
    local d = ffi.new('int64_t[1]')
    d[0] = core.check_dim(dim, op, 'dim', 1)
    return 1, d
  end
  if type(dim) == 'table' then
    local n = #dim
    if n > 16 then error(string.format("ag.%s: at most 16 dims, got %d", op, n), 3) end
    local d = ffi.new('int64_t[?]', math.max(n, 1))
    for i = 1, n do d[i - 1] = core.check_dim(dim[i], op, 'dim', 1) end
    return n, d
  end
  error(string.format("ag.%s: dim must be a number or a table of numbers, got %s", op, typename(dim)), 3)
end

-- An integer that fits the C int64_t it is passed as.
function core.check_int(v, op, what, level)
  if type(v) ~= 'number' or v ~= v or v ~= math.floor(v) or v >= 2 ^ 63 or v < -2 ^ 63 then
    error(string.format("ag.%s: %s must be an integer, got %s", op, what, type(v) == 'number'
          and tostring(v) or typename(v)), 3 + (level or 0))
  end
  return v
end

-- A dimension: an integer that fits a C int (the C side then checks it against the rank).
function core.check_dim(v, op, what, level)
  core.check_int(v, op, what or 'dim', 1 + (level or 0))
  if v >= 2 ^ 31 or v < -2 ^ 31 + 1 then
    error(string.format("ag.%s: dimension out of range (got %.0f)", op, v), 3 + (level or 0))
  end
  return v
end

return core
