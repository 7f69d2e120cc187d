-- optim/sgd.lua: ag.optim.SGD: stochastic gradient descent with momentum, dampening,
-- Nesterov momentum, weight decay and maximize, as PyTorch's. One fused C call per
-- parameter per step (agt_sgd_step in lib/tensor/optim.c).
local core = require 'ag.core'
local Optimizer = require 'ag.optim.optimizer'
local C = core.C

local function validate(name, o)
  if o.lr == 'required' then
    error(string.format("ag.optim.%s: the learning rate is required: %s(params, {lr = 0.1})", name, name), 0)
  end
  Optimizer.check_number(name, 'learning rate', o.lr, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'momentum value', o.momentum, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'dampening value', o.dampening, function() return true end)
  Optimizer.check_number(name, 'weight_decay value', o.weight_decay, function(v) return v >= 0 end)
  if o.nesterov and (o.momentum <= 0 or o.dampening ~= 0) then
    error(string.format("ag.optim.%s: Nesterov momentum requires a momentum and zero dampening", name), 0)
  end
end

local SGD = Optimizer:extend('SGD', {lr = 'required', momentum = 0, dampening = 0, weight_decay = 0,
                                     nesterov = false, maximize = false}, validate)

function SGD:_update_group(g)
  local lr, mom, damp, wd = g.lr, g.momentum, g.dampening, g.weight_decay
  local nesterov, maximize = g.nesterov and 1 or 0, g.maximize and 1 or 0
  local ag = require 'ag'
  for _, p in ipairs(g.params) do
    local grad = C.aga_grad(p.p)
    if grad ~= nil then
      local buf, first = nil, 0
      if mom ~= 0 then
        local st = self:state_for(p)
        if st.momentum_buffer == nil then
          st.momentum_buffer = ag.empty_like(p)
          first = 1
        end
        buf = st.momentum_buffer.p
      end
      local rc = C.agt_sgd_step(p.p, grad, buf, lr, mom, damp, wd, nesterov, maximize, first)
      C.agt_release(grad)
      core.ok(rc)
    end
  end
end

return SGD
