-- optim/rmsprop.lua: ag.optim.RMSprop with momentum, centered, weight decay and maximize,
-- as PyTorch's. One fused C call per parameter per step (agt_rmsprop_step).
local core = require 'ag.core'
local Optimizer = require 'ag.optim.optimizer'
local C = core.C

local function validate(name, o)
  Optimizer.check_number(name, 'learning rate', o.lr, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'epsilon value', o.eps, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'momentum value', o.momentum, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'weight_decay value', o.weight_decay, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'alpha value', o.alpha, function(v) return v >= 0 end)
end

local RMSprop = Optimizer:extend('RMSprop', {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0,
                                             centered = false, maximize = false}, validate)

function RMSprop:_update_group(g)
  local lr, alpha, eps, wd, mom = g.lr, g.alpha, g.eps, g.weight_decay, g.momentum
  local centered, maximize = g.centered, g.maximize and 1 or 0
  local ag = require 'ag'
  for _, p in ipairs(g.params) do
    local grad = C.aga_grad(p.p)
    if grad ~= nil then
      local st = self:state_for(p)
      if st.step == nil then
        st.step = 0
        st.square_avg = ag.zeros_like(p)
      end
      if mom > 0 and st.momentum_buffer == nil then st.momentum_buffer = ag.zeros_like(p) end
      if centered and st.grad_avg == nil then st.grad_avg = ag.zeros_like(p) end
      st.step = st.step + 1
      local rc = C.agt_rmsprop_step(p.p, grad, st.square_avg.p, centered and st.grad_avg.p or nil,
                                    mom > 0 and st.momentum_buffer.p or nil, lr, alpha, eps, wd, mom, maximize)
      C.agt_release(grad)
      core.ok(rc)
    end
  end
end

return RMSprop
