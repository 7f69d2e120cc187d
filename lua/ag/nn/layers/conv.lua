-- nn/layers/conv.lua: Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d, over
-- ag.nn.functional's conv1d/conv2d/conv_transpose1d/conv_transpose2d. Weights start as
-- PyTorch's: kaiming_uniform_(a = sqrt(5)), bias uniform in +-1/sqrt(fan_in).
--   ag.nn.Conv2d(1, 32, 3)  ag.nn.Conv2d(32, 64, 3, {stride = 2, padding = 1})
local L = require 'ag.nn.layers.common'
local init = require 'ag.nn.init_weights'
local Module = L.Module

local M = {}

local function define(name, nd, transposed)
  local cls = Module:extend(name)
  M[name] = cls
  local names = {'in_channels', 'out_channels', 'kernel_size', 'stride', 'padding'}
  if transposed then
    for _, k in ipairs({'output_padding', 'groups', 'bias', 'dilation'}) do names[#names + 1] = k end
  else
    for _, k in ipairs({'dilation', 'groups', 'bias'}) do names[#names + 1] = k end
  end
  names[#names + 1] = 'padding_mode'
  names[#names + 1] = 'dtype'
  names[#names + 1] = 'device'
  local fname = (transposed and 'conv_transpose' or 'conv') .. nd .. 'd'

  function cls:init(...)
    local a = L.args(name, names, {stride = 1, padding = 0, dilation = 1, groups = 1, bias = true,
                                   output_padding = 0, padding_mode = 'zeros'}, ...)
    self.in_channels = L.positive_int(name, 'in_channels', a.in_channels)
    self.out_channels = L.positive_int(name, 'out_channels', a.out_channels)
    self.groups = L.positive_int(name, 'groups', a.groups)
    if self.in_channels % self.groups ~= 0 then
      error(string.format("ag.nn.%s: in_channels (%d) must be divisible by groups (%d)", name,
                          self.in_channels, self.groups), 3)
    end
    if self.out_channels % self.groups ~= 0 then
      error(string.format("ag.nn.%s: out_channels (%d) must be divisible by groups (%d)", name,
                          self.out_channels, self.groups), 3)
    end
    self.kernel_size = L.tuple(name, 'kernel_size', a.kernel_size, nd)
    for _, k in ipairs(self.kernel_size) do L.positive_int(name, 'kernel_size', k) end
    self.stride = L.tuple(name, 'stride', a.stride, nd)
    if type(a.padding) == 'string' then
      if a.padding ~= 'same' and a.padding ~= 'valid' then
        error(string.format("ag.nn.%s: invalid padding string '%s', should be one of 'valid', 'same'",
                            name, a.padding), 3)
      end
      if transposed then error(string.format("ag.nn.%s: padding must be a number or a table", name), 3) end
      self.padding = a.padding
    else
      self.padding = L.tuple(name, 'padding', a.padding, nd)
    end
    self.dilation = L.tuple(name, 'dilation', a.dilation, nd)
    if transposed then self.output_padding = L.tuple(name, 'output_padding', a.output_padding, nd) end
    if a.padding_mode ~= 'zeros' then
      error(string.format("ag.nn.%s: padding_mode '%s' is not supported yet; only 'zeros'", name,
                          tostring(a.padding_mode)), 3)
    end
    self.padding_mode = a.padding_mode
    local shape
    if transposed then shape = {self.in_channels, self.out_channels / self.groups}
    else shape = {self.out_channels, self.in_channels / self.groups} end
    for _, k in ipairs(self.kernel_size) do shape[#shape + 1] = k end
    self.weight = L.param(a.dtype, unpack(shape))
    if a.bias then self.bias = L.param(a.dtype, self.out_channels) end
    self:reset_parameters()
  end

  function cls:reset_parameters()
    init.kaiming_uniform_(self.weight, {a = math.sqrt(5)})
    if self.bias then
      local fan_in = init._calculate_fan_in_and_fan_out(self.weight)
      if fan_in ~= 0 then
        local bound = 1 / math.sqrt(fan_in)
        init.uniform_(self.bias, -bound, bound)
      end
    end
  end

  function cls:forward(x, output_size)
    L.check_input(name, x)
    local nd_in = x.ndim
    if nd_in ~= nd + 1 and nd_in ~= nd + 2 then
      error(string.format("ag.nn.%s: expected a %dD (unbatched) or %dD (batched) input, got shape [%s]", name,
                          nd + 1, nd + 2, table.concat(x.shape, ', ')), 2)
    end
    local c = x.shape[nd_in - nd]
    if c ~= self.in_channels then
      error(string.format("ag.nn.%s: expected input with %d channels (dim %d), got %d channels in shape [%s]",
                          name, self.in_channels, nd_in - nd, c, table.concat(x.shape, ', ')), 2)
    end
    local f = L.fn(fname, name)
    local o = {stride = self.stride, padding = self.padding, dilation = self.dilation, groups = self.groups}
    if transposed then
      o.output_padding = self.output_padding
      if output_size then o.output_size = output_size end
    end
    return f(x, self.weight, self.bias, o)
  end

  if name == 'Conv2d' then
    -- max_pool2d(self(x)) for pool (an nn.MaxPool2d without return_indices) as one node when
    -- x needs no gradient: nn.Sequential's Conv2d -> MaxPool2d (F._conv2d_max_pool2d)
    function cls:forward_max_pool(x, pool)
      L.check_input(name, x)
      if x.ndim ~= 4 or x.shape[2] ~= self.in_channels then return pool(self(x)) end
      local o = {stride = self.stride, padding = self.padding, dilation = self.dilation, groups = self.groups}
      return L.fn('_conv2d_max_pool2d', name)(x, self.weight, self.bias, o,
        {kernel_size = pool.kernel_size, stride = pool.stride, padding = pool.padding, dilation = pool.dilation,
         ceil_mode = pool.ceil_mode})
    end
  end

  function cls:extra_repr()
    local s = string.format('%d, %d, kernel_size=%s, stride=%s', self.in_channels, self.out_channels,
                            L.tuple_str(self.kernel_size), L.tuple_str(self.stride))
    local function nonzero(t, v)
      if type(t) ~= 'table' then return true end
      for _, x in ipairs(t) do if x ~= v then return true end end
      return false
    end
    if nonzero(self.padding, 0) then s = s .. ', padding=' .. L.tuple_str(self.padding) end
    if nonzero(self.dilation, 1) then s = s .. ', dilation=' .. L.tuple_str(self.dilation) end
    if transposed and nonzero(self.output_padding, 0) then
      s = s .. ', output_padding=' .. L.tuple_str(self.output_padding)
    end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    return s
  end
end

define('Conv1d', 1, false)
define('Conv2d', 2, false)
define('ConvTranspose1d', 1, true)
define('ConvTranspose2d', 2, true)

return M
