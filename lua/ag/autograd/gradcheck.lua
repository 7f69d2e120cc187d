-- autograd/gradcheck.lua: gradcheck compares the analytical Jacobian (from backward) with
-- central finite differences in float64; gradgradcheck does the same for the gradient
-- itself, which checks the backward formulas' own backward (create_graph).
local core = require 'ag.core'
local engine = require 'ag.autograd.engine'
local grad_mode = require 'ag.grad_mode'
local creation = require 'ag.creation'

local G = {}

local function as_list(x)
  if core.is_tensor(x) then return {x}, true end
  return x, false
end

-- Flat position k (0-based) of t as a 1-based multi-index.
local function multi_index(t, k)
  local shape = t.shape
  local idx = {}
  for d = #shape, 1, -1 do
    idx[d] = k % shape[d] + 1
    k = math.floor(k / shape[d])
  end
  return idx
end

local ffi = require 'ffi'
local function get(t, k)
  local idx = multi_index(t, k)
  local arr = ffi.new('int64_t[?]', math.max(#idx, 1), idx)
  local out = ffi.new('double[1]')
  core.ok(core.C.agt_get_item(t.p, #idx, arr, out))
  return out[0]
end
local function set(t, k, v)
  local idx = multi_index(t, k)
  local arr = ffi.new('int64_t[?]', math.max(#idx, 1), idx)
  core.ok(core.C.agt_set_item(t.p, #idx, arr, v))
end

local function flat_outputs(fn, inputs)
  local outs = {fn(unpack(inputs))}
  local list = {}
  for _, o in ipairs(outs) do if core.is_tensor(o) then list[#list + 1] = o end end
  return list
end

local function values(outs)
  local v = {}
  for _, o in ipairs(outs) do
    local buf = ffi.new('double[?]', math.max(o:numel(), 1))
    core.C.agt_to_doubles(o.p, buf)
    for i = 0, o:numel() - 1 do v[#v + 1] = buf[i] end
  end
  return v
end

function G.gradcheck(fn, inputs, opts)
  opts = opts or {}
  local eps, atol, rtol = opts.eps or 1e-6, opts.atol or 1e-5, opts.rtol or 1e-3
  inputs = as_list(inputs)
  for i, x in ipairs(inputs) do
    if core.is_tensor(x) and x.requires_grad and x.dtype ~= 'float64' then
      error(string.format("ag.autograd.gradcheck: input %d is %s; gradcheck needs float64 inputs "
                          .. "(convert with :double())", i, x.dtype), 2)
    end
  end
  local diff = {}
  for i, x in ipairs(inputs) do
    if core.is_tensor(x) and x.requires_grad then diff[#diff + 1] = i end
  end
  -- analytical: one backward per output element
  local outs = flat_outputs(fn, inputs)
  local nout = 0
  for _, o in ipairs(outs) do nout = nout + o:numel() end
  local analytical = {}          -- analytical[input][k][j] = d out_j / d in_k
  for _, i in ipairs(diff) do analytical[i] = {} end
  local j = 0
  for oi, o in ipairs(outs) do
    for e = 0, o:numel() - 1 do
      j = j + 1
      if o.requires_grad then
        local gos = {}
        for q, o2 in ipairs(outs) do gos[q] = creation.zeros_like(o2) end
        set(gos[oi], e, 1)
        local dins = {}
        for _, i in ipairs(diff) do dins[#dins + 1] = inputs[i] end
        local grads = {engine.grad(outs, dins, {grad_outputs = gos, retain_graph = true, allow_unused = true})}
        for q, i in ipairs(diff) do
          for k = 0, inputs[i]:numel() - 1 do
            analytical[i][k] = analytical[i][k] or {}
            analytical[i][k][j] = grads[q] and get(grads[q], k) or 0
          end
        end
      end
    end
  end
  -- numerical: central differences
  for _, i in ipairs(diff) do
    local x = inputs[i]
    for k = 0, x:numel() - 1 do
      local orig = get(x, k)
      local plus, minus
      grad_mode.no_grad(function()
        set(x, k, orig + eps)
        plus = values(flat_outputs(fn, inputs))
        set(x, k, orig - eps)
        minus = values(flat_outputs(fn, inputs))
        set(x, k, orig)
      end)
      for jj = 1, nout do
        local num = (plus[jj] - minus[jj]) / (2 * eps)
        local ana = analytical[i][k] and analytical[i][k][jj] or 0
        if not (math.abs(ana - num) <= atol + rtol * math.abs(num)) then
          error(string.format("ag.autograd.gradcheck: Jacobian mismatch for output %d with respect to "
                              .. "input %d, element %d (1-based),\nnumerical: %.10g\nanalytical: %.10g",
                              jj, i, k + 1, num, ana), 2)
        end
      end
    end
  end
  return true
end

function G.gradgradcheck(fn, inputs, grad_outputs, opts)
  if core.is_options(grad_outputs) and opts == nil then grad_outputs, opts = nil, grad_outputs end
  inputs = as_list(inputs)
  local outs = flat_outputs(fn, inputs)
  local gos = {}
  if grad_outputs then gos = as_list(grad_outputs)
  else
    for q, o in ipairs(outs) do gos[q] = creation.randn(o.shape, {dtype = 'float64', requires_grad = true}) end
  end
  local n = #inputs
  local diff = {}
  for i, x in ipairs(inputs) do if core.is_tensor(x) and x.requires_grad then diff[#diff + 1] = x end end
  local function grad_fn(...)
    local all = {...}
    local ins = {unpack(all, 1, n)}
    local go = {unpack(all, n + 1)}
    return grad_mode.enable_grad(function()
      local o = flat_outputs(fn, ins)
      local dins = {}
      for _, x in ipairs(ins) do if core.is_tensor(x) and x.requires_grad then dins[#dins + 1] = x end end
      return engine.grad(o, dins, {grad_outputs = go, create_graph = true, allow_unused = true,
                                   materialize_grads = true})
    end)
  end
  local all = {}
  for i = 1, n do all[i] = inputs[i] end
  for q = 1, #gos do all[n + q] = gos[q] end
  return G.gradcheck(grad_fn, all, opts)
end

return G
