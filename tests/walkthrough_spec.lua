-- walkthrough_spec.lua: PyTorch's autograd walkthrough, line by line, in ag.
local ag = require 'ag'

describe("the autograd walkthrough", function()
  it("records AddBackward0 and prints like PyTorch", function()
    local x = ag.tensor({2.0, 3.0}, {requires_grad = true})
    local y = ag.tensor({4.0, 5.0}, {requires_grad = true})
    local a = ag.tensor({1.0, 1.0})
    local z = x + y
    assert.are.equal("tensor([6., 8.], grad_fn=<AddBackward0>)", tostring(z))
    assert.are.equal("<AddBackward0>", tostring(z.grad_fn))
    assert.is_true(x.is_leaf and not z.is_leaf and z.requires_grad and not a.requires_grad)
    z:sum():backward()
    assert.are.equal("tensor([1., 1.])", tostring(x.grad))
    assert.are.equal("tensor([1., 1.])", tostring(y.grad))
  end)
end)
