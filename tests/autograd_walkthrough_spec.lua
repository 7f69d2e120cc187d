-- autograd_walkthrough_spec.lua: PyTorch's autograd walkthrough, step by step, with the
-- printed strings and error texts compared to PyTorch's.
local ag = require 'ag'

describe("the autograd walkthrough", function()
  local x, y, a, z
  before_each(function()
    x = ag.tensor({2.0, 3.0}, {requires_grad = true})
    y = ag.tensor({4.0, 5.0}, {requires_grad = true})
    a = ag.tensor({1.0, 1.0})
    z = x + y
  end)

  it("prints the result with its grad_fn", function()
    assert.are.equal("tensor([6., 8.], grad_fn=<AddBackward0>)", tostring(z))
    assert.are.equal("<AddBackward0>", tostring(z.grad_fn))
    assert.are.equal("AddBackward0", z.grad_fn:name())
  end)

  it("tells leaves from results", function()
    assert.is_true(x.is_leaf)
    assert.is_false(z.is_leaf)
    assert.is_true(z.requires_grad)
    assert.is_false(a.requires_grad)
    assert.are.equal("tensor([2., 3.], requires_grad=True)", tostring(x))
  end)

  it("backpropagates a sum to both leaves", function()
    z:sum():backward()
    assert.are.equal("tensor([1., 1.])", tostring(x.grad))
    assert.are.equal("tensor([1., 1.])", tostring(y.grad))
  end)

  it("accumulates gradients across backward calls", function()
    z:sum():backward()
    ;(x + y):sum():backward()
    assert.are.same({2, 2}, x.grad:totable())
  end)

  it("takes an explicit gradient for a non-scalar output", function()
    local z2 = x * y
    z2:backward(ag.ones_like(z2))
    assert.are.same({4, 5}, x.grad:totable())
    assert.are.same({2, 3}, y.grad:totable())
  end)

  it("refuses an implicit gradient for a non-scalar output", function()
    local ok, err = pcall(function() (x * y):backward() end)
    assert.is_false(ok)
    assert.truthy(err:find("grad can be implicitly created only for scalar outputs", 1, true))
  end)

  it("cuts history with detach", function()
    local w = ag.tensor({2.0}, {requires_grad = true})
    local v = (w * 2):detach() * 3
    assert.is_false(v.requires_grad)
    assert.is_nil(v.grad_fn)
    local ok, err = pcall(function() v:backward() end)
    assert.is_false(ok)
    assert.truthy(err:find("element 0 of tensors does not require grad and does not have a grad_fn", 1, true))
  end)

  it("records nothing under no_grad and returns fn's results", function()
    local o, n = ag.no_grad(function() return x * 2, 7 end)
    assert.is_false(o.requires_grad)
    assert.are.equal(7, n)
    assert.is_true(ag.is_grad_enabled())
  end)

  it("turns requires_grad off on leaves", function()
    for _, p in ipairs({x, y}) do p:requires_grad_(false) end
    assert.is_false(x.requires_grad)
    assert.is_false((x + y).requires_grad)
  end)

  it("shares storage and version between a tensor and its detach()", function()
    local d = x:detach()
    ag.no_grad(function() x:add_(1) end)
    assert.are.same({3, 4}, d:totable())
    assert.are.equal(x.version, d.version)
  end)
end)
