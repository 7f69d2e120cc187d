-- grad_mode.lua: ag.no_grad / enable_grad / inference_mode / set_grad_enabled. Each scope
-- runs fn(...) and returns its results, restoring the previous mode even when fn raises.
local core = require 'ag.core'
local C = core.C

local G = {}

local function pack(...) return {n = select('#', ...), ...} end

local function scoped(enabled)
  return function(fn, ...)
    if type(fn) ~= 'function' then error("ag.no_grad: expected a function to run, got " .. type(fn), 2) end
    local prev = C.aga_is_grad_enabled()
    C.aga_set_grad_enabled(enabled)
    local r = pack(pcall(fn, ...))
    C.aga_set_grad_enabled(prev)
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end

G.no_grad = scoped(0)
G.enable_grad = scoped(1)
G.inference_mode = G.no_grad

function G.set_grad_enabled(b) C.aga_set_grad_enabled(b and 1 or 0) end
function G.is_grad_enabled() return C.aga_is_grad_enabled() ~= 0 end

return G
