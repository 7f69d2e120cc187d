-- optim/adagrad.lua: ag.optim.Adagrad with lr_decay, weight decay, an initial accumulator
-- value and maximize, as PyTorch's. Its state (step, sum) is made at construction, as in
-- PyTorch. One fused C call per parameter per step (agt_adagrad_step).
local core = require 'ag.core'
local Optimizer = require 'ag.optim.optimizer'
local C = core.C

local function validate(name, o)
  Optimizer.check_number(name, 'learning rate', o.lr, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'lr_decay value', o.lr_decay, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'weight_decay value', o.weight_decay, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'initial_accumulator_value value', o.initial_accumulator_value,
                         function(v) return v >= 0 end)
  Optimizer.check_number(name, 'epsilon value', o.eps, function(v) return v >= 0 end)
end

local Adagrad = Optimizer:extend('Adagrad', {lr = 1e-2, lr_decay = 0, weight_decay = 0,
                                             initial_accumulator_value = 0, eps = 1e-10, maximize = false},
                                 validate)

local function init_state(self, p, g)
  local st = self:state_for(p)
  if st.step == nil then
    st.step = 0
    st.sum = require('ag').full(p.shape, g.initial_accumulator_value, {dtype = p.dtype})
  end
  return st
end

function Adagrad:_after_init()
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do init_state(self, p, g) end
  end
end

function Adagrad:_update_group(g)
  local lr, lr_decay, wd, eps = g.lr, g.lr_decay, g.weight_decay, g.eps
  local maximize = g.maximize and 1 or 0
  for _, p in ipairs(g.params) do
    local grad = C.aga_grad(p.p)
    if grad ~= nil then
      local st = init_state(self, p, g)
      st.step = st.step + 1
      local clr = lr / (1 + (st.step - 1) * lr_decay)
      local rc = C.agt_adagrad_step(p.p, grad, st.sum.p, clr, wd, eps, maximize)
      C.agt_release(grad)
      core.ok(rc)
    end
  end
end

return Adagrad
