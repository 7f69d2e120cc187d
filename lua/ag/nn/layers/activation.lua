-- nn/layers/activation.lua: the activation functions as modules (ReLU, GELU, Softmax,
-- PReLU, ...). Each forwards to its ag.nn.functional counterpart, found at call time;
-- ReLU, Sigmoid and Tanh use the tensor methods directly.
local L = require 'ag.nn.layers.common'
local init = require 'ag.nn.init_weights'
local Module = L.Module

local M = {}

-- define(name, functional name, option names in PyTorch's order, defaults, tensor method to use instead)
local function define(name, fname, names, defaults, method)
  local cls = Module:extend(name)
  M[name] = cls
  function cls:init(...)
    local a = L.args(name, names, defaults, ...)
    for _, k in ipairs(names) do self[k] = a[k] end
  end
  -- the functional gets the options positionally in PyTorch's order (inplace left out),
  -- except keyword-only ones (GELU's approximate), given as an options table when set
  local positional = {}
  for _, k in ipairs(names) do if k ~= 'inplace' and k ~= 'approximate' then positional[#positional + 1] = k end end
  function cls:forward(x)
    L.check_input(name, x)
    if method then return x[method](x) end
    local f = L.fn(fname, name)
    if self.approximate ~= nil and self.approximate ~= 'none' then return f(x, {approximate = self.approximate}) end
    if #positional == 0 then return f(x) end
    if #positional == 1 then return f(x, self[positional[1]]) end
    local vals = {}
    for i, k in ipairs(positional) do vals[i] = self[k] end
    return f(x, unpack(vals, 1, #positional))
  end
  function cls:extra_repr()
    local parts = {}
    for _, k in ipairs(names) do
      local v = self[k]
      if v ~= nil and not (k == 'inplace' and not v) then
        parts[#parts + 1] = k .. '=' .. (type(v) == 'boolean' and L.bool_str(v) or tostring(v))
      end
    end
    return table.concat(parts, ', ')
  end
  return cls
end

define('ReLU', 'relu', {'inplace'}, {inplace = false}, 'relu')
define('Sigmoid', 'sigmoid', {}, {}, 'sigmoid')
define('Tanh', 'tanh', {}, {}, 'tanh')
define('ReLU6', 'relu6', {'inplace'}, {inplace = false})
define('LeakyReLU', 'leaky_relu', {'negative_slope', 'inplace'}, {negative_slope = 0.01, inplace = false})
define('ELU', 'elu', {'alpha', 'inplace'}, {alpha = 1.0, inplace = false})
define('CELU', 'celu', {'alpha', 'inplace'}, {alpha = 1.0, inplace = false})
define('SELU', 'selu', {'inplace'}, {inplace = false})
define('GELU', 'gelu', {'approximate'}, {approximate = 'none'})
define('SiLU', 'silu', {'inplace'}, {inplace = false})
define('Mish', 'mish', {'inplace'}, {inplace = false})
define('Softplus', 'softplus', {'beta', 'threshold'}, {beta = 1, threshold = 20})
define('Softsign', 'softsign', {}, {})
define('Hardtanh', 'hardtanh', {'min_val', 'max_val', 'inplace'}, {min_val = -1, max_val = 1, inplace = false})
define('Hardsigmoid', 'hardsigmoid', {'inplace'}, {inplace = false})
define('Hardswish', 'hardswish', {'inplace'}, {inplace = false})
define('LogSigmoid', 'logsigmoid', {}, {})
define('Tanhshrink', 'tanhshrink', {}, {})
define('Softshrink', 'softshrink', {'lambd'}, {lambd = 0.5})
define('Hardshrink', 'hardshrink', {'lambd'}, {lambd = 0.5})
define('Threshold', 'threshold', {'threshold', 'value', 'inplace'}, {inplace = false})

-- softmax-like: the dim is required (1-based; -1 is the last)
local function define_dim(name, fname)
  local cls = Module:extend(name)
  M[name] = cls
  function cls:init(...)
    local a = L.args(name, {'dim'}, {}, ...)
    if type(a.dim) ~= 'number' then
      error(string.format("ag.nn.%s: give the dimension to normalise over, e.g. ag.nn.%s(-1) " ..
                          "(dims are 1-based; -1 is the last)", name, name), 3)
    end
    self.dim = a.dim
  end
  function cls:forward(x)
    L.check_input(name, x)
    return L.fn(fname, name)(x, self.dim)
  end
  function cls:extra_repr() return 'dim=' .. self.dim end
end
define_dim('Softmax', 'softmax')
define_dim('LogSoftmax', 'log_softmax')
define_dim('Softmin', 'softmin')

-- PReLU: a learnable negative slope, one shared or one per channel (dim 2)
local PReLU = Module:extend('PReLU')
M.PReLU = PReLU
function PReLU:init(...)
  local a = L.args('PReLU', {'num_parameters', 'init', 'dtype', 'device'}, {num_parameters = 1, init = 0.25}, ...)
  self.num_parameters = L.positive_int('PReLU', 'num_parameters', a.num_parameters)
  self.init_value = a.init
  self.weight = L.param(a.dtype, self.num_parameters)
  self:reset_parameters()
end
function PReLU:reset_parameters() init.constant_(self.weight, self.init_value) end
function PReLU:forward(x)
  L.check_input('PReLU', x)
  local f = L.maybe('prelu')
  if f then return f(x, self.weight) end
  local w = self.weight
  if self.num_parameters > 1 then
    local shape = {}
    for i = 1, x.ndim do shape[i] = 1 end
    if x.ndim < 2 or x.shape[2] ~= self.num_parameters then
      error(string.format("ag.nn.PReLU: %d slopes need an input with %d channels in dim 2, got shape [%s]",
                          self.num_parameters, self.num_parameters, table.concat(x.shape, ', ')), 2)
    end
    shape[2] = self.num_parameters
    w = w:view(shape)
  end
  local ag = L.ag()
  return ag.where(x:gt(0), x, x * w)
end
function PReLU:extra_repr() return 'num_parameters=' .. self.num_parameters end

return M
