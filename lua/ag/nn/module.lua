-- nn/module.lua: ag.nn.Module, the base class of every layer and model, and
-- ag.nn.Parameter. A module is a Lua object whose parameters, buffers and submodules are
-- registered when assigned as fields (in assignment order, through __newindex), as
-- PyTorch's nn.Module does; `m(x)` calls m:forward(x).
--
--   local Net = ag.nn.Module:extend('Net')
--   function Net:init(n) self.fc1 = ag.nn.Linear(n, 10) end
--   function Net:forward(x) return self.fc1(x):relu() end
--   local net = Net(784)
local core = require 'ag.core'

local is_tensor = core.is_tensor
local rawget, rawset, type, pairs, ipairs, setmetatable, getmetatable =
  rawget, rawset, type, pairs, ipairs, setmetatable, getmetatable

local function ag() return require 'ag' end

-- Tensors made by Parameter(t) (weak keys: the set does not keep them alive). A tensor
-- is a parameter when it is in this set or is a leaf that requires grad.
local parameter_set = setmetatable({}, {__mode = 'k'})

local function Parameter(t, requires_grad)
  if not is_tensor(t) then
    error("ag.nn.Parameter: expected a Tensor, got " .. core.typename(t), 2)
  end
  if requires_grad == nil then requires_grad = true end
  if requires_grad and not t:is_floating_point() then
    error("ag.nn.Parameter: only float tensors can require gradients, got " .. t.dtype, 2)
  end
  local p = t
  if not t.is_leaf then p = t:detach() end
  p:requires_grad_(requires_grad)
  parameter_set[p] = true
  return p
end

local function is_parameter(v)
  return is_tensor(v) and (parameter_set[v] or (v.requires_grad and v.is_leaf)) and true or false
end

-- An ordered list of {name, value} pairs that also iterates as `for name, v in list do`
-- and looks up by name: list['fc1.weight'].
local NamedList = {}
NamedList.__index = function(self, k)
  if type(k) == 'string' then
    local i = getmetatable(self).pos[k]
    return i and rawget(self, i)[2] or nil
  end
  return nil
end
local function named_list(entries)
  local pos = {}
  for i, e in ipairs(entries) do pos[e[1]] = i end
  local mt = {pos = pos, __index = NamedList.__index}
  mt.__call = function(self, _, prev)
    local i = prev == nil and 1 or pos[prev] + 1
    local e = rawget(self, i)
    if e then return e[1], e[2] end
  end
  return setmetatable(entries, mt)
end

local Module = {__name = 'Module'}

-- metamethods every class carries (Lua reads them raw from the metatable)
local METAMETHODS = {'__index', '__newindex', '__call', '__tostring', '__len', '__concat'}

function Module.__index(self, k)
  local v = rawget(self, '_parameters')
  if v then
    local r = v[k]; if r ~= nil then return r end
    r = rawget(self, '_buffers')[k]; if r ~= nil then return r end
    r = rawget(self, '_modules')[k]; if r ~= nil then return r end
  end
  return getmetatable(self)[k]
end

local function is_module(v)
  return type(v) == 'table' and rawget(v, '_modules') ~= nil
end

local function remove_from(list, name)
  for i = #list, 1, -1 do if list[i] == name then table.remove(list, i) end end
end

local function forget(self, name, except)
  if except ~= 'p' and rawget(self, '_parameters')[name] ~= nil then
    self._parameters[name] = nil; remove_from(self._param_names, name)
  end
  if except ~= 'b' and rawget(self, '_buffers')[name] ~= nil then
    self._buffers[name] = nil; remove_from(self._buffer_names, name)
    self._non_persistent[name] = nil
  end
  if except ~= 'm' and rawget(self, '_modules')[name] ~= nil then
    self._modules[name] = nil; remove_from(self._module_names, name)
  end
end

local function check_name(self, name, what)
  if type(name) ~= 'string' then
    error(string.format("ag.nn.Module: %s name should be a string, got %s", what, core.typename(name)), 4)
  end
  if name == '' or name:find('.', 1, true) then
    error(string.format("ag.nn.Module: %s name can't be empty or contain \".\", got %q", what, name), 4)
  end
end

function Module.register_parameter(self, name, p)
  check_name(self, name, 'parameter')
  if p ~= nil and not is_tensor(p) then
    error(string.format("ag.nn.Module.register_parameter: cannot assign %s as parameter '%s' " ..
                        "(a Tensor made by ag.nn.Parameter or nil expected)", core.typename(p), name), 2)
  end
  forget(self, name, 'p')
  rawset(self, name, nil)
  if p == nil then
    if self._parameters[name] ~= nil then self._parameters[name] = nil; remove_from(self._param_names, name) end
    return
  end
  if not parameter_set[p] and not is_parameter(p) then p = Parameter(p, p.requires_grad) end
  if self._parameters[name] == nil then table.insert(self._param_names, name) end
  self._parameters[name] = p
end

function Module.register_buffer(self, name, t, persistent)
  check_name(self, name, 'buffer')
  if t ~= nil and not is_tensor(t) then
    error(string.format("ag.nn.Module.register_buffer: cannot assign %s as buffer '%s' (a Tensor or nil expected)",
                        core.typename(t), name), 2)
  end
  if rawget(self, '_parameters')[name] ~= nil or rawget(self, '_modules')[name] ~= nil
     or (rawget(self, name) ~= nil) then
    error(string.format("ag.nn.Module.register_buffer: attribute '%s' already exists", name), 2)
  end
  if self._buffers[name] == nil then table.insert(self._buffer_names, name) end
  self._buffers[name] = t
  if t == nil then remove_from(self._buffer_names, name) end
  self._non_persistent[name] = (persistent == false) or nil
end

function Module.add_module(self, name, m)
  check_name(self, name, 'module')
  if m ~= nil and not is_module(m) then
    error(string.format("ag.nn.Module.add_module: %s is not a Module", core.typename(m)), 2)
  end
  forget(self, name, 'm')
  rawset(self, name, nil)
  if m == nil then
    if self._modules[name] ~= nil then self._modules[name] = nil; remove_from(self._module_names, name) end
    return
  end
  if self._modules[name] == nil then table.insert(self._module_names, name) end
  self._modules[name] = m
end
Module.register_module = Module.add_module

function Module.__newindex(self, k, v)
  if type(k) == 'string' then
    local params = rawget(self, '_parameters')
    if is_module(v) then return Module.add_module(self, k, v) end
    if is_tensor(v) and is_parameter(v) then return Module.register_parameter(self, k, v) end
    if params[k] ~= nil then
      if v == nil then return Module.register_parameter(self, k, nil) end
      error(string.format("ag.nn.Module: cannot assign %s as parameter '%s' (wrap it in ag.nn.Parameter, " ..
                          "or assign nil to remove it)", core.typename(v), k), 2)
    end
    local bufs = rawget(self, '_buffers')
    if bufs[k] ~= nil then
      if v ~= nil and not is_tensor(v) then
        error(string.format("ag.nn.Module: cannot assign %s as buffer '%s' (a Tensor or nil expected)",
                            core.typename(v), k), 2)
      end
      bufs[k] = v
      if v == nil then remove_from(self._buffer_names, k); self._non_persistent[k] = nil end
      return
    end
    if rawget(self, '_modules')[k] ~= nil then
      if v ~= nil then
        error(string.format("ag.nn.Module: cannot assign %s as child module '%s' (a Module or nil expected)",
                            core.typename(v), k), 2)
      end
      return Module.add_module(self, k, nil)
    end
  end
  rawset(self, k, v)
end

function Module.__call(self, ...) return self:forward(...) end
setmetatable(Module, {__call = function(c, ...) return c.new(c, ...) end,
                      __tostring = function() return 'ag.nn.Module' end})

-- classes

-- Module:extend('Name') returns a subclass; calling it constructs an instance and runs init.
function Module.extend(parent, name)
  if type(name) ~= 'string' then
    error("ag.nn.Module:extend: expected a class name string, got " .. core.typename(name), 2)
  end
  local cls = {__name = name, super = parent}
  for _, mm in ipairs(METAMETHODS) do cls[mm] = rawget(parent, mm) end
  return setmetatable(cls, {
    __index = parent,
    __call = function(c, ...) return c.new(c, ...) end,
    __tostring = function(c) return 'ag.nn.' .. c.__name end,
  })
end

-- the raw instance state a Module needs; init() methods run after this
local function new_state()
  return {_parameters = {}, _param_names = {}, _buffers = {}, _buffer_names = {},
          _non_persistent = {}, _modules = {}, _module_names = {}, training = true}
end

function Module.new(cls, ...)
  local self = setmetatable(new_state(), cls)
  self:init(...)
  return self
end

function Module.init(self) end

function Module.forward(self)
  error(string.format("ag.nn.%s: forward is not implemented; define %s:forward(...)",
                      self.__name, self.__name), 2)
end

function Module.is_module(v) return is_module(v) end
function Module.type_name(self) return getmetatable(self).__name end
function Module.is_instance(self, cls)
  local c = getmetatable(self)
  while c do
    if c == cls then return true end
    c = rawget(c, 'super')
  end
  return false
end

-- traversal

local function each_module(self, prefix, out, seen)
  if seen[self] then return end
  seen[self] = true
  out[#out + 1] = {prefix, self}
  for _, name in ipairs(self._module_names) do
    local m = self._modules[name]
    if m then each_module(m, prefix == '' and name or (prefix .. '.' .. name), out, seen) end
  end
end

function Module.named_modules(self, prefix)
  local out = {}
  each_module(self, prefix or '', out, {})
  return named_list(out)
end
function Module.modules(self)
  local out = {}
  for _, e in ipairs(Module.named_modules(self)) do out[#out + 1] = e[2] end
  return out
end
function Module.named_children(self)
  local out = {}
  for _, name in ipairs(self._module_names) do out[#out + 1] = {name, self._modules[name]} end
  return named_list(out)
end
function Module.children(self)
  local out = {}
  for _, name in ipairs(self._module_names) do out[#out + 1] = self._modules[name] end
  return out
end

-- own members of kind 'p' or 'b' over all modules (each tensor once), with dotted names
local function named_members(self, kind, recurse)
  local out, seen = {}, {}
  local mods = recurse == false and {{'', self}} or Module.named_modules(self)
  for _, e in ipairs(mods) do
    local prefix, m = e[1], e[2]
    local names = kind == 'p' and m._param_names or m._buffer_names
    local dict = kind == 'p' and m._parameters or m._buffers
    for _, n in ipairs(names) do
      local t = dict[n]
      if t ~= nil and not seen[t] then
        seen[t] = true
        out[#out + 1] = {prefix == '' and n or (prefix .. '.' .. n), t}
      end
    end
  end
  return named_list(out)
end

function Module.named_parameters(self, opts)
  local recurse = true
  if type(opts) == 'table' and opts.recurse ~= nil then recurse = opts.recurse end
  if type(opts) == 'boolean' then recurse = opts end
  return named_members(self, 'p', recurse)
end
function Module.parameters(self, opts)
  local out = {}
  for _, e in ipairs(Module.named_parameters(self, opts)) do out[#out + 1] = e[2] end
  return out
end
function Module.named_buffers(self) return named_members(self, 'b') end
function Module.buffers(self)
  local out = {}
  for _, e in ipairs(named_members(self, 'b')) do out[#out + 1] = e[2] end
  return out
end

-- the number of parameter elements (trainable only with {trainable = true})
function Module.num_parameters(self, opts)
  local n = 0
  for _, p in ipairs(Module.parameters(self)) do
    if not (opts and opts.trainable) or p.requires_grad then n = n + p:numel() end
  end
  return n
end

-- modes and grads

function Module.train(self, mode)
  if mode == nil then mode = true end
  if type(mode) ~= 'boolean' then
    error("ag.nn.Module.train: mode is expected to be a boolean, got " .. core.typename(mode), 2)
  end
  for _, m in ipairs(Module.modules(self)) do rawset(m, 'training', mode) end
  return self
end
function Module.eval(self) return Module.train(self, false) end

function Module.requires_grad_(self, flag)
  if flag == nil then flag = true end
  for _, p in ipairs(Module.parameters(self)) do p:requires_grad_(flag) end
  return self
end

-- Sets every parameter's grad to nil (the default, PyTorch's set_to_none=True), or to zero
-- with zero_grad(false) / zero_grad({set_to_none = false}).
function Module.zero_grad(self, set_to_none)
  if type(set_to_none) == 'table' then set_to_none = set_to_none.set_to_none end
  if set_to_none == nil then set_to_none = true end
  for _, p in ipairs(Module.parameters(self)) do
    if set_to_none then p.grad = nil
    else
      local g = p.grad
      if g then ag().no_grad(function() g:zero_() end) end
    end
  end
end

-- Calls fn(m) on every submodule (children first) and then on self; returns self.
function Module.apply(self, fn)
  if type(fn) ~= 'function' then
    error("ag.nn.Module.apply: expected a function, got " .. core.typename(fn), 2)
  end
  for _, m in ipairs(Module.children(self)) do Module.apply(m, fn) end
  fn(self)
  return self
end

-- Replaces every parameter and buffer by fn(t) (a new tensor; parameters keep their
-- requires_grad, and their grads are converted too). Used by to/float/double.
function Module._apply(self, fn, float_only)
  for _, m in ipairs(Module.modules(self)) do
    for _, n in ipairs(m._param_names) do
      local p = m._parameters[n]
      if p and (not float_only or p:is_floating_point()) then
        local np = ag().no_grad(fn, p)
        if np ~= p then
          local g = p.grad
          np = Parameter(np:detach(), p.requires_grad)
          if g then np.grad = ag().no_grad(fn, g) end
          m._parameters[n] = np
        end
      end
    end
    for _, n in ipairs(m._buffer_names) do
      local b = m._buffers[n]
      if b and (not float_only or b:is_floating_point()) then m._buffers[n] = ag().no_grad(fn, b) end
    end
  end
  return self
end

-- m:to('float64') / m:to({dtype = 'float64'}) converts the floating-point parameters and
-- buffers (integer buffers such as BatchNorm's num_batches_tracked keep their dtype).
-- A device of 'cpu' is accepted and changes nothing.
function Module.to(self, dtype)
  if type(dtype) == 'table' then dtype = dtype.dtype end
  if dtype == nil or dtype == 'cpu' then return self end
  local id = core.dtype_id(dtype, 'nn.Module.to')
  if id > 1 then
    error("ag.nn.Module.to: only floating point dtypes are accepted (float32, float64), got " .. dtype, 2)
  end
  local name = core.dtype_names[id]
  return Module._apply(self, function(t)
    if t.dtype == name then return t end
    return t:to(name)
  end, true)
end
function Module.float(self) return Module.to(self, 'float32') end
function Module.double(self) return Module.to(self, 'float64') end

-- state dicts

-- A table from dotted names to tensors (parameters and persistent buffers, detached and
-- sharing storage with the module), as PyTorch's state_dict.
function Module.state_dict(self, opts)
  local sd = {}
  local prefix = opts and opts.prefix or ''
  for _, e in ipairs(Module.named_modules(self)) do
    local p, m = e[1], e[2]
    local pre = prefix .. (p == '' and '' or (p .. '.'))
    for _, n in ipairs(m._param_names) do
      local t = m._parameters[n]
      if t ~= nil then sd[pre .. n] = t:detach() end
    end
    for _, n in ipairs(m._buffer_names) do
      local t = m._buffers[n]
      if t ~= nil and not m._non_persistent[n] then sd[pre .. n] = t:detach() end
    end
  end
  return sd
end

-- The keys of state_dict in module order (parameters, then buffers, module by module).
function Module.state_dict_keys(self)
  local keys = {}
  for _, e in ipairs(Module.named_modules(self)) do
    local p, m = e[1], e[2]
    local pre = p == '' and '' or (p .. '.')
    for _, n in ipairs(m._param_names) do
      if m._parameters[n] ~= nil then keys[#keys + 1] = pre .. n end
    end
    for _, n in ipairs(m._buffer_names) do
      if m._buffers[n] ~= nil and not m._non_persistent[n] then keys[#keys + 1] = pre .. n end
    end
  end
  return keys
end

local function shape_str(t)
  local s = t.shape
  return '[' .. table.concat(s, ', ') .. ']'
end

local function quoted(list)
  local q = {}
  for i, k in ipairs(list) do q[i] = '"' .. k .. '"' end
  return table.concat(q, ', ')
end

-- Copies the tensors of sd into the module's parameters and buffers (converting dtype).
-- With strict (the default) every key must match: the error lists the missing and the
-- unexpected keys, as PyTorch's does. Returns {missing_keys = {...}, unexpected_keys = {...}}.
function Module.load_state_dict(self, sd, opts)
  if type(sd) ~= 'table' then
    error("ag.nn.Module.load_state_dict: expected a table of tensors (a state_dict), got " .. core.typename(sd), 2)
  end
  local strict = true
  if type(opts) == 'boolean' then strict = opts
  elseif type(opts) == 'table' and opts.strict ~= nil then strict = opts.strict end

  local targets, keys = {}, {}
  for _, e in ipairs(Module.named_modules(self)) do
    local p, m = e[1], e[2]
    local pre = p == '' and '' or (p .. '.')
    for _, n in ipairs(m._param_names) do
      if m._parameters[n] ~= nil then targets[pre .. n] = {m, 'p', n}; keys[#keys + 1] = pre .. n end
    end
    for _, n in ipairs(m._buffer_names) do
      if m._buffers[n] ~= nil and not m._non_persistent[n] then
        targets[pre .. n] = {m, 'b', n}; keys[#keys + 1] = pre .. n
      end
    end
  end
  local missing, unexpected, errors = {}, {}, {}
  for _, k in ipairs(keys) do if sd[k] == nil then missing[#missing + 1] = k end end
  for k in pairs(sd) do
    if targets[k] == nil then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  for _, k in ipairs(keys) do
    local v = sd[k]
    if v ~= nil then
      local tgt = targets[k]
      local cur = tgt[2] == 'p' and tgt[1]._parameters[tgt[3]] or tgt[1]._buffers[tgt[3]]
      if not is_tensor(v) then
        errors[#errors + 1] = string.format('While copying the parameter named "%s", expected a Tensor ' ..
                                            'from the checkpoint but got %s.', k, core.typename(v))
      elseif shape_str(v) ~= shape_str(cur) then
        errors[#errors + 1] = string.format('size mismatch for %s: copying a param with shape %s from ' ..
                                            'checkpoint, the shape in current model is %s.', k, shape_str(v),
                                            shape_str(cur))
      end
    end
  end
  if strict then
    if #unexpected > 0 then
      table.insert(errors, 1, 'Unexpected key(s) in state_dict: ' .. quoted(unexpected) .. '.')
    end
    if #missing > 0 then
      table.insert(errors, 1, 'Missing key(s) in state_dict: ' .. quoted(missing) .. '.')
    end
  end
  if #errors > 0 then
    error(string.format('Error(s) in loading state_dict for %s:\n\t%s', getmetatable(self).__name,
                        table.concat(errors, '\n\t')), 2)
  end
  ag().no_grad(function()
    for _, k in ipairs(keys) do
      local v = sd[k]
      if v ~= nil then
        local tgt = targets[k]
        local cur = tgt[2] == 'p' and tgt[1]._parameters[tgt[3]] or tgt[1]._buffers[tgt[3]]
        cur:copy_(v)
      end
    end
  end)
  return {missing_keys = missing, unexpected_keys = unexpected}
end

-- printing

local function with_commas(n)
  local s = string.format('%d', n)
  local r
  repeat s, r = s:gsub('^(-?%d+)(%d%d%d)', '%1,%2') until r == 0
  return s
end

function Module.extra_repr(self) return '' end

local function repr(m, indent)
  local name = getmetatable(m).__name
  local extra = m:extra_repr()
  local total = Module.num_parameters(m)
  local count = total > 0 and string.format('  # %s params', with_commas(total)) or ''
  if #m._module_names == 0 then
    return name .. '(' .. extra .. ')' .. count
  end
  local lines = {name .. '(' .. (extra ~= '' and extra or '') .. count}
  local pad = string.rep('  ', indent + 1)
  for _, n in ipairs(m._module_names) do
    local child = m._modules[n]
    lines[#lines + 1] = pad .. '(' .. n .. '): ' .. repr(child, indent + 1)
  end
  lines[#lines + 1] = string.rep('  ', indent) .. ')'
  return table.concat(lines, '\n')
end

-- The module tree as PyTorch prints it, with each module's parameter count, and a total
-- line (all and trainable) for the whole model.
function Module.__tostring(self)
  local total = Module.num_parameters(self)
  local trainable = Module.num_parameters(self, {trainable = true})
  return repr(self, 0) .. string.format('\nTotal parameters: %s (trainable: %s)', with_commas(total),
                                        with_commas(trainable))
end

function Module.__concat(a, b) return tostring(a) .. tostring(b) end

return {Module = Module, Parameter = Parameter, is_parameter = is_parameter, named_list = named_list,
        with_commas = with_commas}
