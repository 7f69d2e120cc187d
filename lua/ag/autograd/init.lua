-- autograd/init.lua: ag.autograd: grad, backward, Function, gradcheck, gradgradcheck,
-- detect_anomaly and to_dot, plus the autograd fields and methods of tensors.
local ffi = require 'ffi'
local core = require 'ag.core'
local engine = require 'ag.autograd.engine'
local node = require 'ag.autograd.node'
local checks = require 'ag.autograd.gradcheck'
local tensor = require 'ag.tensor'
local C, wrap, ok = core.C, core.wrap, core.ok

local A = {
  grad = engine.grad,
  backward = function(tensors, grads, opts)
    if core.is_tensor(tensors) then return engine.backward(tensors, grads, opts) end
    engine.execute(tensors, grads or {}, opts or {}, {}, true)
  end,
  Function = require 'ag.autograd.function',
  gradcheck = checks.gradcheck,
  gradgradcheck = checks.gradgradcheck,
  to_dot = require 'ag.autograd.dot',
}

function A.detect_anomaly(fn, ...)
  if type(fn) ~= 'function' then
    error("ag.autograd.detect_anomaly: expected a function to run, got " .. type(fn), 2)
  end
  local prev = C.aga_is_anomaly_enabled()
  C.aga_set_anomaly_enabled(1)
  core.set_anomaly(true)
  local r = {n = select('#', ...) + 0, pcall(fn, ...)}
  C.aga_set_anomaly_enabled(prev)
  core.set_anomaly(prev ~= 0)
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, table.maxn(r))
end
function A.set_detect_anomaly(b)
  C.aga_set_anomaly_enabled(b and 1 or 0)
  core.set_anomaly(b and true or false)
end
function A.is_anomaly_enabled() return C.aga_is_anomaly_enabled() ~= 0 end

-- tensor fields
local getters, setters, M = tensor.getters, tensor.setters, tensor.methods
getters.grad = function(t)
  local g = C.aga_grad(t.p)
  return g ~= nil and wrap(g) or nil
end
setters.grad = function(t, g)
  ok(C.aga_set_grad(t.p, g ~= nil and core.check(g, 'grad setter', 1) or nil))
end
getters.grad_fn = function(t) return node.own(C.aga_grad_fn(t.p)) end
setters.requires_grad = function(t, v) ok(C.aga_set_requires_grad(t.p, v and 1 or 0)) end
getters.output_nr = function(t) return C.aga_output_nr(t.p) end

-- tensor methods
M.backward = engine.backward
function M.detach(t) return wrap(C.aga_detach(core.check(t, 'detach'))) end
function M.detach_(t) ok(C.aga_detach_(core.check(t, 'detach_'))) return t end
function M.requires_grad_(t, flag)
  local p = core.check(t, 'requires_grad_')
  if flag == nil then flag = true end
  ok(C.aga_set_requires_grad(p, flag and 1 or 0))
  return t
end
function M.retain_grad(t) ok(C.aga_retain_grad(core.check(t, 'retain_grad'))) end
function M.register_hook(t, fn) return engine.register_hook(t, fn, false) end
function M.register_post_accumulate_grad_hook(t, fn) return engine.register_hook(t, fn, true) end

return A
