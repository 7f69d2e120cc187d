-- nn/init.lua: ag.nn: Module and Parameter, every layer and loss module, ag.nn.init
-- (weight initialisers), ag.nn.utils (clipping, parameter vectors) and, loaded when first
-- used, ag.nn.functional. Layers find their functionals at call time, so a missing
-- functional breaks only the layers that need it.
local module = require 'ag.nn.module'

local nn = {
  Module = module.Module,
  Parameter = module.Parameter,
  is_parameter = module.is_parameter,
  init = require 'ag.nn.init_weights',
  utils = require 'ag.nn.utils',
}

for _, name in ipairs({'linear', 'activation', 'container', 'conv', 'pool', 'norm', 'dropout', 'sparse',
                       'rnn', 'attention', 'loss'}) do
  for k, cls in pairs(require('ag.nn.layers.' .. name)) do nn[k] = cls end
end

-- ag.nn.functional on first use (it is optional while its module is being written)
return setmetatable(nn, {__index = function(t, k)
  if k == 'functional' or k == 'F' then
    local f = require 'ag.nn.functional'
    rawset(t, 'functional', f)
    rawset(t, 'F', f)
    return f
  end
  return nil
end})
