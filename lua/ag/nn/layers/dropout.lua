-- nn/layers/dropout.lua: Dropout, Dropout1d, Dropout2d and AlphaDropout: active in
-- training mode (m:train()), the identity in evaluation mode (m:eval()).
local L = require 'ag.nn.layers.common'
local Module = L.Module

local M = {}

local function define(name, fname)
  local cls = Module:extend(name)
  M[name] = cls
  function cls:init(...)
    local a = L.args(name, {'p', 'inplace'}, {p = 0.5, inplace = false}, ...)
    self.p = L.probability(name, a.p)
    self.inplace = a.inplace
  end
  function cls:forward(x)
    L.check_input(name, x)
    if not self.training or self.p == 0 then return x end
    return L.fn(fname, name)(x, self.p, self.training)
  end
  function cls:extra_repr()
    return string.format('p=%s, inplace=%s', tostring(self.p), L.bool_str(self.inplace))
  end
end
define('Dropout', 'dropout')
define('Dropout1d', 'dropout1d')
define('Dropout2d', 'dropout2d')
define('AlphaDropout', 'alpha_dropout')

return M
