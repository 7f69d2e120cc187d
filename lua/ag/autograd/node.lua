-- autograd/node.lua: grad_fn objects seen from Lua. They print as <AddBackward0> and have
-- :name(), .next_functions ({node, input_nr} pairs, AccumulateGrad for leaves) and, for
-- AccumulateGrad, .variable.
local ffi = require 'ffi'
local core = require 'ag.core'
local C = core.C

local N = {}
local methods = {}

function N.own(p)
  if p == nil then return nil end
  return ffi.gc(p, C.aga_node_release)
end

function methods.name(n) return ffi.string(C.aga_node_name(n)) end

local nr = ffi.new('int[1]')
local getters = {
  next_functions = function(n)
    local list = {}
    for i = 0, C.aga_node_num_inputs(n) - 1 do
      local nx = C.aga_node_next(n, i, nr)
      if nx ~= nil then list[#list + 1] = {N.own(nx), nr[0]}
      else list[#list + 1] = {nil, 0} end
    end
    return list
  end,
  variable = function(n)
    local v = C.aga_node_variable(n)
    return v ~= nil and core.wrap(v) or nil
  end,
  metadata = function() return {} end,
}

ffi.metatype('struct aga_node', {
  __index = function(n, k)
    local m = methods[k]
    if m then return m end
    local g = getters[k]
    if g then return g(n) end
    return nil
  end,
  __tostring = function(n) return '<' .. ffi.string(C.aga_node_name(n)) .. '>' end,
  __eq = function(a, b)
    return ffi.istype('struct aga_node *', a) and ffi.istype('struct aga_node *', b) and
           ffi.cast('uintptr_t', a) == ffi.cast('uintptr_t', b)
  end,
})

return N
