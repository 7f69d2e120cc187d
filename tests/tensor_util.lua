-- tensor_util.lua: small assertions shared by the tensor_*_spec files (loaded with
-- dofile, not a spec itself): approximate comparison of nested tables, storage sharing,
-- and "this raises an error whose message contains these plain strings".
local ag = require 'ag'
local assert = require 'luassert'
local U = {}

-- float32 rounding of a Lua number, to state expected float32 values exactly
local ffi = require 'ffi'
local f32 = ffi.new('float[1]')
function U.f32(x) f32[0] = x; return tonumber(f32[0]) end

local function flatten(x, out)
  if ag.is_tensor(x) then x = x:totable() end
  if type(x) ~= 'table' then out[#out + 1] = x; return out end
  for i = 1, #x do flatten(x[i], out) end
  return out
end

-- assert that x (a tensor or nested table) equals the nested table `want` within tol
-- (absolute plus relative); NaN matches NaN.
function U.close(x, want, tol, msg)
  tol = tol or 1e-6
  local got, exp = flatten(x, {}), flatten(want, {})
  if ag.is_tensor(x) and type(want) == 'table' then
    local function shape_of(t, s) s = s or {}; if type(t) == 'table' then s[#s + 1] = #t; if #t > 0 then shape_of(t[1], s) end end return s end
    assert.are.same(shape_of(want), x.shape, msg)
  end
  assert(#got == #exp, string.format('%s: %d values, expected %d', msg or 'close', #got, #exp))
  for i = 1, #exp do
    local a, b = got[i], exp[i]
    local ok
    if type(b) ~= 'number' or type(a) ~= 'number' then ok = a == b
    elseif b ~= b then ok = a ~= a
    elseif b == math.huge or b == -math.huge then ok = a == b
    else ok = math.abs(a - b) <= tol * (1 + math.abs(b)) end
    if not ok then
      error(string.format('%s: element %d is %s, expected %s (tol %g)', msg or 'close', i, tostring(a),
                          tostring(b), tol), 2)
    end
  end
end

-- exact equality of values and shape
function U.same(x, want, msg)
  if ag.is_tensor(x) then x = x:totable() end
  assert.are.same(want, x, msg)
end

function U.shares(a, b) return a.p.storage == b.p.storage end

-- f() must raise a Lua error whose message contains every one of the plain strings given.
function U.raises(f, ...)
  local err = tostring(assert.has_error(f))
  for i = 1, select('#', ...) do
    local s = select(i, ...)
    if not string.find(err, s, 1, true) then
      error(string.format("error message %q does not contain %q", err, s), 2)
    end
  end
  return err
end

return U
