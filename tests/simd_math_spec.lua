-- simd_math_spec.lua: the vectorized exp, sigmoid, tanh and log of lib/tensor/simd_math.h
-- (float32 and float64): the largest error in ulps over a dense sweep of
-- inputs against a float64 reference (LuaJIT's math library), values at the overflow and
-- underflow thresholds, IEEE edge cases (inf, NaN, -0, denormals), strided and in-place
-- forms, and the same accuracy on 1 and 2 threads (the sweep is above the OpenMP threshold).
local ag = require 'ag'
local ffi = require 'ffi'
local C = require 'ag.lib'

local inf, nan = math.huge, 0 / 0
local FLT_MAX = 3.4028234663852886e38
local FLT_MIN = 1.1754943508222875e-38      -- smallest normal float32
local DENORM_MIN = 1.401298464324817e-45    -- smallest denormal float32

local function ptr(t, ct) return ffi.cast(ct, C.agt_data_ptr(t.p)) end

-- a tensor of dtype filled with f(i) for i = 0 .. n-1
local function filled(n, dtype, f)
  local t = ag.empty(n, {dtype = dtype})
  local p = ptr(t, dtype == 'float64' and 'double *' or 'float *')
  for i = 0, n - 1 do p[i] = f(i) end
  return t
end

local function values(t)
  local p = ptr(t:contiguous(), t.dtype == 'float64' and 'double *' or 'float *')
  local n, r = t:numel(), {}
  for i = 0, n - 1 do r[i + 1] = p[i] end
  return r
end

-- error of got against ref in units in the last place of ref (float32: 24-bit significand,
-- denormal spacing below 2^-126; float64: 53 bits, 2^-1022); equal infinities and NaN/NaN
-- count 0, any other mismatch of kind counts huge
local function ulps(got, ref, bits, emin)
  if ref ~= ref then return got ~= got and 0 or 1e30 end
  if got ~= got then return 1e30 end
  if math.abs(ref) == inf or math.abs(got) == inf then return got == ref and 0 or 1e30 end
  local a = math.abs(ref)
  local e = a > 0 and math.floor(math.log(a) / math.log(2)) or emin
  if a > 0 and 2 ^ e > a then e = e - 1 end
  if a > 0 and 2 ^ (e + 1) <= a then e = e + 1 end
  if e < emin then e = emin end
  return math.abs(got - ref) / 2 ^ (e - bits + 1)
end

-- round a float64 to float32 (what a correctly rounded float32 reference is)
local f32box = ffi.new('float[1]')
local function f32(v) f32box[0] = v; return f32box[0] end

local function worst(x, y, ref, bits, emin)
  local xs, ys = values(x), values(y)
  local w, at = 0, nil
  for i = 1, #xs do
    local r = ref(xs[i])
    if bits == 24 and math.abs(r) > FLT_MAX and math.abs(f32(r)) == inf then r = r > 0 and inf or -inf end
    local u = ulps(ys[i], r, bits, emin)
    if u > w then w, at = u, xs[i] end
  end
  return w, at
end

local function sigmoid_ref(v)
  if v >= 0 then return 1 / (1 + math.exp(-v)) end
  local e = math.exp(v)
  return e / (1 + e)
end
pcall(ffi.cdef, 'double tanh(double);')
local function tanh_ref(v) return ffi.C.tanh(v) end   -- glibc's, within 1 ulp of float64

local N = 300000   -- above the OpenMP threshold, so 2 threads split it
local sweeps = {
  {'exp', 'float32', -104, 89, math.exp, 2},
  {'sigmoid', 'float32', -105, 20, sigmoid_ref, 3},
  {'tanh', 'float32', -10, 10, tanh_ref, 2},
  {'log', 'float32', 1e-6, 1e6, math.log, 2},
  {'exp', 'float64', -745, 709.7, math.exp, 2},
  {'sigmoid', 'float64', -745, 40, sigmoid_ref, 3},
  {'tanh', 'float64', -3, 3, tanh_ref, 3},
  {'log', 'float64', 1e-300, 1e300, math.log, 2},
}

describe("simd math", function()
  local saved
  before_each(function() saved = ag.get_num_threads() end)
  after_each(function() ag.set_num_threads(saved) end)

  for _, s in ipairs(sweeps) do
    local op, dtype, lo, hi, ref, maxu = s[1], s[2], s[3], s[4], s[5], s[6]
    it(op .. " on " .. dtype .. " stays within " .. maxu .. " ulp of a float64 reference over a dense sweep, on 1 and 2 threads", function()
      local bits, emin = dtype == 'float32' and 24 or 53, dtype == 'float32' and -126 or -1022
      local x
      if op == 'log' then   -- geometric sweep, then also the mantissa range of one binade
        x = filled(N, dtype, function(i)
          if i < N / 2 then return lo * (hi / lo) ^ (i / (N / 2)) end
          return 0.5 + 1.5 * (i - N / 2) / (N / 2)
        end)
      else
        x = filled(N, dtype, function(i) return lo + (hi - lo) * i / (N - 1) end)
      end
      for _, th in ipairs({1, 2}) do
        ag.set_num_threads(th)
        local w, at = worst(x, x[op](x), ref, bits, emin)
        assert.is_true(w <= maxu, string.format("%s %s on %d threads: %.3f ulp at x = %.9g", op, dtype, th, w, at or 0))
      end
    end)
  end

  it("float32 tanh keeps tiny inputs and -0 exactly and is within 2 ulp near the 0.625 switch", function()
    local x = ag.tensor({-0.0, 0.0, 1e-30, -1e-30, 1e-6, 0.6249999, 0.625, 0.6250001, -0.625, 0.62})
    local y = values(x:tanh())
    assert.are.equal(-inf, 1 / y[1])
    assert.are.equal(inf, 1 / y[2])
    assert.are.equal(f32(1e-30), y[3])
    assert.are.equal(f32(-1e-30), y[4])
    local xs = values(x)
    for i = 5, #xs do assert.is_true(ulps(y[i], tanh_ref(xs[i]), 24, -126) <= 2, "tanh at " .. xs[i]) end
  end)

  it("float32 tanh saturates to +-1 and keeps inf and NaN", function()
    local y = values(ag.tensor({10, -10, 1000, -1000, inf, -inf, nan}):tanh())
    assert.are.same({1, -1, 1, -1, 1, -1}, {y[1], y[2], y[3], y[4], y[5], y[6]})
    assert.is_true(y[7] ~= y[7])
  end)

  it("float32 exp: inf, -inf, NaN, -0 and the overflow threshold", function()
    local x = ag.tensor({-inf, inf, nan, -0.0, 0, 1, 88.72283172607422, 88.72283935546875, 100, -1000})
    local y = values(x:exp())
    assert.are.equal(0, y[1])
    assert.are.equal(inf, y[2])
    assert.is_true(y[3] ~= y[3])
    assert.are.equal(1, y[4])
    assert.are.equal(1, y[5])
    assert.are.equal(f32(math.exp(1)), y[6])
    -- the largest float32 whose exp is finite, and the next one up
    assert.is_true(y[7] < inf and ulps(y[7], math.exp(88.72283172607422), 24, -126) <= 2)
    assert.are.equal(inf, y[8])
    assert.are.equal(inf, y[9])
    assert.are.equal(0, y[10])
  end)

  it("float32 exp rounds into the denormals and underflows to 0 below them", function()
    local xs = {-87.33654, -87.4, -90, -95, -100, -103, -103.9, -103.97, -103.98, -104, -110}
    local y = values(ag.tensor(xs):exp())
    local x32 = values(ag.tensor(xs))
    for i = 1, #xs do
      local r = math.exp(x32[i])
      assert.is_true(ulps(y[i], r, 24, -126) <= 1, string.format("exp(%.9g) = %.9g, want %.9g", x32[i], y[i], r))
    end
    assert.is_true(y[3] > 0 and y[3] < FLT_MIN)               -- exp(-90) is a denormal
    assert.are.equal(DENORM_MIN, values(ag.tensor({-103.5}):exp())[1])
    assert.are.equal(0, y[11])
  end)

  it("float32 sigmoid is stable for +-1000, inf and NaN, and keeps tiny values for large negative x", function()
    local y = values(ag.tensor({1000, -1000, inf, -inf, nan, 0, 30, -30, -100}):sigmoid())
    assert.are.same({1, 0, 1, 0}, {y[1], y[2], y[3], y[4]})
    assert.is_true(y[5] ~= y[5])
    assert.are.equal(0.5, y[6])
    assert.are.equal(1, y[7])
    assert.is_true(ulps(y[8], sigmoid_ref(-30), 24, -126) <= 2)
    assert.is_true(ulps(y[9], sigmoid_ref(-100), 24, -126) <= 1)  -- about 3.7e-44, a denormal
    assert.is_true(y[9] > 0)
  end)

  it("float32 log: 0, -0, negatives, inf, NaN, denormals and the extremes", function()
    local xs = {0, -0.0, -1, -inf, inf, nan, 1, DENORM_MIN, 1e-40, FLT_MIN, FLT_MAX, 0.70710677, 0.70710671, 2}
    local y = values(ag.tensor(xs):log())
    assert.are.equal(-inf, y[1])
    assert.are.equal(-inf, y[2])
    assert.is_true(y[3] ~= y[3])
    assert.is_true(y[4] ~= y[4])
    assert.are.equal(inf, y[5])
    assert.is_true(y[6] ~= y[6])
    assert.are.equal(0, y[7])
    local x32 = values(ag.tensor(xs))
    for i = 8, #xs do
      assert.is_true(ulps(y[i], math.log(x32[i]), 24, -126) <= 1, string.format("log(%.9g) = %.9g", x32[i], y[i]))
    end
  end)

  it("float64 exp and sigmoid: thresholds, denormals, inf and NaN", function()
    local xs = {709.782712893384, 709.79, -708.4, -745.13, -745.2, -inf, inf, nan, -0.0, 1e-300, 1000, -1000}
    local x = ag.tensor(xs, {dtype = 'float64'})
    local y = values(x:exp())
    assert.is_true(y[1] < inf and ulps(y[1], math.exp(xs[1]), 53, -1022) <= 2)
    assert.are.equal(inf, y[2])
    assert.is_true(ulps(y[3], math.exp(xs[3]), 53, -1022) <= 2)
    assert.are.equal(4.9406564584124654e-324, y[4])
    assert.are.same({0, 0, inf}, {y[5], y[6], y[7]})
    assert.is_true(y[8] ~= y[8])
    assert.are.same({1, 1, inf, 0}, {y[9], y[10], y[11], y[12]})
    local s = values(x:sigmoid())
    assert.are.same({1, 0, 1, 0.5, 1, 0}, {s[7], s[6], s[1], s[9], s[11], s[12]})
    assert.is_true(s[8] ~= s[8])
    assert.is_true(s[4] > 0 and s[4] < 1e-320)
  end)

  it("float64 tanh and log: -0, tiny, saturation, the 0.625 switch, zeros, negatives, denormals", function()
    local t = values(ag.tensor({-0.0, 1e-300, -1e-300, 0.625, 0.62499999999999989, 20, -400, inf, -inf, nan}, {dtype = 'float64'}):tanh())
    assert.are.equal(-inf, 1 / t[1])
    assert.are.same({1e-300, -1e-300}, {t[2], t[3]})
    assert.is_true(ulps(t[4], tanh_ref(0.625), 53, -1022) <= 2)
    assert.is_true(ulps(t[5], tanh_ref(0.62499999999999989), 53, -1022) <= 2)
    assert.are.same({1, -1, 1, -1}, {t[6], t[7], t[8], t[9]})
    assert.is_true(t[10] ~= t[10])
    local xs = {0, -0.0, -1, -inf, inf, nan, 1, 4.9406564584124654e-324, 1e-310, 2.2250738585072014e-308, 1.7976931348623157e308, 0.70710678118654757, 2}
    local l = values(ag.tensor(xs, {dtype = 'float64'}):log())
    assert.are.same({-inf, -inf}, {l[1], l[2]})
    assert.is_true(l[3] ~= l[3] and l[4] ~= l[4] and l[6] ~= l[6])
    assert.are.same({inf, 0}, {l[5], l[7]})
    for i = 8, #xs do assert.is_true(ulps(l[i], math.log(xs[i]), 53, -1022) <= 2, "log " .. xs[i]) end
  end)

  it("strided and in-place forms give the contiguous answer", function()
    for _, op in ipairs({'exp', 'sigmoid', 'tanh', 'log'}) do
      for _, dtype in ipairs({'float32', 'float64'}) do
        local x = filled(40000, dtype, function(i) return 0.001 + (i % 997) * 0.01 end):view(200, 200)
        local want = values(x[op](x))
        local strided = x:t()[op](x:t()):t()
        local got = values(strided)
        local inplace = x:clone()
        inplace[op .. '_'](inplace)
        local got2 = values(inplace)
        for i = 1, #want, 97 do
          local ulp_of = dtype == 'float32' and 2 ^ -23 or 2 ^ -52
          assert.is_true(math.abs(got[i] - want[i]) <= 2 * ulp_of * math.abs(want[i]), op .. ' ' .. dtype .. ' strided')
          assert.are.equal(want[i], got2[i], op .. ' ' .. dtype .. ' in place')
        end
      end
    end
  end)
end)
