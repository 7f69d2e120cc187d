-- autograd/engine.lua: drives the C engine from Lua. The engine pauses at Lua nodes
-- (custom Functions) and Lua hooks; this loop runs them and resumes it, so C never calls
-- back into Lua. Also the hook registry and t:backward / ag.autograd.grad.
local ffi = require 'ffi'
local core = require 'ag.core'
local C, wrap, raise = core.C, core.wrap, core.raise

local E = {}
local RUN_LUA_NODE, RUN_HOOK, RUN_POST_HOOK = 1, 2, 3

-- The registries live in the Lua registry: the C ids they are keyed by are process-wide,
-- so a second copy of this module (test runners reload modules) must see the same tables.
local shared = debug.getregistry()
shared.ag_autograd_state = shared.ag_autograd_state or {hooks = {}, functions = {}}
-- hook functions by the id C keeps on a tensor or node: hooks[id] = {fn, fn, ...}
local hooks = shared.ag_autograd_state.hooks
E.hooks = hooks
-- custom Function nodes: functions[id] = {cls=, ctx=, arg_pos=, outputs=}
local functions = shared.ag_autograd_state.functions
E.functions = functions

local dead = ffi.new('int32_t[256]')
function E.reap()
  if C.aga_dead_id_count() == 0 then return end
  while true do
    local n = C.aga_take_dead_ids(dead, 256)
    for i = 0, n - 1 do
      hooks[dead[i]] = nil
      functions[dead[i]] = nil
    end
    if n < 256 then return end
  end
end

local function own(p)            -- a borrowed tensor pointer from the engine, as a handle
  if p == nil then return nil end
  C.agt_retain(p)
  return wrap(p)
end

local function run_hooks(e, post)
  local id = C.aga_engine_pending_hook(e)
  local list = hooks[id]
  if not list then return end
  if post then
    local leaf = own(C.aga_engine_pending_tensor(e))
    for _, fn in ipairs(list) do fn(leaf) end
    return
  end
  local g = wrap(C.aga_engine_pending_grad(e, 0))
  for _, fn in ipairs(list) do
    local r = fn(g)
    if r ~= nil then
      core.ok(C.aga_engine_set_result(e, 0, core.check(r, 'hook', 1)))
      g = r
    end
  end
end

local function run_function(e)
  local node = C.aga_engine_pending_node(e)
  local entry = functions[C.aga_node_lua_id(node)]
  if not entry then error("ag: a custom Function's state was lost", 0) end
  local n = C.aga_engine_num_pending(e)
  local grads = {}
  for i = 1, n do
    local g = C.aga_engine_pending_grad(e, i - 1)
    if g ~= nil then grads[i] = wrap(g)
    elseif entry.ctx._materialize_grads ~= false then
      local o = entry.outputs[i]
      grads[i] = o and require('ag.creation').zeros(o.shape, {dtype = o.dtype}) or nil
    end
  end
  local ok, res = pcall(function() return {entry.cls.backward(entry.ctx, unpack(grads, 1, n))} end)
  if not ok then
    local trace = C.aga_node_trace(node)
    if C.aga_is_anomaly_enabled() ~= 0 and trace ~= nil then
      res = tostring(res) .. '\n\nError detected in ' .. ffi.string(C.aga_node_name(node)) ..
            '. Traceback of forward call that caused the error:\n' .. ffi.string(trace)
    end
    error(res, 0)
  end
  for k, pos in ipairs(entry.arg_pos) do
    local g = res[pos]
    if g ~= nil and C.aga_node_needs_input_grad(node, k - 1) ~= 0 then
      core.ok(C.aga_engine_set_result(e, k - 1, core.check(g, entry.cls.name .. '.backward result', pos)))
    end
  end
end

local function lua_work(e, rc)
  if rc == RUN_HOOK then run_hooks(e, false)
  elseif rc == RUN_POST_HOOK then run_hooks(e, true)
  elseif rc == RUN_LUA_NODE then run_function(e) end
end

-- Runs the engine to the end. Returns true, or false and the error. No pcall on the common
-- path (LuaJIT does not compile through pcall): only Lua nodes and hooks, which may raise,
-- run protected.
local function drive_lua(e, rc)
  while true do
    if rc < 0 then return false, ffi.string(C.ag_last_error()), true end
    local ok, err = pcall(lua_work, e, rc)
    if not ok then return false, err, false end
    rc = C.aga_engine_run(e)
    if rc == 0 then return true end
  end
end

local function drive(e)       -- no loop on the common path, so callers' traces compile
  local rc = C.aga_engine_run(e)
  if rc == 0 then return true end
  return drive_lua(e, rc)
end

local function as_list(x, what)
  if x == nil then return {} end
  if core.is_tensor(x) then return {x} end
  if type(x) == 'table' then return x end
  error(string.format("ag: %s must be a Tensor or a table of Tensors, got %s", what, core.typename(x)), 3)
end

local function ptr_array(list, n, what)
  local arr = ffi.new('ag_tensor *[?]', math.max(n, 1))
  for i = 1, n do
    local t = list[i]
    if t ~= nil then arr[i - 1] = core.check(t, what, i) end
  end
  return arr
end

-- Frees the engine, forgets the Lua state of nodes that died, and raises drive's error.
local function close(e, ok, err, from_c)
  C.aga_engine_free(e)
  E.reap()
  if not ok then
    if from_c then core.raise_message(err) end
    error(err, 0)
  end
end

-- Runs a backward pass; returns the captured gradients for `inputs` (a Lua table).
function E.execute(outputs, grad_outputs, opts, inputs, accumulate)
  local create = opts.create_graph and 1 or 0
  local retain = opts.retain_graph
  if retain == nil then retain = opts.create_graph end
  local nout, nin = #outputs, #inputs
  local gos = {}
  for i = 1, nout do
    local g = grad_outputs[i]
    if type(g) == 'number' then g = require('ag.creation').full_like(outputs[i], g) end
    gos[i] = g
  end
  local allow_unused = (opts.allow_unused or opts.materialize_grads) and 1 or 0
  local e = C.aga_engine_new(nout, ptr_array(outputs, nout, 'backward'), ptr_array(gos, nout, 'backward'),
                             retain and 1 or 0, create, nin, nin > 0 and ptr_array(inputs, nin, 'inputs') or nil,
                             accumulate and 1 or 0, allow_unused)
  if e == nil then raise() end
  local ok, err, from_c = drive(e)
  local result = {}
  if ok then
    for i = 1, nin do
      local g = C.aga_engine_captured(e, i - 1)
      if g ~= nil then result[i] = wrap(g)
      elseif opts.materialize_grads then result[i] = require('ag.creation').zeros_like(inputs[i]) end
    end
  end
  close(e, ok, err, from_c)
  return result
end

local one_root, no_grad_given = ffi.new('ag_tensor *[1]'), ffi.new('ag_tensor *[1]')

function E.backward(t, gradient, opts)
  if gradient == nil and opts == nil then
    -- the common loss:backward(): one root, implicit gradient, accumulate into leaves
    one_root[0] = core.check(t, 'backward')
    local e = C.aga_engine_new(1, one_root, no_grad_given, 0, 0, 0, nil, 1, 0)
    if e == nil then raise() end
    close(e, drive(e))
    return
  end
  core.check(t, 'backward')
  if core.is_options(gradient) and opts == nil then gradient, opts = nil, gradient end
  opts = opts or {}
  local inputs = as_list(opts.inputs, 'inputs')
  if opts.inputs ~= nil and #inputs == 0 then error("ag.backward: 'inputs' argument to backward() cannot be empty.", 2) end
  E.execute({t}, {gradient}, opts, inputs, true)
end

function E.grad(outputs, inputs, opts)
  opts = opts or {}
  local outs = as_list(outputs, 'outputs')
  local ins = as_list(inputs, 'inputs')
  local gos = opts.grad_outputs
  if core.is_tensor(gos) then gos = {gos} end
  local r = E.execute(outs, gos or {}, opts, ins, false)
  return unpack(r, 1, #ins)
end

-- hooks ---------------------------------------------------------------------------------
local function handle(id, fn)
  return {remove = function()
    local list = hooks[id]
    if not list then return end
    for i = #list, 1, -1 do if list[i] == fn then table.remove(list, i) end end
  end}
end

function E.register_hook(t, fn, post)
  core.check(t, post and 'register_post_accumulate_grad_hook' or 'register_hook')
  if type(fn) ~= 'function' then error("ag.register_hook: expected a function, got " .. type(fn), 2) end
  E.reap()
  local id = C.aga_tensor_hook_id(t.p, post and 1 or 0, 1)
  if id <= 0 then raise() end
  hooks[id] = hooks[id] or {}
  table.insert(hooks[id], fn)
  return handle(id, fn)
end

return E
