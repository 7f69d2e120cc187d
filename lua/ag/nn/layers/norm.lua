-- nn/layers/norm.lua: BatchNorm1d/2d (running statistics as buffers), LayerNorm and
-- GroupNorm, over ag.nn.functional's batch_norm / layer_norm / group_norm.
local ag_core = require 'ag.core'
local L = require 'ag.nn.layers.common'
local init = require 'ag.nn.init_weights'
local Module = L.Module

local M = {}

local function define_bn(name, ranks, expect)
  local cls = Module:extend(name)
  M[name] = cls
  function cls:init(...)
    local a = L.args(name, {'num_features', 'eps', 'momentum', 'affine', 'track_running_stats', 'dtype', 'device'},
                     {eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true}, ...)
    self.num_features = L.positive_int(name, 'num_features', a.num_features)
    self.eps, self.affine, self.track_running_stats = a.eps, a.affine, a.track_running_stats
    if a.momentum == false then a.momentum = nil end   -- momentum = false: a cumulative average
    self.momentum = a.momentum
    local ag = L.ag()
    if self.affine then
      self.weight = L.param(a.dtype, self.num_features)
      self.bias = L.param(a.dtype, self.num_features)
    end
    if self.track_running_stats then
      self:register_buffer('running_mean', ag.zeros(self.num_features, {dtype = a.dtype or 'float32'}))
      self:register_buffer('running_var', ag.ones(self.num_features, {dtype = a.dtype or 'float32'}))
      self:register_buffer('num_batches_tracked', ag.zeros({}, {dtype = 'int64'}))
    end
    self:reset_parameters()
  end
  function cls:reset_running_stats()
    if self.track_running_stats then
      init.zeros_(self.running_mean)
      init.ones_(self.running_var)
      self.num_batches_tracked:zero_()
    end
  end
  function cls:reset_parameters()
    self:reset_running_stats()
    if self.affine then
      init.ones_(self.weight)
      init.zeros_(self.bias)
    end
  end
  function cls:forward(x)
    L.check_input(name, x)
    if not ranks[x.ndim] then
      error(string.format("ag.nn.%s: expected %s input (got %dD input of shape [%s])", name, expect, x.ndim,
                          table.concat(x.shape, ', ')), 2)
    end
    if x.shape[2] ~= self.num_features then
      error(string.format("ag.nn.%s: expected %d features (channels) in dim 2, got shape [%s]", name,
                          self.num_features, table.concat(x.shape, ', ')), 2)
    end
    local factor = self.momentum or 0
    if self.training and self.track_running_stats then
      local n = self.num_batches_tracked
      L.ag().no_grad(function() n:add_(1) end)
      if self.momentum == nil then factor = 1 / n:item() end
    end
    local bn_training = self.training or not self.track_running_stats
    local use_stats = not self.training or self.track_running_stats
    return L.fn('batch_norm', name)(x, use_stats and self.running_mean or nil,
                                    use_stats and self.running_var or nil, self.weight, self.bias,
                                    bn_training, factor, self.eps)
  end
  function cls:extra_repr()
    return string.format('%d, eps=%g, momentum=%s, affine=%s, track_running_stats=%s', self.num_features,
                         self.eps, tostring(self.momentum), L.bool_str(self.affine),
                         L.bool_str(self.track_running_stats))
  end
end
define_bn('BatchNorm1d', {[2] = true, [3] = true}, '2D or 3D')
define_bn('BatchNorm2d', {[4] = true}, '4D')

-- LayerNorm(normalized_shape): normalises over the last #normalized_shape dims
local LayerNorm = Module:extend('LayerNorm')
M.LayerNorm = LayerNorm
function LayerNorm:init(...)
  local a = L.args('LayerNorm', {'normalized_shape', 'eps', 'elementwise_affine', 'dtype', 'device'},
                   {eps = 1e-5, elementwise_affine = true}, ...)
  local s = a.normalized_shape
  if type(s) == 'number' then s = {s} end
  if type(s) ~= 'table' or #s == 0 then
    error("ag.nn.LayerNorm: normalized_shape must be a size or a table of sizes, got " ..
          ag_core.typename(a.normalized_shape), 3)
  end
  for _, v in ipairs(s) do L.positive_int('LayerNorm', 'normalized_shape', v) end
  self.normalized_shape = {unpack(s)}
  self.eps, self.elementwise_affine = a.eps, a.elementwise_affine
  if self.elementwise_affine then
    self.weight = L.param(a.dtype, unpack(s))
    self.bias = L.param(a.dtype, unpack(s))
  end
  self:reset_parameters()
end
function LayerNorm:reset_parameters()
  if self.elementwise_affine then init.ones_(self.weight); init.zeros_(self.bias) end
end
function LayerNorm:forward(x)
  L.check_input('LayerNorm', x)
  local s, n = x.shape, #self.normalized_shape
  local ok = #s >= n
  for i = 1, n do ok = ok and s[#s - n + i] == self.normalized_shape[i] end
  if not ok then
    error(string.format("ag.nn.LayerNorm: expected an input whose last dims are [%s], got shape [%s]",
                        table.concat(self.normalized_shape, ', '), table.concat(s, ', ')), 2)
  end
  return L.fn('layer_norm', 'LayerNorm')(x, self.normalized_shape, self.weight, self.bias, self.eps)
end
function LayerNorm:extra_repr()
  return string.format('%s, eps=%g, elementwise_affine=%s', L.tuple_str(self.normalized_shape), self.eps,
                       L.bool_str(self.elementwise_affine))
end

-- GroupNorm(num_groups, num_channels): channels (dim 2) split into groups
local GroupNorm = Module:extend('GroupNorm')
M.GroupNorm = GroupNorm
function GroupNorm:init(...)
  local a = L.args('GroupNorm', {'num_groups', 'num_channels', 'eps', 'affine', 'dtype', 'device'},
                   {eps = 1e-5, affine = true}, ...)
  self.num_groups = L.positive_int('GroupNorm', 'num_groups', a.num_groups)
  self.num_channels = L.positive_int('GroupNorm', 'num_channels', a.num_channels)
  if self.num_channels % self.num_groups ~= 0 then
    error(string.format("ag.nn.GroupNorm: num_channels (%d) must be divisible by num_groups (%d)",
                        self.num_channels, self.num_groups), 3)
  end
  self.eps, self.affine = a.eps, a.affine
  if self.affine then
    self.weight = L.param(a.dtype, self.num_channels)
    self.bias = L.param(a.dtype, self.num_channels)
  end
  self:reset_parameters()
end
function GroupNorm:reset_parameters()
  if self.affine then init.ones_(self.weight); init.zeros_(self.bias) end
end
function GroupNorm:forward(x)
  L.check_input('GroupNorm', x)
  if x.ndim < 2 or x.shape[2] ~= self.num_channels then
    error(string.format("ag.nn.GroupNorm: expected an input with %d channels in dim 2, got shape [%s]",
                        self.num_channels, table.concat(x.shape, ', ')), 2)
  end
  return L.fn('group_norm', 'GroupNorm')(x, self.num_groups, self.weight, self.bias, self.eps)
end
function GroupNorm:extra_repr()
  return string.format('%d, %d, eps=%g, affine=%s', self.num_groups, self.num_channels, self.eps,
                       L.bool_str(self.affine))
end

return M
