-- nn/layers/common.lua: what the layer files share: constructor argument parsing
-- (PyTorch's positional order, or keyword options in a trailing table, or both), and
-- finding the functional a layer needs at call time, so a layer whose functional is not
-- built yet fails alone, with a message naming what is missing.
local core = require 'ag.core'
local module = require 'ag.nn.module'

local L = {Module = module.Module, Parameter = module.Parameter}

function L.ag() return require 'ag' end

-- The functional `name`, looked up when first needed in ag.nn.functional, then
-- ag.nn.functional_conv, then ag.<name>; `who` names the layer in the error.
local cache = {}
local function try(modname)
  local m = package.loaded[modname]
  if m == nil and package.searchpath(modname, package.path) then
    local ok, r = pcall(require, modname)
    if ok then m = r end
  end
  return type(m) == 'table' and m or nil
end
function L.fn(name, who)
  local f = cache[name]
  if f then return f end
  for _, modname in ipairs({'ag.nn.functional', 'ag.nn.functional_conv'}) do
    local m = try(modname)
    if m and m[name] then f = m[name]; break end
  end
  if not f then
    local ag = L.ag()
    f = rawget(ag, name)
    if f == nil and ag.F then f = ag.F[name] end
  end
  if not f then
    error(string.format("ag.nn.%s: needs ag.nn.functional.%s, which this build of ag does not have yet",
                        who, name), 3)
  end
  cache[name] = f
  return f
end
-- the functional or nil (for layers with a fallback)
function L.maybe(name)
  local ok, f = pcall(L.fn, name, '?')
  return ok and f or nil
end

-- Constructor arguments: positional values fill `names` in order; a trailing options table
-- (string keys only) sets any of them by name. Unknown option names are errors.
--   L.args('Linear', {'in_features', 'out_features', 'bias', 'dtype'}, {bias = true}, ...)
function L.args(who, names, defaults, ...)
  local n = select('#', ...)
  local list = {...}
  local r = {}
  local known = {}
  for _, k in ipairs(names) do known[k] = true end
  local last = list[n]
  if n > 0 and type(last) == 'table' and not core.is_tensor(last) and rawget(last, '_modules') == nil
     and (core.is_options(last) or next(last) == nil) then
    for k, v in pairs(last) do
      if not known[k] then
        error(string.format("ag.nn.%s: unknown option '%s' (expected one of: %s)", who, tostring(k),
                            table.concat(names, ', ')), 4)
      end
      r[k] = v
    end
    n = n - 1
  end
  if n > #names then
    error(string.format("ag.nn.%s: expected at most %d arguments (%s), got %d", who, #names,
                        table.concat(names, ', '), n), 4)
  end
  for i = 1, n do
    if list[i] ~= nil then
      if r[names[i]] ~= nil then
        error(string.format("ag.nn.%s: argument '%s' given both by position and by name", who, names[i]), 4)
      end
      r[names[i]] = list[i]
    end
  end
  for k, v in pairs(defaults or {}) do if r[k] == nil then r[k] = v end end
  return r
end

function L.positive_int(who, what, v, level)
  if type(v) ~= 'number' or v ~= math.floor(v) or v <= 0 then
    error(string.format("ag.nn.%s: %s must be a positive integer, got %s", who, what,
                        type(v) == 'number' and tostring(v) or core.typename(v)), (level or 3) + 1)
  end
  return v
end
function L.nonneg_int(who, what, v, level)
  if type(v) ~= 'number' or v ~= math.floor(v) or v < 0 then
    error(string.format("ag.nn.%s: %s must be a non-negative integer, got %s", who, what,
                        type(v) == 'number' and tostring(v) or core.typename(v)), (level or 3) + 1)
  end
  return v
end
function L.probability(who, v, level)
  if type(v) ~= 'number' or v < 0 or v > 1 then
    error(string.format("ag.nn.%s: dropout probability has to be between 0 and 1, but got %s", who,
                        tostring(v)), (level or 3) + 1)
  end
  return v
end

-- A number or a table of n numbers, as a table of n numbers (kernel sizes, strides...).
function L.tuple(who, what, v, n)
  if type(v) == 'number' then
    local t = {}
    for i = 1, n do t[i] = v end
    return t
  end
  if type(v) == 'table' and #v == n then
    for i = 1, n do
      if type(v[i]) ~= 'number' then
        error(string.format("ag.nn.%s: %s must be a number or a table of %d numbers", who, what, n), 4)
      end
    end
    return {unpack(v)}
  end
  error(string.format("ag.nn.%s: %s must be a number or a table of %d numbers, got %s", who, what, n,
                      type(v) == 'table' and ('a table of length ' .. #v) or core.typename(v)), 4)
end
function L.tuple_str(t)
  if type(t) ~= 'table' then return tostring(t) end
  return '(' .. table.concat(t, ', ') .. ')'
end

-- A fresh parameter of the given shape (filled by the layer's reset_parameters).
function L.param(dtype, ...)
  return module.Parameter(L.ag().empty({...}, {dtype = dtype or 'float32'}))
end

function L.check_input(who, x)
  if not core.is_tensor(x) then
    error(string.format("ag.nn.%s: expected a Tensor input, got %s", who, core.typename(x)), 3)
  end
end

function L.bool_str(b) return b and 'true' or 'false' end

return L
