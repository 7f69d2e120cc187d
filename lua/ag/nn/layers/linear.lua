-- nn/layers/linear.lua: Linear, Bilinear, Identity, Flatten and Unflatten.
-- Weights start as PyTorch's do: kaiming_uniform_(a = sqrt(5)) and a bias uniform in
-- +-1/sqrt(fan_in).
local L = require 'ag.nn.layers.common'
local init = require 'ag.nn.init_weights'
local Module = L.Module

local M = {}

-- y = x W^T + b; weight [out_features, in_features], bias [out_features]
local Linear = Module:extend('Linear')
M.Linear = Linear

function Linear:init(...)
  local a = L.args('Linear', {'in_features', 'out_features', 'bias', 'dtype', 'device'}, {bias = true}, ...)
  self.in_features = L.nonneg_int('Linear', 'in_features', a.in_features)
  self.out_features = L.nonneg_int('Linear', 'out_features', a.out_features)
  self.weight = L.param(a.dtype, self.out_features, self.in_features)
  if a.bias then self.bias = L.param(a.dtype, self.out_features) end
  self:reset_parameters()
end

function Linear:reset_parameters()
  init.kaiming_uniform_(self.weight, {a = math.sqrt(5)})
  if self.bias then
    local fan_in = self.in_features
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(self.bias, -bound, bound)
  end
end

local function check_features(who, x, n)
  L.check_input(who, x)
  local s = x.shape
  if #s == 0 or s[#s] ~= n then
    error(string.format("ag.nn.%s: expected input with last dimension %d, got shape [%s]", who, n,
                        table.concat(s, ', ')), 3)
  end
end

function Linear:forward(x)
  check_features('Linear', x, self.in_features)
  local linear = L.maybe('linear')
  if linear then return linear(x, self.weight, self.bias) end
  local y = x:matmul(self.weight:t())
  if self.bias then y = y + self.bias end
  return y
end

function Linear:extra_repr()
  return string.format('in_features=%d, out_features=%d, bias=%s', self.in_features, self.out_features,
                       L.bool_str(self.bias ~= nil))
end

-- y_k = x1^T W_k x2 + b_k; weight [out, in1, in2]
local Bilinear = Module:extend('Bilinear')
M.Bilinear = Bilinear

function Bilinear:init(...)
  local a = L.args('Bilinear', {'in1_features', 'in2_features', 'out_features', 'bias', 'dtype', 'device'},
                   {bias = true}, ...)
  self.in1_features = L.positive_int('Bilinear', 'in1_features', a.in1_features)
  self.in2_features = L.positive_int('Bilinear', 'in2_features', a.in2_features)
  self.out_features = L.positive_int('Bilinear', 'out_features', a.out_features)
  self.weight = L.param(a.dtype, self.out_features, self.in1_features, self.in2_features)
  if a.bias then self.bias = L.param(a.dtype, self.out_features) end
  self:reset_parameters()
end

function Bilinear:reset_parameters()
  local bound = 1 / math.sqrt(self.in1_features)
  init.uniform_(self.weight, -bound, bound)
  if self.bias then init.uniform_(self.bias, -bound, bound) end
end

function Bilinear:forward(x1, x2)
  check_features('Bilinear', x1, self.in1_features)
  check_features('Bilinear', x2, self.in2_features)
  local bilinear = L.maybe('bilinear')
  if bilinear then return bilinear(x1, x2, self.weight, self.bias) end
  -- x1 [.., in1] -> [B, in1]; tmp = x1 W' with W' [in1, out*in2]; y = sum_j tmp[b,k,j] x2[b,j]
  local lead = x1.shape
  table.remove(lead)
  local o, i1, i2 = self.out_features, self.in1_features, self.in2_features
  local a = x1:reshape(-1, i1)
  local b = x2:reshape(-1, i2)
  local w = self.weight:permute(2, 1, 3):reshape(i1, o * i2)
  local y = (a:matmul(w):view(-1, o, i2) * b:unsqueeze(2)):sum(3)
  if self.bias then y = y + self.bias end
  lead[#lead + 1] = o
  return y:reshape(lead)
end

function Bilinear:extra_repr()
  return string.format('in1_features=%d, in2_features=%d, out_features=%d, bias=%s', self.in1_features,
                       self.in2_features, self.out_features, L.bool_str(self.bias ~= nil))
end

-- returns its input
local Identity = Module:extend('Identity')
M.Identity = Identity
function Identity:init() end
function Identity:forward(x) return x end

-- flattens dims start_dim..end_dim (1-based; the default keeps the batch dim 1)
local Flatten = Module:extend('Flatten')
M.Flatten = Flatten
function Flatten:init(...)
  local a = L.args('Flatten', {'start_dim', 'end_dim'}, {start_dim = 2, end_dim = -1}, ...)
  self.start_dim, self.end_dim = a.start_dim, a.end_dim
end
function Flatten:forward(x)
  L.check_input('Flatten', x)
  return x:flatten(self.start_dim, self.end_dim)
end
function Flatten:extra_repr() return string.format('start_dim=%d, end_dim=%d', self.start_dim, self.end_dim) end

-- expands dim `dim` into the sizes `unflattened_size`
local Unflatten = Module:extend('Unflatten')
M.Unflatten = Unflatten
function Unflatten:init(...)
  local a = L.args('Unflatten', {'dim', 'unflattened_size'}, {}, ...)
  if type(a.dim) ~= 'number' then error("ag.nn.Unflatten: dim must be a number, got " .. tostring(a.dim), 3) end
  if type(a.unflattened_size) ~= 'table' or #a.unflattened_size == 0 then
    error("ag.nn.Unflatten: unflattened_size must be a table of sizes, e.g. {1, 28, 28}", 3)
  end
  self.dim, self.unflattened_size = a.dim, a.unflattened_size
end
function Unflatten:forward(x)
  L.check_input('Unflatten', x)
  local s = x.shape
  local n = #s
  local d = self.dim < 0 and self.dim + n + 1 or self.dim
  if d < 1 or d > n then
    error(string.format("ag.nn.Unflatten: dim %d is out of range for an input of shape [%s]", self.dim,
                        table.concat(s, ', ')), 2)
  end
  local prod, neg = 1, false
  for _, v in ipairs(self.unflattened_size) do if v == -1 then neg = true else prod = prod * v end end
  if (not neg and prod ~= s[d]) or (neg and s[d] % prod ~= 0) then
    error(string.format("ag.nn.Unflatten: unflattened_size {%s} does not multiply to the size %d of dim %d " ..
                        "of the input [%s]", table.concat(self.unflattened_size, ', '), s[d], self.dim,
                        table.concat(s, ', ')), 2)
  end
  local shape = {}
  for i = 1, d - 1 do shape[#shape + 1] = s[i] end
  for _, v in ipairs(self.unflattened_size) do shape[#shape + 1] = v end
  for i = d + 1, n do shape[#shape + 1] = s[i] end
  return x:reshape(shape)
end
function Unflatten:extra_repr()
  return string.format('dim=%d, unflattened_size=%s', self.dim, L.tuple_str(self.unflattened_size))
end

return M
