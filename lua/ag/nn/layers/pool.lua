-- nn/layers/pool.lua: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d and
-- AdaptiveMaxPool1d/2d as modules over ag.nn.functional's pooling functions.
--   ag.nn.MaxPool2d(2)   ag.nn.MaxPool2d(3, {stride = 2, padding = 1})
local L = require 'ag.nn.layers.common'
local Module = L.Module

local M = {}

local function check_rank(who, x, nd)
  L.check_input(who, x)
  if x.ndim ~= nd + 1 and x.ndim ~= nd + 2 then
    error(string.format("ag.nn.%s: expected a %dD (unbatched) or %dD (batched) input, got shape [%s]", who,
                        nd + 1, nd + 2, table.concat(x.shape, ', ')), 3)
  end
end

local function show(v) return type(v) == 'table' and L.tuple_str(v) or tostring(v) end

local function define_max(name, nd)
  local cls = Module:extend(name)
  M[name] = cls
  local fname = 'max_pool' .. nd .. 'd'
  function cls:init(...)
    local a = L.args(name, {'kernel_size', 'stride', 'padding', 'dilation', 'return_indices', 'ceil_mode'},
                     {padding = 0, dilation = 1, return_indices = false, ceil_mode = false}, ...)
    if a.kernel_size == nil then error(string.format("ag.nn.%s: kernel_size is required", name), 3) end
    self.kernel_size = a.kernel_size
    self.stride = a.stride or a.kernel_size
    self.padding, self.dilation = a.padding, a.dilation
    self.return_indices, self.ceil_mode = a.return_indices, a.ceil_mode
  end
  function cls:forward(x)
    check_rank(name, x, nd)
    return L.fn(fname, name)(x, self.kernel_size, {stride = self.stride, padding = self.padding,
      dilation = self.dilation, ceil_mode = self.ceil_mode, return_indices = self.return_indices})
  end
  function cls:extra_repr()
    return string.format('kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s', show(self.kernel_size),
                         show(self.stride), show(self.padding), show(self.dilation), L.bool_str(self.ceil_mode))
  end
end
define_max('MaxPool1d', 1)
define_max('MaxPool2d', 2)

local function define_avg(name, nd)
  local cls = Module:extend(name)
  M[name] = cls
  local fname = 'avg_pool' .. nd .. 'd'
  local names = {'kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad'}
  if nd == 2 then names[#names + 1] = 'divisor_override' end
  function cls:init(...)
    local a = L.args(name, names, {padding = 0, ceil_mode = false, count_include_pad = true}, ...)
    if a.kernel_size == nil then error(string.format("ag.nn.%s: kernel_size is required", name), 3) end
    self.kernel_size = a.kernel_size
    self.stride = a.stride or a.kernel_size
    self.padding, self.ceil_mode, self.count_include_pad = a.padding, a.ceil_mode, a.count_include_pad
    self.divisor_override = a.divisor_override
  end
  function cls:forward(x)
    check_rank(name, x, nd)
    return L.fn(fname, name)(x, self.kernel_size, {stride = self.stride, padding = self.padding,
      ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad,
      divisor_override = self.divisor_override})
  end
  function cls:extra_repr()
    return string.format('kernel_size=%s, stride=%s, padding=%s', show(self.kernel_size), show(self.stride),
                         show(self.padding))
  end
end
define_avg('AvgPool1d', 1)
define_avg('AvgPool2d', 2)

local function define_adaptive(name, fname, nd, has_indices)
  local cls = Module:extend(name)
  M[name] = cls
  function cls:init(...)
    local names = {'output_size'}
    if has_indices then names[2] = 'return_indices' end
    local a = L.args(name, names, {return_indices = false}, ...)
    if a.output_size == nil then error(string.format("ag.nn.%s: output_size is required", name), 3) end
    self.output_size = a.output_size
    self.return_indices = has_indices and a.return_indices or nil
  end
  function cls:forward(x)
    check_rank(name, x, nd)
    local f = L.fn(fname, name)
    if has_indices and self.return_indices then return f(x, self.output_size, {return_indices = true}) end
    return f(x, self.output_size)
  end
  function cls:extra_repr() return 'output_size=' .. show(self.output_size) end
end
define_adaptive('AdaptiveAvgPool1d', 'adaptive_avg_pool1d', 1, false)
define_adaptive('AdaptiveAvgPool2d', 'adaptive_avg_pool2d', 2, false)
define_adaptive('AdaptiveMaxPool1d', 'adaptive_max_pool1d', 1, true)
define_adaptive('AdaptiveMaxPool2d', 'adaptive_max_pool2d', 2, true)

return M
