-- indexing.lua: Torch7-style range indexing. t[{i, {a, b}, {}}] picks index i of dim 1
-- (the dim goes away), rows a..b inclusive of dim 2, all of dim 3; negative numbers count
-- from the end. The result is a view; t[{...}] = v writes through it.
local core = require 'ag.core'
local tensor = require 'ag.tensor'
local M = tensor.methods

local function view_for(t, spec)
  core.check(t, 'index')
  local r, dim = t, 1
  local nd = t.ndim
  if #spec > nd then
    error(string.format("ag.index: too many indices for tensor of dimension %d (got %d)", nd, #spec), 3)
  end
  for k, s in ipairs(spec) do
    if type(s) == 'number' then
      r = M.select(r, dim, s)
    elseif type(s) == 'table' then
      local size = r.shape[dim]
      if size == nil then
        error(string.format("ag.index: too many indices for a tensor of dimension %d", t.ndim), 3)
      end
      local a, b = s[1] or 1, s[2] or s[1] or size
      if s[1] == nil then a, b = 1, size end
      if a < 0 then a = a + size + 1 end
      if b < 0 then b = b + size + 1 end
      if a < 1 or b > size or b < a - 1 then
        error(string.format("ag.index: range {%s, %s} is out of bounds for dimension %d with size %d (1-based, inclusive)",
                            tostring(s[1]), tostring(s[2]), dim, size), 3)
      end
      r = M.narrow(r, dim, a, b - a + 1)
      dim = dim + 1
    else
      error(string.format("ag.index: index %d must be a number or a {first, last} range, got %s", k, core.typename(s)), 3)
    end
  end
  return r
end

tensor.index = view_for
tensor.index_assign = function(t, spec, v) tensor.assign(t, view_for(t, spec), v) end

return view_for
