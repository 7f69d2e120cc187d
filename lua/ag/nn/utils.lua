-- nn/utils.lua: ag.nn.utils: gradient clipping (clip_grad_norm_, clip_grad_value_) and
-- flattening parameters to one vector and back (parameters_to_vector,
-- vector_to_parameters). Parameters may be given as a list, one tensor or a module.
local core = require 'ag.core'

local U = {}

local function ag() return require 'ag' end

local function param_list(params, op)
  if core.is_tensor(params) then return {params} end
  if type(params) == 'table' then
    if rawget(params, '_modules') ~= nil then return params:parameters() end
    local out = {}
    for i, p in ipairs(params) do
      if not core.is_tensor(p) then
        error(string.format("ag.nn.utils.%s: parameter %d is %s, not a Tensor", op, i, core.typename(p)), 3)
      end
      out[i] = p
    end
    return out
  end
  error(string.format("ag.nn.utils.%s: expected a list of tensors, a tensor or a module, got %s", op,
                      core.typename(params)), 3)
end

-- The norm of one tensor as a Lua number (p = 2, any p > 0, or math.huge).
local function tensor_norm(g, p)
  if p == math.huge then return g:abs():max():item() end
  if p == 2 then return g:mul(g):sum():sqrt():item() end
  if p == 1 then return g:abs():sum():item() end
  return g:abs():pow(p):sum():pow(1 / p):item()
end

-- Scales all gradients together so their total norm is at most max_norm. Returns the total
-- norm before clipping (a 0-dim tensor), as PyTorch.
function U.clip_grad_norm_(params, max_norm, norm_type, opts)
  if type(norm_type) == 'table' then opts, norm_type = norm_type, norm_type.norm_type end
  opts = opts or {}
  norm_type = norm_type or 2
  if norm_type == 'inf' then norm_type = math.huge end
  if type(max_norm) ~= 'number' then
    error("ag.nn.utils.clip_grad_norm_: max_norm must be a number, got " .. core.typename(max_norm), 2)
  end
  if type(norm_type) ~= 'number' or norm_type <= 0 then
    error("ag.nn.utils.clip_grad_norm_: norm_type must be a positive number or math.huge, got " ..
          tostring(norm_type), 2)
  end
  local grads = {}
  for _, p in ipairs(param_list(params, 'clip_grad_norm_')) do
    local g = p.grad
    if g then grads[#grads + 1] = g end
  end
  if #grads == 0 then return ag().tensor(0.0) end
  local total
  if norm_type == math.huge then
    total = 0
    for _, g in ipairs(grads) do total = math.max(total, tensor_norm(g, norm_type)) end
  else
    local s = 0
    for _, g in ipairs(grads) do s = s + tensor_norm(g, norm_type) ^ norm_type end
    total = s ^ (1 / norm_type)
  end
  if opts.error_if_nonfinite and (total ~= total or total == math.huge) then
    error(string.format("ag.nn.utils.clip_grad_norm_: the total norm of order %s for gradients from " ..
                        "`parameters` is non-finite, so it cannot be clipped. To disable this error and " ..
                        "scale the gradients by the non-finite norm anyway, set error_if_nonfinite = false",
                        tostring(norm_type)), 2)
  end
  local coef = max_norm / (total + 1e-6)
  if coef < 1 then
    ag().no_grad(function()
      for _, g in ipairs(grads) do g:mul_(coef) end
    end)
  end
  return ag().tensor(total, {dtype = grads[1].dtype})
end

-- Clamps every gradient element into [-clip_value, clip_value].
function U.clip_grad_value_(params, clip_value)
  if type(clip_value) ~= 'number' then
    error("ag.nn.utils.clip_grad_value_: clip_value must be a number, got " .. core.typename(clip_value), 2)
  end
  clip_value = math.abs(clip_value)
  ag().no_grad(function()
    for _, p in ipairs(param_list(params, 'clip_grad_value_')) do
      local g = p.grad
      if g then g:clamp_(-clip_value, clip_value) end
    end
  end)
end

-- One 1-D tensor holding every parameter, flattened, in order (differentiable when
-- ag.cat is available).
function U.parameters_to_vector(params)
  local list = param_list(params, 'parameters_to_vector')
  if #list == 0 then return ag().zeros(0) end
  local flat = {}
  for i, p in ipairs(list) do
    if p.dtype ~= list[1].dtype then
      error(string.format("ag.nn.utils.parameters_to_vector: parameter %d is %s but parameter 1 is %s", i,
                          p.dtype, list[1].dtype), 2)
    end
    flat[i] = p:reshape(-1)
  end
  local cat = rawget(ag(), 'cat')
  if cat then return cat(flat, 1) end
  local total = 0
  for _, f in ipairs(flat) do total = total + f:numel() end
  local vec = ag().zeros(total, {dtype = list[1].dtype})
  local off = 1
  ag().no_grad(function()
    for _, f in ipairs(flat) do
      local n = f:numel()
      if n > 0 then vec:narrow(1, off, n):copy_(f) end
      off = off + n
    end
  end)
  return vec
end

-- Copies consecutive slices of vec into the parameters (in place, without recording).
function U.vector_to_parameters(vec, params)
  if not core.is_tensor(vec) then
    error("ag.nn.utils.vector_to_parameters: expected vec to be a Tensor, but got " .. core.typename(vec), 2)
  end
  if vec.ndim ~= 1 then
    error(string.format("ag.nn.utils.vector_to_parameters: vec must be 1-D, got shape [%s]",
                        table.concat(vec.shape, ', ')), 2)
  end
  local list = param_list(params, 'vector_to_parameters')
  local total = 0
  for _, p in ipairs(list) do total = total + p:numel() end
  if total ~= vec:numel() then
    error(string.format("ag.nn.utils.vector_to_parameters: vec has %d elements but the parameters have %d",
                        vec:numel(), total), 2)
  end
  local off = 1
  ag().no_grad(function()
    for _, p in ipairs(list) do
      local n = p:numel()
      if n > 0 then p:copy_(vec:narrow(1, off, n):view(p.shape)) end
      off = off + n
    end
  end)
end

return U
