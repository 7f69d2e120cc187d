-- ops/math.lua: the math op family's elementwise ops: fused activations (logsigmoid,
-- relu6, leaky_relu, elu, selu, gelu, silu, mish, softplus, hardtanh) as ag.<op>, and
-- lerp, addcmul, addcdiv as ag.<op> and tensor methods (with in-place forms). Each is one
-- C call (lib/autograd/math_grad.c); keyword arguments come as a trailing options table.
local core = require 'ag.core'
local tensor = require 'ag.tensor'

local C, check, wrap, retry = core.C, core.check, core.wrap, core.retry
local is_tensor, is_options, typename = core.is_tensor, core.is_options, core.typename
local M = tensor.methods
local E = {}

local ACT = {logsigmoid = 0, hardtanh = 1, leaky_relu = 2, elu = 3, gelu = 4, gelu_tanh = 5,
             silu = 6, mish = 7, softplus = 8}

local function activation(op, name, x, p0, p1, p2)
  local p = check(x, name)
  local r = C.aga_activation(op, p, p0, p1, p2)
  if r == nil then r = retry(C.aga_activation, op, p, p0, p1, p2) end
  return wrap(r)
end

-- a number argument given positionally or by name in the options table
local function number(v, default, op, what)
  if v == nil then return default end
  if type(v) ~= 'number' then
    error(string.format("ag.%s: %s must be a number, got %s", op, what, typename(v)), 4)
  end
  return v
end

-- f(x, a, b, {name_a =, name_b =}): positional values, overridden by the options table
local function args(op, names, defaults, ...)
  local n = select('#', ...)
  local vals = {...}
  local opts = n > 0 and is_options(vals[n]) and vals[n] or nil
  if opts then
    vals[n] = nil
    for k in pairs(opts) do
      local known = k == 'inplace'
      for _, nm in ipairs(names) do if nm == k then known = true end end
      if not known then error(string.format("ag.%s: unknown option '%s'", op, tostring(k)), 3) end
    end
  end
  local out = {}
  for i, nm in ipairs(names) do
    local v = vals[i]
    if opts and opts[nm] ~= nil then v = opts[nm] end
    out[i] = number(v, defaults[i], op, nm)
  end
  return unpack(out, 1, #names)
end

function E.logsigmoid(x) return activation(ACT.logsigmoid, 'logsigmoid', x, 0, 0, 0) end
function E.hardtanh(x, ...)
  local lo, hi = args('hardtanh', {'min_val', 'max_val'}, {-1, 1}, ...)
  return activation(ACT.hardtanh, 'hardtanh', x, lo, hi, 0)
end
function E.relu6(x) return activation(ACT.hardtanh, 'relu6', x, 0, 6, 0) end
function E.leaky_relu(x, ...)
  local slope = args('leaky_relu', {'negative_slope'}, {0.01}, ...)
  return activation(ACT.leaky_relu, 'leaky_relu', x, slope, 0, 0)
end
function E.elu(x, ...)
  local alpha = args('elu', {'alpha'}, {1}, ...)
  return activation(ACT.elu, 'elu', x, alpha, 1, 1)
end
local SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
function E.selu(x) return activation(ACT.elu, 'selu', x, SELU_ALPHA, SELU_SCALE, 1) end
function E.gelu(x, approximate)
  if type(approximate) == 'table' then approximate = approximate.approximate end
  if approximate == nil or approximate == 'none' then return activation(ACT.gelu, 'gelu', x, 0, 0, 0) end
  if approximate == 'tanh' then return activation(ACT.gelu_tanh, 'gelu', x, 0, 0, 0) end
  error(string.format("ag.gelu: approximate must be 'none' or 'tanh', got %s", tostring(approximate)), 2)
end
function E.silu(x) return activation(ACT.silu, 'silu', x, 0, 0, 0) end
function E.mish(x) return activation(ACT.mish, 'mish', x, 0, 0, 0) end
function E.softplus(x, ...)
  local beta, threshold = args('softplus', {'beta', 'threshold'}, {1, 20}, ...)
  if beta == 0 then error("ag.softplus: beta must not be 0", 2) end
  return activation(ACT.softplus, 'softplus', x, beta, threshold, 0)
end

-- the 'value' of addcmul/addcdiv: positional number or {value = }
local function value_of(op, v)
  if v == nil then return 1 end
  if type(v) == 'table' and is_options(v) then v = v.value; if v == nil then return 1 end end
  if type(v) ~= 'number' then
    error(string.format("ag.%s: value must be a number, got %s", op, typename(v)), 3)
  end
  return v
end

local function addc(f, op)
  return function(a, t1, t2, value)
    local pa, p1, p2 = check(a, op, 1), check(t1, op, 2), check(t2, op, 3)
    local v = value_of(op, value)
    local r = f(pa, p1, p2, v)
    if r == nil then r = retry(f, pa, p1, p2, v) end
    return wrap(r)
  end
end
E.addcmul = addc(C.aga_addcmul, 'addcmul')
E.addcdiv = addc(C.aga_addcdiv, 'addcdiv')

function E.lerp(start, stop, weight)
  local ps, pe = check(start, 'lerp', 1), check(stop, 'lerp', 2)
  local r
  if type(weight) == 'number' then
    r = C.aga_lerp_scalar(ps, pe, weight)
    if r == nil then r = retry(C.aga_lerp_scalar, ps, pe, weight) end
  elseif is_tensor(weight) then
    r = C.aga_lerp(ps, pe, weight.p)
    if r == nil then r = retry(C.aga_lerp, ps, pe, weight.p) end
  else
    error(string.format("ag.lerp: weight must be a number or a Tensor, got %s", typename(weight)), 2)
  end
  return wrap(r)
end

-- in-place forms: compute, then copy into self (checks leaves, bumps the version)
local function inplace(f, name)
  return function(a, ...)
    check(a, name)
    return M.copy_(a, f(a, ...))
  end
end
for _, name in ipairs({'addcmul', 'addcdiv', 'lerp'}) do
  M[name] = E[name]
  M[name .. '_'] = inplace(E[name], name .. '_')
end

return E
