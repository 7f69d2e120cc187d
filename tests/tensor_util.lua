-- tensor_util.lua: small assertions shared by the tensor_*_spec files (loaded with
-- dofile, not a spec itself): approximate comparison of nested tables, storage sharing,
-- "this raises an error whose message contains these plain strings", and for the conv
-- specs a whole-tensor tolerance check and deterministic formula inputs.
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

-- |got - want| <= tol + tol * max|want| over the whole tensor (shapes equal)
function U.close_scaled(got, want, tol, what)
  assert.are.same(want.shape, got.shape, what .. ' shape')
  local scale = want:double():abs():max():item()
  local err = (got:double() - want:double()):abs():max():item()
  assert.is_true(err <= tol + tol * scale,
                 string.format('%s: max error %.3g exceeds %.3g (scale %.3g)', what, err, tol + tol * scale, scale))
end

-- deterministic float32 values fn(a i + b) * scale over 0-based flat indices, in `shape`
function U.formula(shape, a, b, scale, fn)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local i = ag.arange(0, n, {dtype = 'float64'})
  return fn(i * a + b):mul(scale):float():reshape(shape)
end

return U
