-- nn/layers/container.lua: Sequential, ModuleList and ModuleDict.
-- Sequential and ModuleList name their children '1', '2', ... (1-based, like their
-- indices) and keep them as the array part too, so seq[1], #list and
-- `for i, layer in ipairs(list)` work. Replace an entry with list:set(i, m).
local core = require 'ag.core'
local L = require 'ag.nn.layers.common'
local Module = L.Module

local M = {}

local function check_module(who, m, pos)
  if not Module.is_module(m) then
    error(string.format("ag.nn.%s: %s is not a Module (argument %s)", who, core.typename(m), tostring(pos)), 4)
  end
end

-- rebuild names '1'..'n' and the array part from an ordered list of modules
local function renumber(self, list)
  for i = #self, 1, -1 do rawset(self, i, nil) end
  for _, n in ipairs(self._module_names) do self._modules[n] = nil end
  self._module_names = {}
  for i, m in ipairs(list) do
    Module.add_module(self, tostring(i), m)
    rawset(self, i, m)
  end
end

local function list_of(self)
  local out = {}
  for i = 1, #self do out[i] = self[i] end
  return out
end

local function list_methods(cls, who)
  function cls:append(m)
    check_module(who, m, 1)
    local n = #self + 1
    Module.add_module(self, tostring(n), m)
    rawset(self, n, m)
    return self
  end
  function cls:extend(list)
    if rawget(self, '_modules') == nil then return Module.extend(self, list) end   -- Class:extend('Name')
    if Module.is_module(list) then list = list_of(list) end
    for i, m in ipairs(list) do check_module(who, m, i) end
    for _, m in ipairs(list) do self:append(m) end
    return self
  end
  function cls:insert(index, m)
    check_module(who, m, 2)
    local list = list_of(self)
    local n = #list
    if index < 0 then index = index + n + 2 end
    if index < 1 or index > n + 1 then
      error(string.format("ag.nn.%s.insert: index %d is out of range for %d modules", who, index, n), 2)
    end
    table.insert(list, index, m)
    renumber(self, list)
    return self
  end
  function cls:set(index, m)
    check_module(who, m, 2)
    local n = #self
    if index < 0 then index = index + n + 1 end
    if index < 1 or index > n then
      error(string.format("ag.nn.%s: index %d is out of range for %d modules", who, index, n), 2)
    end
    local list = list_of(self)
    list[index] = m
    renumber(self, list)
    return self
  end
  function cls:pop(index)
    local list = list_of(self)
    local n = #list
    index = index or n
    if index < 0 then index = index + n + 1 end
    if index < 1 or index > n then
      error(string.format("ag.nn.%s.pop: index %d is out of range for %d modules", who, index, n), 2)
    end
    local m = table.remove(list, index)
    renumber(self, list)
    return m
  end
  function cls:len() return #self end
  function cls:get(index)
    local n = #self
    if index < 0 then index = index + n + 1 end
    local m = rawget(self, index)
    if m == nil then
      error(string.format("ag.nn.%s: index %d is out of range for %d modules", who, index, n), 2)
    end
    return m
  end
end

-- Sequential(m1, m2, ...), Sequential({m1, m2}), or named: Sequential({{'conv', m1}, {'relu', m2}})
local Sequential = Module:extend('Sequential')
M.Sequential = Sequential
list_methods(Sequential, 'Sequential')

function Sequential:init(...)
  local args = {...}
  local n = select('#', ...)
  if n == 1 and type(args[1]) == 'table' and not Module.is_module(args[1]) then
    local list = args[1]
    if type(list[1]) == 'table' and not Module.is_module(list[1]) then   -- named pairs
      for i, e in ipairs(list) do
        if type(e[1]) ~= 'string' then
          error(string.format("ag.nn.Sequential: entry %d should be {name, module}", i), 3)
        end
        check_module('Sequential', e[2], i)
        Module.add_module(self, e[1], e[2])
        rawset(self, i, e[2])
      end
      return
    end
    args, n = list, #list
  end
  for i = 1, n do check_module('Sequential', args[i], i) end
  for i = 1, n do self:append(args[i]) end
end

-- ReLU followed by MaxPool runs as MaxPool then ReLU: relu is monotone, so the max of the
-- relus is the relu of the max and each gradient lands where it did (the window's argmax,
-- zero where the max is <= 0 or NaN), but relu touches a quarter of the elements. Only exact
-- nn.ReLU (not inplace) and nn.MaxPool1d/2d (no return_indices) pairs, and plain calls.
local relu_pool
local function swaps(m, nxt)
  if not relu_pool then
    local nn = require 'ag.nn'
    relu_pool = {relu = nn.ReLU, pool = {[nn.MaxPool1d] = true, [nn.MaxPool2d] = true}}
  end
  return nxt ~= nil and getmetatable(m) == relu_pool.relu and not m.inplace and relu_pool.pool[getmetatable(nxt)] and
         not nxt.return_indices
end

-- Conv2d followed by MaxPool2d (no return_indices; a ReLU between them is swapped as above)
-- on an input that needs no gradient (the images at a network's first layer), while
-- recording: one node whose backward gives the conv's weight and bias gradients from the
-- pooled gradient, without the conv-sized gradient in between (Conv2d:forward_max_pool).
-- Same values and gradients.
local conv_pool_types
local function conv_pools(m, pool, x)
  if not conv_pool_types then
    local nn = require 'ag.nn'
    conv_pool_types = {conv = nn.Conv2d, pool = nn.MaxPool2d, ag = require 'ag'}
  end
  return pool ~= nil and getmetatable(m) == conv_pool_types.conv and getmetatable(pool) == conv_pool_types.pool and
         not pool.return_indices and core.is_tensor(x) and x.ndim == 4 and not x.requires_grad and
         m.groups == 1 and conv_pool_types.ag.is_grad_enabled() and
         (m.weight.requires_grad or (m.bias ~= nil and m.bias.requires_grad))
end

function Sequential:forward(x, ...)
  local n, i = #self, 1
  local plain = select('#', ...) == 0
  while i <= n do
    local m, nxt, nxt2 = self[i], self[i + 1], self[i + 2]
    if plain and conv_pools(m, nxt, x) then
      x = m:forward_max_pool(x, nxt)
      i = i + 2
    elseif plain and swaps(nxt, nxt2) and conv_pools(m, nxt2, x) then
      x = nxt(m:forward_max_pool(x, nxt2))
      i = i + 3
    elseif plain and swaps(m, nxt) then
      x = m(nxt(x))
      i = i + 2
    else
      x = m(x, ...)
      i = i + 1
    end
  end
  return x
end
Sequential.add = Sequential.append

-- ModuleList(list): holds modules; forward is yours to write.
local ModuleList = Module:extend('ModuleList')
M.ModuleList = ModuleList
list_methods(ModuleList, 'ModuleList')
function ModuleList:init(list)
  if list == nil then return end
  if type(list) ~= 'table' or Module.is_module(list) then
    error("ag.nn.ModuleList: expected a table of modules, got " .. core.typename(list), 3)
  end
  self:extend(list)
end
function ModuleList:forward()
  error("ag.nn.ModuleList: has no forward; iterate over it in your module's forward", 2)
end

-- ModuleDict({name = m, ...}) (names sorted) or ModuleDict({{'a', m1}, {'b', m2}}) (in order)
local ModuleDict = Module:extend('ModuleDict')
M.ModuleDict = ModuleDict
function ModuleDict:init(dict)
  if dict == nil then return end
  self:update(dict)
end
function ModuleDict:update(dict)
  if type(dict) ~= 'table' or Module.is_module(dict) then
    error("ag.nn.ModuleDict: expected a table of modules, got " .. core.typename(dict), 2)
  end
  if #dict > 0 then
    for i, e in ipairs(dict) do
      if type(e) ~= 'table' or type(e[1]) ~= 'string' then
        error(string.format("ag.nn.ModuleDict: entry %d should be {name, module}", i), 2)
      end
      check_module('ModuleDict', e[2], e[1])
      Module.add_module(self, e[1], e[2])
    end
    return self
  end
  local keys = {}
  for k in pairs(dict) do
    if type(k) ~= 'string' then error("ag.nn.ModuleDict: keys must be strings, got " .. core.typename(k), 2) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do check_module('ModuleDict', dict[k], k) end
  for _, k in ipairs(keys) do Module.add_module(self, k, dict[k]) end
  return self
end
function ModuleDict:keys() return {unpack(self._module_names)} end
function ModuleDict:values()
  local out = {}
  for i, k in ipairs(self._module_names) do out[i] = self._modules[k] end
  return out
end
function ModuleDict:items() return Module.named_children(self) end
function ModuleDict:len() return #self._module_names end
function ModuleDict:contains(k) return self._modules[k] ~= nil end
function ModuleDict:pop(k)
  local m = self._modules[k]
  if m == nil then error("ag.nn.ModuleDict.pop: no module named " .. tostring(k), 2) end
  Module.add_module(self, k, nil)
  return m
end
function ModuleDict:forward()
  error("ag.nn.ModuleDict: has no forward; pick modules by name in your module's forward", 2)
end

return M
