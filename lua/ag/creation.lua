-- creation.lua: the factories: ag.tensor from nested Lua tables or a number, zeros, ones,
-- full, empty, arange, linspace, eye, the *_like forms, and the seeded random ones
-- (Philox in C: manual_seed makes every stream reproducible).
local ffi = require 'ffi'
local core = require 'ag.core'
local C, wrap, ok, call = core.C, core.wrap, core.ok, core.call

local F = {}

local function finish(t, opts)
  if opts.requires_grad then ok(C.aga_set_requires_grad(t.p, 1)) end
  return t
end

-- Shape of nested tables, checking they are rectangular and hold numbers or booleans.
local function infer(data)
  local shape, node = {}, data
  while type(node) == 'table' do
    shape[#shape + 1] = #node
    if #node == 0 then break end
    node = node[1]
  end
  if #shape > 16 then error("ag.tensor: at most 16 levels of nesting", 4) end
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local buf = ffi.new('double[?]', math.max(n, 1))
  local nd, pos, any_bool, all_bool = #shape, 0, false, true
  local idx = {}                 -- where the walk is, for error messages only
  local function path(d)
    local parts = {'data'}
    for k = 1, d - 1 do parts[k + 1] = '[' .. idx[k] .. ']' end
    return table.concat(parts)
  end
  local function walk(t, d)
    local len = shape[d]
    if type(t) ~= 'table' or #t ~= len then
      error(string.format("ag.tensor: ragged nested table: expected a sequence of length %d at %s, got %s",
                          len, path(d), type(t) == 'table' and ('length ' .. #t) or core.typename(t)), 5)
    end
    -- a hole (nil) or a non-integer key would be silently dropped by #t
    local count = 0
    for _ in pairs(t) do count = count + 1 end
    if count ~= len then
      error(string.format("ag.tensor: the table at %s is not a sequence: it has %d keys but length %d " ..
                          "(a nil hole, or a non-integer key); give numbers at 1..n only", path(d), count, len), 5)
    end
    if d < nd then
      for i = 1, len do idx[d] = i; walk(t[i], d + 1) end
      return
    end
    for i = 1, len do
      local v = t[i]
      local tv = type(v)
      if tv == 'number' then all_bool = false
      elseif tv == 'boolean' then v = v and 1 or 0; any_bool = true
      elseif core.is_tensor(v) and v:numel() == 1 then
        v = v:item()
        if type(v) == 'boolean' then v = v and 1 or 0; any_bool = true else all_bool = false end
      else
        idx[d] = i
        error(string.format("ag.tensor: expected a number at %s, got %s", path(d + 1), core.typename(v)), 5)
      end
      buf[pos] = v
      pos = pos + 1
    end
  end
  walk(data, 1)
  return shape, buf, any_bool and all_bool and n > 0
end

function F.tensor(data, opts)
  opts = opts or {}
  if core.is_tensor(data) then
    local t = data:detach():clone()
    if opts.dtype then t = t:to(opts.dtype) end
    return finish(t, opts)
  end
  local shape, buf, is_bool
  if type(data) == 'number' or type(data) == 'boolean' then
    shape, buf = {}, ffi.new('double[1]', type(data) == 'boolean' and (data and 1 or 0) or data)
    is_bool = type(data) == 'boolean'
  elseif type(data) == 'table' then
    shape, buf, is_bool = infer(data)
  else
    error("ag.tensor: expected a number or a nested table of numbers, got " .. core.typename(data), 2)
  end
  local dtype = opts.dtype and core.dtype_id(opts.dtype, 'tensor') or (is_bool and 5 or 0)
  local sizes = ffi.new('int64_t[?]', math.max(#shape, 1), shape)
  return finish(call(C.agt_from_doubles, buf, #shape, sizes, dtype), opts)
end

local function sized(name, fill)
  return function(...)
    local n, sizes, opts = core.parse_sizes(name, ...)
    local dtype = core.dtype_id(opts.dtype, name)
    local t = call(fill, n, sizes, dtype, opts)
    return finish(t, opts)
  end
end

F.zeros = sized('zeros', function(n, s, d) return C.agt_full(n, s, 0, d) end)
F.ones = sized('ones', function(n, s, d) return C.agt_full(n, s, 1, d) end)
F.empty = sized('empty', function(n, s, d) return C.agt_empty(n, s, d) end)
F.rand = sized('rand', function(n, s, d)
  local t = C.agt_empty(n, s, d)
  if t ~= nil and C.agt_uniform_(t, 0, 1) ~= 0 then C.agt_release(t) return nil end
  return t
end)
F.randn = sized('randn', function(n, s, d)
  local t = C.agt_empty(n, s, d)
  if t ~= nil and C.agt_normal_(t, 0, 1) ~= 0 then C.agt_release(t) return nil end
  return t
end)

function F.full(size, value, opts)
  opts = opts or {}
  if type(size) == 'number' then size = {size} end
  if type(value) ~= 'number' and type(value) ~= 'boolean' then
    error("ag.full: fill value must be a number, got " .. core.typename(value), 2)
  end
  local n, sizes = core.parse_sizes('full', size)
  local dtype = core.dtype_id(opts.dtype or (type(value) == 'boolean' and 'bool' or nil), 'full')
  if type(value) == 'boolean' then value = value and 1 or 0 end
  return finish(call(C.agt_full, n, sizes, value, dtype), opts)
end

-- randint(low, high, size, opts) or randint(high, size, opts), int64 by default
function F.randint(a, b, c, d)
  local low, high, size, opts
  if type(b) == 'table' and not core.is_options(b) then low, high, size, opts = 0, a, b, c
  else low, high, size, opts = a, b, c, d end
  opts = opts or {}
  core.check_int(low, 'randint', 'low'); core.check_int(high, 'randint', 'high')
  local n, sizes = core.parse_sizes('randint', size)
  local t = call(C.agt_empty, n, sizes, core.dtype_id(opts.dtype or 'int64', 'randint'))
  ok(C.agt_randint_(t.p, low, high))
  return finish(t, opts)
end

function F.randperm(n, opts)
  core.check_int(n, 'randperm', 'n')
  local t = wrap(C.agt_randperm(n))
  if opts and opts.dtype then t = t:to(opts.dtype) end
  return t
end

local function like(name, make)
  F[name .. '_like'] = function(t, a, b)
    core.check(t, name .. '_like')
    local opts = core.is_options(a) and a or (core.is_options(b) and b or {})
    local o = {dtype = opts.dtype or t.dtype, requires_grad = opts.requires_grad}
    return make(t.shape, a, o)
  end
end
like('zeros', function(s, _, o) return F.zeros(s, o) end)
like('ones', function(s, _, o) return F.ones(s, o) end)
like('empty', function(s, _, o) return F.empty(s, o) end)
like('rand', function(s, _, o) return F.rand(s, o) end)
like('randn', function(s, _, o) return F.randn(s, o) end)
like('full', function(s, v, o) return F.full(s, v, o) end)

-- arange(end), arange(start, end), arange(start, end, step); the end is excluded
function F.arange(a, b, c, d)
  local args = {a, b, c, d}
  local opts = {}
  for i = 4, 1, -1 do
    if core.is_options(args[i]) then opts = args[i]; args[i] = nil; break end
  end
  local start, stop, step = args[1], args[2], args[3]
  if stop == nil then start, stop = 0, start end
  step = step or 1
  for _, v in ipairs({start, stop, step}) do
    if type(v) ~= 'number' then error("ag.arange: start, end and step must be numbers, got " .. core.typename(v), 2) end
  end
  local dtype = opts.dtype
  if not dtype then
    local ints = start == math.floor(start) and stop == math.floor(stop) and step == math.floor(step)
    dtype = ints and 'int64' or 'float32'
  end
  return finish(call(C.agt_arange, start, stop, step, core.dtype_id(dtype, 'arange')), opts)
end

function F.linspace(start, stop, steps, opts)
  opts = opts or {}
  core.check_int(steps, 'linspace', 'steps')
  return finish(call(C.agt_linspace, start, stop, steps, core.dtype_id(opts.dtype, 'linspace')), opts)
end

function F.eye(n, m, opts)
  if type(m) == 'table' then m, opts = nil, m end
  opts = opts or {}
  core.check_int(n, 'eye', 'n')
  if n < 0 then error("ag.eye: n must be greater or equal to 0, got " .. n, 2) end
  if m ~= nil then
    core.check_int(m, 'eye', 'm')
    if m < 0 then error("ag.eye: m must be greater or equal to 0, got " .. m, 2) end
  end
  return finish(call(C.agt_eye, n, m or -1, core.dtype_id(opts.dtype, 'eye')), opts)
end

-- random state
function F.manual_seed(seed)
  core.check_int(seed, 'manual_seed', 'seed')
  C.agt_manual_seed(seed)
end
function F.initial_seed() return tonumber(C.agt_rng_seed()) end
function F.get_rng_state() return {seed = C.agt_rng_seed(), offset = C.agt_rng_offset()} end
function F.set_rng_state(s) C.agt_rng_set_state(s.seed, s.offset) end

return F
