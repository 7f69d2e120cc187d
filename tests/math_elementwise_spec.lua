-- math_elementwise_spec.lua: the ternary elementwise ops of the math family: addcmul,
-- addcdiv (value =) and lerp (tensor or number weight), as ag.<op> and methods, with
-- in-place forms: values and gradients against PyTorch 1.13, broadcasting, dtypes,
-- gradcheck/gradgradcheck and errors.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function leaf(t) return ag.tensor(t, {dtype = 'float64', requires_grad = true}) end
local function inputs()
  return leaf({{1.5, -2.0, 0.5}, {3.0, 0.25, -1.0}}), leaf({0.5, 4.0, -2.0}), leaf({{2.0}, {-0.5}})
end
local w = ag.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = 'float64'})

-- PyTorch 1.13 on the same inputs; gradients of sum(out * w) for a, b, c
describe("addcmul and addcdiv", function()
  it("addcmul = a + value * t1 * t2, broadcast, with PyTorch's values, gradients and node", function()
    local a, b, c = inputs()
    local y = ag.addcmul(a, b, c, {value = 0.5})
    U.close(y, {{2.0, 2.0, -1.5}, {2.875, -0.75, -0.5}}, 1e-14)
    assert.are.equal('<AddcmulBackward0>', tostring(y.grad_fn))
    local loss = (y * w):sum(); loss:backward()
    U.close(a.grad, {{1, 2, 3}, {4, 5, 6}}, 1e-14)
    U.close(b.grad, {0.0, 0.75, 1.5}, 1e-14)
    U.close(c.grad, {{1.25}, {5.0}}, 1e-14)
  end)

  it("addcdiv = a + value * t1 / t2, with PyTorch's values, gradients and node", function()
    local a, b, c = inputs()
    local y = a:addcdiv(b, c, {value = -2})
    U.close(y, {{1.0, -6.0, 2.5}, {5.0, 16.25, -9.0}}, 1e-14)
    assert.are.equal('<AddcdivBackward0>', tostring(y.grad_fn))
    local loss = (y * w):sum(); loss:backward()
    U.close(b.grad, {15.0, 18.0, 21.0}, 1e-14)
    U.close(c.grad, {{1.25}, {80.0}}, 1e-14)
  end)

  it("take value positionally, default to 1, and keep integer dtypes for addcmul", function()
    local one = ag.ones(2)
    U.close(ag.addcmul(one, ag.tensor({2.0, 3.0}), ag.tensor({4.0, 5.0}), 3), {25, 46})
    U.close(ag.addcdiv(one, ag.tensor({2.0, 3.0}), ag.tensor({4.0, 5.0})), {1.5, 1.6})
    local function long(t) return ag.tensor(t, {dtype = 'int64'}) end
    local r = ag.addcmul(long({1, 2}), long({3, 4}), long({5, 6}), {value = 2})
    assert.are.equal('int64', r.dtype)
    U.same(r, {31, 50})
    assert.are.equal('float64', ag.addcmul(ag.ones(2), ag.ones(2):double(), ag.ones(2)).dtype)
  end)

  it("have in-place forms that bump the version", function()
    local a = ag.tensor({1.0, 2.0})
    local v = a.version
    assert.are.equal(a, a:addcmul_(ag.tensor({2.0, 2.0}), ag.tensor({3.0, 0.5}), {value = 2}))
    U.close(a, {13, 4})
    a:addcdiv_(ag.tensor({1.0, 1.0}), ag.tensor({2.0, 4.0}))
    U.close(a, {13.5, 4.25})
    assert.is_true(a.version > v)
  end)

  it("pass gradcheck and gradgradcheck (broadcast and transposed inputs)", function()
    local f = function(a, b, c) return ag.addcmul(a, b, c, {value = -1.5}) end
    local g = function(a, b, c) return ag.addcdiv(a:t(), b, c, {value = 0.7}) end
    assert.is_true(gradcheck(f, {inputs()}))
    assert.is_true(gradgradcheck(f, {inputs()}))
    local c2 = leaf({{2.0, 1.5}, {-0.5, 3.0}, {1.25, -2.0}})
    assert.is_true(gradcheck(g, {leaf({{1, 2, 3}, {4, 5, 6}}), leaf({0.5, 4.0}), c2}))
    assert.is_true(gradgradcheck(g, {leaf({{1, 2, 3}, {4, 5, 6}}), leaf({0.5, 4.0}), c2}))
  end)

  it("raise clear errors", function()
    U.raises(function() ag.addcmul(ag.ones(2, 3), ag.ones(4), ag.ones(3)) end, 'ag.addcmul', '[4]')
    local one = ag.ones(1, {dtype = 'int64'})
    U.raises(function() ag.addcdiv(one, one, one) end,
             'ag.addcdiv: integer division is not supported')
    U.raises(function() ag.addcmul(ag.ones(2), ag.ones(2), 3) end, 'ag.addcmul: expected a Tensor as argument 3')
    U.raises(function() ag.addcmul(ag.ones(2), ag.ones(2), ag.ones(2), 'x') end, 'ag.addcmul: value must be a number')
  end)
end)

describe("lerp", function()
  it("with a tensor weight: PyTorch's values, gradients for start, end and weight, LerpBackward1", function()
    local a, b, c = inputs()
    local y = ag.lerp(a, b, c * 0.3)
    U.close(y, {{0.9, 1.6, -1.0}, {3.375, -0.3125, -0.85}}, 1e-14)
    assert.are.equal('<LerpBackward1>', tostring(y.grad_fn))
    local loss = (y * w):sum(); loss:backward()
    U.close(a.grad, {{0.4, 0.8, 1.2}, {4.6, 5.75, 6.9}}, 1e-14)
    U.close(b.grad, {0.0, 0.45, 0.9}, 1e-14)
    U.close(c.grad, {{1.05}, {0.825}}, 1e-14)
  end)

  it("with a number weight: PyTorch's values and gradients, LerpBackward0", function()
    local a, b = inputs()
    local y = a:lerp(b, 0.75)
    U.close(y, {{0.75, 2.5, -1.375}, {1.125, 3.0625, -1.75}}, 1e-14)
    assert.are.equal('<LerpBackward0>', tostring(y.grad_fn))
    local loss = (y * w):sum(); loss:backward()
    U.close(a.grad, {{0.25, 0.5, 0.75}, {1.0, 1.25, 1.5}}, 1e-14)
    U.close(b.grad, {3.75, 5.25, 6.75}, 1e-14)
  end)

  it("is exact at weight 0 and 1, and extrapolates outside [0, 1]", function()
    local s, e = ag.tensor({1.0, 2.0}), ag.tensor({3.0, 4.0})
    U.same(ag.lerp(s, e, ag.tensor({0.0, 1.0})), {1, 4})
    U.same(ag.lerp(s, e, 2), {5, 6})
    U.same(ag.lerp(s, e, -1), {-1, 0})
    local a = ag.tensor({0.0, 10.0})
    a:lerp_(ag.tensor({10.0, 0.0}), 0.5)
    U.same(a, {5, 5})
  end)

  it("passes gradcheck and gradgradcheck", function()
    local a, b, c = inputs()
    assert.is_true(gradcheck(function(x, y, z) return ag.lerp(x, y, z) end, {a, b, c}))
    assert.is_true(gradgradcheck(function(x, y, z) return ag.lerp(x, y, z) end, {inputs()}))
    assert.is_true(gradcheck(function(x, y) return ag.lerp(x, y, 0.3) end, {a, b}))
    assert.is_true(gradgradcheck(function(x, y) return ag.lerp(x, y, -0.3) end, {a, b}))
  end)

  it("raises clear errors", function()
    U.raises(function() ag.lerp(ag.ones(1, {dtype = 'int32'}), ag.ones(1, {dtype = 'int32'}), 0.5) end, 'ag.lerp: expected floating-point tensors')
    U.raises(function() ag.lerp(ag.ones(2), ag.ones(3), 0.5) end, 'ag.lerp', '[2]', '[3]')
    U.raises(function() ag.lerp(ag.ones(2), ag.ones(2), 'half') end, 'ag.lerp: weight must be a number or a Tensor')
  end)
end)
