-- optim/optimizer.lua: ag.optim.Optimizer, the base of every optimizer: parameter groups
-- with per-group options, per-parameter state, zero_grad, and state_dict/load_state_dict
-- in PyTorch's layout ({state = {[id] = {...}}, param_groups = {{lr = ..., params = {ids}}}}
-- with ids numbering the parameters 1, 2, ... across groups in order). Subclasses give
-- their defaults and a step() that calls one fused C kernel per parameter.
local core = require 'ag.core'

local Optimizer = {__name = 'Optimizer'}
Optimizer.__index = Optimizer

local function ag() return require 'ag' end

-- Optimizer:extend('SGD', defaults, validate(name, options)) -> class; calling the class
-- constructs an optimizer: SGD(params, {lr = 0.1, momentum = 0.9}).
function Optimizer.extend(parent, name, defaults, validate)
  local cls = {__name = name, _defaults = defaults, _validate = validate}
  cls.__index = cls
  cls.__tostring = parent.__tostring
  return setmetatable(cls, {__index = parent, __call = function(c, ...) return c.new(c, ...) end,
                            __tostring = function() return 'ag.optim.' .. name end})
end

local function is_module(v) return type(v) == 'table' and rawget(v, '_modules') ~= nil end

-- params: a list of tensors, a module, or a list of groups {params = {...}, lr = ...}
function Optimizer.new(cls, params, opts)
  local name = cls.__name
  opts = opts or {}
  if type(opts) ~= 'table' then
    error(string.format("ag.optim.%s: options must be a table, e.g. {lr = 0.01}, got %s", name,
                        core.typename(opts)), 3)
  end
  local defaults = {}
  for k, v in pairs(cls._defaults) do defaults[k] = v end
  for k, v in pairs(opts) do
    if cls._defaults[k] == nil then
      local known = {}
      for dk in pairs(cls._defaults) do known[#known + 1] = dk end
      table.sort(known)
      error(string.format("ag.optim.%s: unknown option '%s' (expected one of: %s)", name, tostring(k),
                          table.concat(known, ', ')), 3)
    end
    defaults[k] = v
  end
  local self = setmetatable({defaults = defaults, param_groups = {}, state = {}, _step_count = 0}, cls)
  if cls._validate then
    local ok, err = pcall(cls._validate, name, defaults)
    if not ok then error(err, 3) end
  end
  if is_module(params) then params = params:parameters() end
  if core.is_tensor(params) then
    error(string.format("ag.optim.%s: params argument given to the optimizer should be a list of tensors " ..
                        "(e.g. model:parameters()), but got a single Tensor", name), 3)
  end
  if type(params) ~= 'table' then
    error(string.format("ag.optim.%s: expected a list of tensors, a module or a list of parameter groups, got %s",
                        name, core.typename(params)), 3)
  end
  if #params == 0 then error(string.format("ag.optim.%s: got an empty parameter list", name), 3) end
  local groups = params
  if core.is_tensor(params[1]) then groups = {{params = params}} end
  for _, g in ipairs(groups) do
    local ok, err = pcall(self.add_param_group, self, g)
    if not ok then error(err, 3) end
  end
  if cls._after_init then cls._after_init(self) end
  return self
end

-- Adds a group {params = {...}, <option> = ...}; options not given take the defaults.
function Optimizer:add_param_group(group)
  local name = self.__name
  if type(group) ~= 'table' then
    error(string.format("ag.optim.%s: a parameter group must be a table, got %s", name, core.typename(group)), 2)
  end
  local ps = group.params
  if is_module(ps) then ps = ps:parameters() end
  if core.is_tensor(ps) then ps = {ps} end
  if type(ps) ~= 'table' then
    error(string.format("ag.optim.%s: a parameter group needs params = {tensors...}", name), 2)
  end
  local g = {}
  for k, v in pairs(group) do
    if k ~= 'params' and self.defaults[k] == nil and k ~= 'initial_lr' and k ~= 'max_lr' and k ~= 'min_lr'
       and k ~= 'max_momentum' and k ~= 'base_momentum' then
      error(string.format("ag.optim.%s: unknown option '%s' in a parameter group", name, tostring(k)), 2)
    end
    g[k] = v
  end
  for k, v in pairs(self.defaults) do if g[k] == nil then g[k] = v end end
  if self._validate then self._validate(name, g) end
  local list, seen = {}, {}
  for _, other in ipairs(self.param_groups) do for _, p in ipairs(other.params) do seen[p] = true end end
  for i, p in ipairs(ps) do
    if not core.is_tensor(p) then
      error(string.format("ag.optim.%s: optimizer can only optimize Tensors, but parameter %d is %s", name, i,
                          core.typename(p)), 2)
    end
    if not p.is_leaf then
      error(string.format("ag.optim.%s: can't optimize a non-leaf Tensor (parameter %d)", name, i), 2)
    end
    if not p:is_floating_point() then
      error(string.format("ag.optim.%s: can only optimize float32 or float64 tensors, parameter %d is %s", name,
                          i, p.dtype), 2)
    end
    if seen[p] then
      error(string.format("ag.optim.%s: some parameters appear in more than one parameter group", name), 2)
    end
    seen[p] = true
    list[#list + 1] = p
  end
  g.params = list
  table.insert(self.param_groups, g)
end

-- Sets every parameter's grad to nil (the default) or zero (zero_grad(false)).
function Optimizer:zero_grad(set_to_none)
  if type(set_to_none) == 'table' then set_to_none = set_to_none.set_to_none end
  if set_to_none == nil then set_to_none = true end
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do
      if set_to_none then p.grad = nil
      else
        local gr = p.grad
        if gr then ag().no_grad(function() gr:zero_() end) end
      end
    end
  end
end

-- step(closure): closure re-evaluates the model and returns the loss (run with grad on).
function Optimizer:step(closure)
  local loss
  if closure ~= nil then
    if type(closure) ~= 'function' then
      error(string.format("ag.optim.%s.step: closure must be a function, got %s", self.__name,
                          core.typename(closure)), 2)
    end
    loss = ag().enable_grad(closure)
  end
  self._step_count = self._step_count + 1
  for _, g in ipairs(self.param_groups) do self:_update_group(g) end
  return loss
end

-- state_dict(): the state and the groups' options, parameters replaced by ids
function Optimizer:state_dict()
  local ids, n = {}, 0
  local groups = {}
  for gi, g in ipairs(self.param_groups) do
    local pg = {}
    for k, v in pairs(g) do if k ~= 'params' then pg[k] = v end end
    pg.params = {}
    for _, p in ipairs(g.params) do
      if ids[p] == nil then n = n + 1; ids[p] = n end
      pg.params[#pg.params + 1] = ids[p]
    end
    groups[gi] = pg
  end
  local state = {}
  for p, s in pairs(self.state) do
    local id = ids[p]
    if id then
      local c = {}
      for k, v in pairs(s) do c[k] = v end
      state[id] = c
    end
  end
  return {state = state, param_groups = groups}
end

-- load_state_dict(sd): restores state (tensors copied, cast to each parameter's dtype) and
-- the groups' options; the groups must have the same sizes as this optimizer's.
function Optimizer:load_state_dict(sd)
  local name = self.__name
  if type(sd) ~= 'table' or type(sd.param_groups) ~= 'table' then
    error(string.format("ag.optim.%s.load_state_dict: expected a table with param_groups and state " ..
                        "(from optimizer:state_dict()), got %s", name, core.typename(sd)), 2)
  end
  local saved = sd.param_groups
  if #saved ~= #self.param_groups then
    error(string.format("ag.optim.%s.load_state_dict: loaded state dict has a different number of parameter " ..
                        "groups (%d, this optimizer has %d)", name, #saved, #self.param_groups), 2)
  end
  for i, g in ipairs(self.param_groups) do
    if type(saved[i].params) ~= 'table' or #saved[i].params ~= #g.params then
      error(string.format("ag.optim.%s.load_state_dict: loaded state dict contains a parameter group that " ..
                          "doesn't match the size of optimizer's group (group %d: %d saved, %d here)", name, i,
                          type(saved[i].params) == 'table' and #saved[i].params or 0, #g.params), 2)
    end
  end
  local by_id = {}
  for i, g in ipairs(self.param_groups) do
    for j, p in ipairs(g.params) do by_id[saved[i].params[j]] = p end
  end
  local state = {}
  for id, s in pairs(sd.state or {}) do
    local p = by_id[tonumber(id) or id]
    if p and type(s) == 'table' then
      local c = {}
      for k, v in pairs(s) do
        if core.is_tensor(v) then
          if k == 'step' then c[k] = v:item()
          else
            local t = v:detach()
            if v:is_floating_point() and t.dtype ~= p.dtype then t = t:to(p.dtype) end
            c[k] = t:clone():contiguous()
          end
        else
          c[k] = v
        end
      end
      state[p] = c
    end
  end
  self.state = state
  for i, g in ipairs(self.param_groups) do
    for k, v in pairs(saved[i]) do
      if k ~= 'params' then g[k] = v end
    end
  end
end

function Optimizer:__tostring()
  local lines = {self.__name .. ' ('}
  for i, g in ipairs(self.param_groups) do
    lines[#lines + 1] = 'Parameter Group ' .. i
    local keys = {}
    for k in pairs(g) do if k ~= 'params' then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = g[k]
      if type(v) == 'table' then
        local parts = {}
        for j, x in ipairs(v) do parts[j] = tostring(x) end
        v = '(' .. table.concat(parts, ', ') .. ')'
      end
      lines[#lines + 1] = '    ' .. k .. ': ' .. tostring(v)
    end
  end
  lines[#lines + 1] = ')'
  return table.concat(lines, '\n')
end

-- helpers for subclasses

function Optimizer.check_number(name, what, v, ok)
  if type(v) ~= 'number' or v ~= v or not ok(v) then
    error(string.format("ag.optim.%s: Invalid %s: %s", name, what, tostring(v)), 0)
  end
end

-- a parameter's state table, created empty on first use
function Optimizer:state_for(p)
  local s = self.state[p]
  if s == nil then s = {}; self.state[p] = s end
  return s
end

return Optimizer
