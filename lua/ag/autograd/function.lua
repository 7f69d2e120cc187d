-- autograd/function.lua: custom differentiable ops written in Lua, as PyTorch's
-- torch.autograd.Function. forward runs under no_grad; a C node of kind "Lua" records the
-- edges and the saved tensors (so version checks and retain_graph behave as for built-in
-- ops); its backward runs when the engine hands control back to Lua.
local ffi = require 'ffi'
local core = require 'ag.core'
local engine = require 'ag.autograd.engine'
local grad_mode = require 'ag.grad_mode'
local C, wrap = core.C, core.wrap

local Function = {name = 'Function'}
Function.__index = Function

local Ctx = {}
Ctx.__index = function(ctx, k)
  if k == 'saved_tensors' then
    local node = rawget(ctx, '_node')
    if not node then return rawget(ctx, '_to_save') or {} end
    local out = {}
    for i = 1, rawget(ctx, '_n_saved') do
      local s = rawget(ctx, '_saved_kind')[i]
      if s == 'tensor' then out[i] = wrap(C.aga_node_unpack(node, i - 1))
      else out[i] = nil end
    end
    return out
  end
  return Ctx[k]
end

function Ctx:save_for_backward(...)
  local n = select('#', ...)
  if n > 8 then error("ag.autograd.Function: save_for_backward takes at most 8 tensors", 2) end
  self._to_save = {...}
  self._n_saved = n
end
function Ctx:mark_non_differentiable(...)
  for _, t in ipairs({...}) do self._non_diff[#self._non_diff + 1] = t end
end
function Ctx:set_materialize_grads(v) self._materialize_grads = v end
function Ctx:mark_dirty() end

function Function:extend(name)
  local cls = setmetatable({name = name or 'Function'}, Function)
  cls.__index = cls
  cls.apply = function(...) return Function.apply_class(cls, ...) end
  return cls
end

function Function.forward() error("ag.autograd.Function: forward is not implemented", 2) end
function Function.backward() error("ag.autograd.Function: backward is not implemented", 2) end

local function same(a, b) return a.p == b.p end

function Function.apply_class(cls, ...)
  local nargs = select('#', ...)
  local args = {...}
  local ctx = setmetatable({_non_diff = {}, _n_saved = 0, needs_input_grad = {}}, Ctx)
  local inputs, arg_pos, any_req = {}, {}, false
  for i = 1, nargs do
    local a = args[i]
    local req = core.is_tensor(a) and C.aga_requires_grad(a.p) ~= 0
    ctx.needs_input_grad[i] = req and grad_mode.is_grad_enabled()
    if core.is_tensor(a) then
      inputs[#inputs + 1] = a
      arg_pos[#arg_pos + 1] = i
      any_req = any_req or req
    end
  end
  local outs = {grad_mode.no_grad(function() return cls.forward(ctx, unpack(args, 1, nargs)) end)}
  if not (any_req and grad_mode.is_grad_enabled()) then return unpack(outs) end

  local arr = ffi.new('ag_tensor *[?]', math.max(#inputs, 1))
  for i, t in ipairs(inputs) do arr[i - 1] = t.p end
  local node = C.aga_lua_node_new(cls.name .. 'Backward', #inputs, arr, #outs)
  if node == nil then core.raise() end
  local diff_outputs = {}
  for k, o in ipairs(outs) do
    if core.is_tensor(o) then
      local nd = false
      for _, t in ipairs(ctx._non_diff) do if same(t, o) then nd = true end end
      for _, t in ipairs(inputs) do
        if same(t, o) then o = wrap(C.aga_detach(o.p)); outs[k] = o end  -- returned an input as is
      end
      if not nd and o:is_floating_point() then core.ok(C.aga_set_history(o.p, node, k - 1)) end
      diff_outputs[k] = o
    end
  end
  local kinds = {}
  for i = 1, ctx._n_saved do
    local t = ctx._to_save[i]
    if core.is_tensor(t) then
      local is_out = 0
      for _, o in ipairs(outs) do if core.is_tensor(o) and same(o, t) then is_out = 1 end end
      core.ok(C.aga_node_save(node, i - 1, t.p, is_out))
      kinds[i] = 'tensor'
    end
  end
  ctx._to_save = nil
  ctx._saved_kind = kinds
  ctx._node = node          -- raw pointer: valid while the node lives, which is when backward runs
  engine.functions[C.aga_node_lua_id(node)] = {cls = cls, ctx = ctx, arg_pos = arg_pos, outputs = diff_outputs}
  if C.aga_is_anomaly_enabled() ~= 0 then C.aga_node_set_trace(node, debug.traceback('', 2)) end
  C.aga_node_release(node)  -- the outputs hold it now
  return unpack(outs)
end

return Function
