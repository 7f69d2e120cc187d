-- nn_functional_activation_spec.lua: the composed activations of ag.F (celu, softsign,
-- hardsigmoid, hardswish, tanhshrink, softshrink, hardshrink, threshold): values against
-- PyTorch 1.13 and float64 gradchecks away from the kinks, and through their nn modules.
local ag = require 'ag'
local F = ag.nn.functional

local X = {-3.5, -1.0, -0.2, 0.3, 1.5, 4.0}
-- torch.nn.functional.<op>(torch.tensor(X, dtype=torch.float64), ...).tolist()
local EXPECTED = {
  celu = {-0.9698026165776815, -0.6321205588285577, -0.18126924692201818, 0.3, 1.5, 4.0},
  softsign = {-0.7777777777777778, -0.5, -0.16666666666666669, 0.23076923076923075, 0.6, 0.8},
  hardsigmoid = {0.0, 0.3333333333333333, 0.4666666666666666, 0.5499999999999999, 0.75, 1.0},
  hardswish = {-0.0, -0.3333333333333333, -0.09333333333333332, 0.16499999999999998, 1.125, 4.0},
  tanhshrink = {-2.501822102388801, -0.23840584404423515, -0.002624679775096006, 0.008687387548409087, 0.5948517463551336, 3.000670700260933},
  softshrink = {-3.0, -0.5, 0.0, 0.0, 1.0, 3.5},
  hardshrink = {-3.5, -1.0, 0.0, 0.0, 1.5, 4.0},
  threshold = {7.0, 7.0, 7.0, 0.3, 1.5, 4.0},
}
local CALL = {
  threshold = function(x) return F.threshold(x, 0.25, 7) end,
}

describe("ag.F composed activations", function()
  for name, want in pairs(EXPECTED) do
    it(name .. " matches PyTorch and passes gradcheck", function()
      local f = CALL[name] or F[name]
      local got = f(ag.tensor(X, {dtype = 'float64'})):totable()
      for i = 1, #want do assert.is_true(math.abs(got[i] - want[i]) < 1e-12, name .. ' ' .. i) end
      local x = ag.tensor({-2.7, -0.8, 0.6, 2.2}, {dtype = 'float64', requires_grad = true})
      assert.is_true(ag.autograd.gradcheck(f, {x}))
    end)
  end

  it("work through their modules", function()
    local m = ag.nn.Softshrink(1.0)
    assert.are.same({-2.5, 0, 0, 3}, m(ag.tensor({-3.5, 0.5, -0.5, 4.0}, {dtype = 'float64'})):totable())
    assert.are.same({0, 1}, ag.nn.Hardsigmoid()(ag.tensor({-4.0, 4.0})):totable())
  end)

  it("reject a bad parameter", function()
    local ok, err = pcall(F.softshrink, ag.zeros(2), -1)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("ag.softshrink: lambd must be >= 0", 1, true))
  end)
end)
