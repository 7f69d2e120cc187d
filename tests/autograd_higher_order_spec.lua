-- autograd_higher_order_spec.lua: gradients of gradients with create_graph, checked
-- against analytic derivatives, and a Hessian-vector product of a small MLP.
local ag = require 'ag'

local function d64(v) return ag.tensor(v, {dtype = 'float64', requires_grad = true}) end
local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-10) * math.max(1, math.abs(b)) end

describe("higher-order gradients", function()
  it("d2/dx2 of x^3 is 6x", function()
    local x = d64({1.5, -2.0})
    local g = ag.autograd.grad((x ^ 3):sum(), x, {create_graph = true})
    assert.is_true(g.requires_grad)
    local h = ag.autograd.grad(g:sum(), x)
    assert.are.same({9, -12}, h:totable())
  end)

  it("d2/dx2 of tanh is -2 tanh (1 - tanh^2)", function()
    local x = d64({0.3, -1.1})
    local g = ag.autograd.grad(x:tanh():sum(), x, {create_graph = true})
    local h = ag.autograd.grad(g:sum(), x)
    for i, v in ipairs({0.3, -1.1}) do
      local t = math.tanh(v)
      assert.is_true(close(h[i]:item(), -2 * t * (1 - t * t)))
    end
  end)

  it("d2/dx2 of exp(x) sin(x) is 2 exp(x) cos(x)", function()
    local x = d64({0.7, 2.0})
    local g = ag.autograd.grad((x:exp() * x:sin()):sum(), x, {create_graph = true})
    local h = ag.autograd.grad(g:sum(), x)
    for i, v in ipairs({0.7, 2.0}) do
      assert.is_true(close(h[i]:item(), 2 * math.exp(v) * math.cos(v)))
    end
  end)

  it("third derivatives work too", function()
    local x = d64({2.0})
    local g1 = ag.autograd.grad((x ^ 4):sum(), x, {create_graph = true})
    local g2 = ag.autograd.grad(g1:sum(), x, {create_graph = true})
    local g3 = ag.autograd.grad(g2:sum(), x)
    assert.are.same({48}, g3:totable())   -- 24 x
  end)

  it("computes a Hessian-vector product of a small MLP", function()
    -- f(w) = sum(tanh(X W1) W2); Hv via grad of (grad f . v), checked against finite differences of grad f
    ag.manual_seed(3)
    local X = ag.randn(4, 3, {dtype = 'float64'})
    local W1 = ag.randn(3, 5, {dtype = 'float64', requires_grad = true})
    local W2 = ag.randn(5, 1, {dtype = 'float64', requires_grad = true})
    local V = ag.randn(3, 5, {dtype = 'float64'})
    local function f(w1) return (X:mm(w1):tanh():mm(W2)):sum() end
    local g = ag.autograd.grad(f(W1), W1, {create_graph = true})
    local hv = ag.autograd.grad((g * V):sum(), W1)
    local eps = 1e-6
    local function grad_at(w)
      local leafw = w:detach():requires_grad_()
      return ag.autograd.grad(f(leafw), leafw)
    end
    local fd = (grad_at(W1 + V * eps) - grad_at(W1 - V * eps)) / (2 * eps)
    local err = (hv - fd):abs():max():item()
    assert.is_true(err < 1e-6, "max error " .. err)
  end)

  it("leaves no reference cycle behind with create_graph", function()
    collectgarbage('collect')
    local before = ag.memory_allocated()
    for _ = 1, 200 do
      local x = d64({1.0, 2.0, 3.0})
      local g = ag.autograd.grad((x * x * x):sum(), x, {create_graph = true})
      g:sum():backward()
    end
    collectgarbage('collect')
    collectgarbage('collect')
    assert.are.equal(before, ag.memory_allocated())
  end)
end)
