-- autograd_gradcheck_spec.lua: a float64 gradcheck (central differences) for every
-- differentiable op of the tensor core, including broadcast and non-contiguous inputs,
-- negative dims and keepdim; and gradgradcheck for the core ops.
local ag = require 'ag'
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function leaf(t) return t:double():requires_grad_() end
local function randn(...) return leaf(ag.randn(...)) end
local function positive(...) return leaf(ag.rand(...) + 0.5) end

local cases = {
  {"add (broadcast)", function(a, b) return a + b end, function() return {randn(2, 3), randn(3)} end},
  {"sub (broadcast)", function(a, b) return a - b end, function() return {randn(2, 1), randn(1, 3)} end},
  {"mul (broadcast)", function(a, b) return a * b end, function() return {randn(2, 3), randn(2, 1)} end},
  {"div", function(a, b) return a / b end, function() return {randn(2, 3), positive(2, 3)} end},
  {"number ops", function(a) return (2 - a) * 3 + a / 4 - 1 end, function() return {randn(4)} end},
  {"number / tensor", function(a) return 2 / a end, function() return {positive(4)} end},
  {"pow tensor^number", function(a) return a ^ 3 end, function() return {randn(5)} end},
  {"pow tensor^tensor", function(a, b) return a ^ b end, function() return {positive(3), randn(3)} end},
  {"pow number^tensor", function(a) return ag.pow(2, a) end, function() return {randn(3)} end},
  {"neg", function(a) return -a end, function() return {randn(3)} end},
  {"exp", function(a) return a:exp() end, function() return {randn(3)} end},
  {"log", function(a) return a:log() end, function() return {positive(3)} end},
  {"sqrt", function(a) return a:sqrt() end, function() return {positive(3)} end},
  {"tanh", function(a) return a:tanh() end, function() return {randn(3)} end},
  {"sigmoid", function(a) return a:sigmoid() end, function() return {randn(3)} end},
  {"relu", function(a) return a:relu() end, function() return {leaf(ag.tensor({-1.5, -0.3, 0.4, 2.0}))} end},
  {"abs", function(a) return a:abs() end, function() return {leaf(ag.tensor({-1.5, -0.3, 0.4, 2.0}))} end},
  {"sin", function(a) return a:sin() end, function() return {randn(3)} end},
  {"cos", function(a) return a:cos() end, function() return {randn(3)} end},
  {"clamp", function(a) return a:clamp(-0.5, 0.5) end, function() return {leaf(ag.tensor({-1.0, -0.2, 0.3, 0.9}))} end},
  {"where", function(a, b) return ag.where(a:gt(0), a, b) end, function() return {randn(2, 3), randn(3)} end},
  {"maximum/minimum", function(a, b) return ag.maximum(a, b) + ag.minimum(a, b) * 2 end, function() return {randn(4), randn(4)} end},
  {"sum all", function(a) return a:sum() end, function() return {randn(2, 3)} end},
  {"sum dim -1 keepdim", function(a) return a:sum(-1, true) end, function() return {randn(2, 3)} end},
  {"sum dims {1,3}", function(a) return a:sum({1, 3}) end, function() return {randn(2, 3, 2)} end},
  {"mean dim 1", function(a) return a:mean(1) end, function() return {randn(3, 2)} end},
  {"prod all", function(a) return a:prod() end, function() return {randn(4)} end},
  {"prod dim with a zero", function(a) return a:prod(2) end, function() return {leaf(ag.tensor({{1.5, 0.0, 2.0}, {0.5, -1.0, 3.0}}))} end},
  {"max all", function(a) return a:max() end, function() return {leaf(ag.tensor({{1.0, 5.0}, {3.0, 2.0}}))} end},
  {"max dim", function(a) return (a:max(2)) end, function() return {leaf(ag.tensor({{1.0, 5.0, 0.0}, {3.0, 2.0, 4.0}}))} end},
  {"min dim keepdim", function(a) return (a:min(1, true)) end, function() return {leaf(ag.tensor({{1.0, 5.0}, {3.0, 2.0}}))} end},
  {"amax", function(a) return a:amax(-1) end, function() return {leaf(ag.tensor({{1.0, 5.0, 0.0}, {3.0, 2.0, 4.0}}))} end},
  {"var", function(a) return a:var() end, function() return {randn(5)} end},
  {"var dim 2", function(a) return a:var(2) end, function() return {randn(3, 4)} end},
  {"std dim 1 keepdim", function(a) return a:std(1, {keepdim = true}) end, function() return {randn(4, 2)} end},
  {"std biased", function(a) return a:std(nil, {correction = 0}) end, function() return {randn(6)} end},
  {"mm", function(a, b) return a:mm(b) end, function() return {randn(2, 3), randn(3, 4)} end},
  {"mm transposed input", function(a, b) return a:t():mm(b) end, function() return {randn(3, 2), randn(3, 4)} end},
  {"bmm", function(a, b) return a:bmm(b) end, function() return {randn(2, 2, 3), randn(2, 3, 2)} end},
  {"matmul 1d.1d", function(a, b) return a:matmul(b) end, function() return {randn(3), randn(3)} end},
  {"matmul 2d.1d", function(a, b) return a:matmul(b) end, function() return {randn(2, 3), randn(3)} end},
  {"matmul 1d.2d", function(a, b) return a:matmul(b) end, function() return {randn(3), randn(3, 2)} end},
  {"matmul batched broadcast", function(a, b) return a:matmul(b) end, function() return {randn(2, 1, 2, 3), randn(3, 3, 2)} end},
  {"view/reshape", function(a) return a:view(3, 2):reshape(6) * 2 end, function() return {randn(2, 3)} end},
  {"reshape of a transpose", function(a) return a:t():reshape(6) end, function() return {randn(2, 3)} end},
  {"transpose/permute", function(a) return a:transpose(1, 3):permute(2, 3, 1) end, function() return {randn(2, 3, 2)} end},
  {"t", function(a) return a:t() * 2 end, function() return {randn(2, 3)} end},
  {"narrow negative start", function(a) return a:narrow(-1, -2, 2) end, function() return {randn(2, 4)} end},
  {"select and t[i]", function(a) return a:select(2, 2) + a[1] end, function() return {randn(2, 2)} end},
  {"squeeze/unsqueeze", function(a) return a:unsqueeze(1):squeeze(2):squeeze() end, function() return {randn(3, 1)} end},
  {"expand", function(a) return a:expand(3, 2, 4) end, function() return {randn(2, 1)} end},
  {"flatten", function(a) return a:flatten(2) end, function() return {randn(2, 2, 2)} end},
  {"contiguous/clone", function(a) return a:t():contiguous():clone() end, function() return {randn(2, 3)} end},
  {"expanded input", function(a) local e = a:expand(2, 3) return (e * e):sum(1) end, function() return {randn(1, 3)} end},
  {"sliced input", function(a) return a:exp() end, function() return {randn(4, 4):narrow(2, 2, 2)} end},
  {"size-1 and empty dims", function(a, b) return (a * 2):sum() + b:sum() end, function() return {randn(1, 3), randn(0, 2)} end},
}

describe("gradcheck", function()
  for _, case in ipairs(cases) do
    it("passes for " .. case[1], function()
      ag.manual_seed(7)
      assert.is_true(gradcheck(case[2], case[3]()))
    end)
  end

  it("passes for a float32 round trip with a float32-sized step", function()
    assert.is_true(gradcheck(function(a) return a:float():double() * 3 end, {leaf(ag.tensor({0.5, 0.25}))},
                             {eps = 1e-2, atol = 1e-3}))
  end)

  it("raises with the element and both values when a gradient is wrong", function()
    local Bad = ag.autograd.Function:extend('Bad')
    function Bad.forward(ctx, x) return x * 2 end
    function Bad.backward(ctx, g) return g * 3 end
    local ok, err = pcall(gradcheck, function(x) return Bad.apply(x) end, {leaf(ag.tensor({1.0}))})
    assert.is_false(ok)
    assert.truthy(err:find("numerical: 2", 1, true))
    assert.truthy(err:find("analytical: 3", 1, true))
    assert.truthy(err:find("element 1", 1, true))
  end)
end)

local second = {"add (broadcast)", "mul (broadcast)", "div", "pow tensor^tensor", "exp", "log", "tanh",
                "sigmoid", "sin", "sum dim -1 keepdim", "mean dim 1", "prod all", "prod dim with a zero",
                "var dim 2", "std dim 1 keepdim",
                "mm", "bmm", "matmul batched broadcast", "max dim", "narrow negative start", "where"}
describe("gradgradcheck", function()
  local by_name = {}
  for _, c in ipairs(cases) do by_name[c[1]] = c end
  for _, name in ipairs(second) do
    it("passes for " .. name, function()
      ag.manual_seed(11)
      local c = by_name[name]
      assert.is_true(gradgradcheck(c[2], c[3]()))
    end)
  end
end)

describe("gradgradcheck of prod where zeros are", function()
  it("passes with one zero, two zeros, and over several dims", function()
    local function d64(v) return ag.tensor(v, {dtype = 'float64', requires_grad = true}) end
    assert.is_true(gradgradcheck(function(x) return x:prod() end, {d64({1.5, 0, 2})}))
    assert.is_true(gradgradcheck(function(x) return x:prod(2) end, {d64({{1.5, 0, 2}, {0, 0, 3}, {1, 2, 3}})}))
    ag.manual_seed(2)
    assert.is_true(gradgradcheck(function(x) return x:prod({1, 3}, true) end, {randn(2, 3, 2)}))
  end)
end)
