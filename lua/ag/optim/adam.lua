-- optim/adam.lua: ag.optim.Adam and ag.optim.AdamW (decoupled weight decay), both with
-- amsgrad and maximize, as PyTorch's. One fused C call per parameter per step
-- (agt_adam_step in lib/tensor/optim.c).
local core = require 'ag.core'
local Optimizer = require 'ag.optim.optimizer'
local C = core.C

local function validate(name, o)
  Optimizer.check_number(name, 'learning rate', o.lr, function(v) return v >= 0 end)
  Optimizer.check_number(name, 'epsilon value', o.eps, function(v) return v >= 0 end)
  if type(o.betas) ~= 'table' or #o.betas ~= 2 then
    error(string.format("ag.optim.%s: betas must be a table of two numbers, e.g. {0.9, 0.999}", name), 0)
  end
  for i = 1, 2 do
    local b = o.betas[i]
    if type(b) ~= 'number' or not (b >= 0 and b < 1) then
      error(string.format("ag.optim.%s: Invalid beta parameter at index %d: %s", name, i, tostring(b)), 0)
    end
  end
  Optimizer.check_number(name, 'weight_decay value', o.weight_decay, function(v) return v >= 0 end)
end

local function update(self, g, decoupled)
  local lr, eps, wd = g.lr, g.eps, g.weight_decay
  local b1, b2 = g.betas[1], g.betas[2]
  local amsgrad, maximize = g.amsgrad, g.maximize and 1 or 0
  local ag = require 'ag'
  for _, p in ipairs(g.params) do
    local grad = C.aga_grad(p.p)
    if grad ~= nil then
      local st = self:state_for(p)
      if st.step == nil then
        st.step = 0
        st.exp_avg = ag.zeros_like(p)
        st.exp_avg_sq = ag.zeros_like(p)
      end
      if amsgrad and st.max_exp_avg_sq == nil then st.max_exp_avg_sq = ag.zeros_like(p) end
      st.step = st.step + 1
      local vmax = amsgrad and st.max_exp_avg_sq.p or nil
      local rc = C.agt_adam_step(p.p, grad, st.exp_avg.p, st.exp_avg_sq.p, vmax, lr, b1, b2, eps, wd, st.step,
                                 decoupled, maximize)
      C.agt_release(grad)
      core.ok(rc)
    end
  end
end

local Adam = Optimizer:extend('Adam', {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0,
                                       amsgrad = false, maximize = false}, validate)
function Adam:_update_group(g) update(self, g, 0) end

local AdamW = Optimizer:extend('AdamW', {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2,
                                         amsgrad = false, maximize = false}, validate)
function AdamW:_update_group(g) update(self, g, 1) end

return {Adam = Adam, AdamW = AdamW}
