-- autograd/dot.lua: ag.autograd.to_dot(t) writes the graph behind t as Graphviz DOT:
-- one box per node (its name), leaves with their shapes, edges from inputs to users.
local core = require 'ag.core'

return function(t)
  core.check(t, 'to_dot')
  local lines = {'digraph autograd {', '  node [shape=box, fontname="monospace"];'}
  local ids, count = {}, 0
  local function key(n) return tostring(require('ffi').cast('uintptr_t', n)) end
  local function shape_str(s) return '[' .. table.concat(s, ', ') .. ']' end
  local root = t.grad_fn
  lines[#lines + 1] = string.format('  out [label="output %s", shape=ellipse];', shape_str(t.shape))
  if not root then
    lines[#lines + 1] = '}'
    return table.concat(lines, '\n') .. '\n'
  end
  local stack = {root}
  local function id(n)
    local k = key(n)
    if not ids[k] then
      count = count + 1
      ids[k] = 'n' .. count
      local label = n:name()
      local v = n.variable
      if v then label = label .. '\\nleaf ' .. shape_str(v.shape) end
      lines[#lines + 1] = string.format('  %s [label="%s"%s];', ids[k], label, v and ', style=filled' or '')
      stack[#stack + 1] = n
    end
    return ids[k]
  end
  stack = {}
  local root_id = id(root)
  lines[#lines + 1] = string.format('  %s -> out;', root_id)
  local seen = {}
  while #stack > 0 do
    local n = table.remove(stack)
    local k = key(n)
    if not seen[k] then
      seen[k] = true
      for _, e in ipairs(n.next_functions) do
        if e[1] then
          local from = id(e[1])
          lines[#lines + 1] = string.format('  %s -> %s;', from, ids[k])
        end
      end
    end
  end
  lines[#lines + 1] = '}'
  return table.concat(lines, '\n') .. '\n'
end
