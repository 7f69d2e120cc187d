-- autograd_function_spec.lua: custom differentiable ops written in Lua
-- (ag.autograd.Function), run by the C engine without C-to-Lua callbacks.
local ag = require 'ag'

describe("ag.autograd.Function", function()
  local MyExp = ag.autograd.Function:extend('MyExp')
  function MyExp.forward(ctx, x)
    local r = x:exp()
    ctx:save_for_backward(r)
    return r
  end
  function MyExp.backward(ctx, g)
    local r = unpack(ctx.saved_tensors)
    return g * r
  end

  it("records a node named after the Function and backpropagates", function()
    local x = ag.tensor({0.0, 1.0}, {requires_grad = true})
    local y = MyExp.apply(x)
    assert.are.equal("MyExpBackward", y.grad_fn:name())
    y:sum():backward()
    assert.are.equal(1, x.grad[1]:item())
    assert.is_true(math.abs(x.grad[2]:item() - math.exp(1)) < 1e-6)
  end)

  it("passes gradcheck and composes with built-in ops", function()
    local x = ag.tensor({0.2, -0.4}, {dtype = 'float64', requires_grad = true})
    assert.is_true(ag.autograd.gradcheck(function(t) return MyExp.apply(t * 2):sin() end, {x}))
  end)

  it("tells backward which inputs need a gradient and skips non-tensors", function()
    local Scale = ag.autograd.Function:extend('Scale')
    local seen
    function Scale.forward(ctx, a, k, b)
      seen = {ctx.needs_input_grad[1], ctx.needs_input_grad[2], ctx.needs_input_grad[3]}
      ctx.k = k
      ctx:save_for_backward(a, b)
      return a * b * k
    end
    function Scale.backward(ctx, g)
      local a, b = unpack(ctx.saved_tensors)
      return g * b * ctx.k, nil, g * a * ctx.k
    end
    local a = ag.tensor({2.0}, {requires_grad = true})
    local b = ag.tensor({3.0})
    local y = Scale.apply(a, 10, b)
    assert.are.same({true, false, false}, seen)
    y:sum():backward()
    assert.are.same({30}, a.grad:totable())
  end)

  it("marks outputs non-differentiable", function()
    local Sort = ag.autograd.Function:extend('TwoOut')
    function Sort.forward(ctx, x)
      local idx = x:argmax()
      ctx:mark_non_differentiable(idx)
      return x * 2, idx
    end
    function Sort.backward(ctx, g) return g * 2 end
    local x = ag.tensor({1.0, 5.0, 2.0}, {requires_grad = true})
    local y, i = Sort.apply(x)
    assert.is_true(y.requires_grad)
    assert.is_false(i.requires_grad)
    assert.are.equal(2, i:item())
    y:sum():backward()
    assert.are.same({2, 2, 2}, x.grad:totable())
  end)

  it("runs nothing extra when no input requires grad", function()
    local y = MyExp.apply(ag.tensor({0.0}))
    assert.is_nil(y.grad_fn)
    assert.is_false(y.requires_grad)
  end)

  it("raises the second-backward error for its saved tensors too", function()
    local x = ag.tensor({1.0}, {requires_grad = true})
    local y = MyExp.apply(x):sum()
    y:backward()
    local ok, err = pcall(function() y:backward() end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Trying to backward through the graph a second time", 1, true))
  end)

  it("reports a bad gradient shape from backward", function()
    local Bad = ag.autograd.Function:extend('BadShape')
    function Bad.forward(ctx, x) return x * 1 end
    function Bad.backward(ctx, g) return ag.ones(5) end
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local ok, err = pcall(function() Bad.apply(x):sum():backward() end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Function BadShapeBackward returned an invalid gradient at index 1", 1, true))
  end)
end)
