-- autograd_training_spec.lua: dynamic control flow, a hand-written SGD loop that learns,
-- memory that stays flat over many steps, and a million-op chain that neither overflows
-- the stack nor leaks.
local ag = require 'ag'

describe("dynamic graphs", function()
  it("differentiate a loop whose trip count depends on data", function()
    local x = ag.tensor({1.5}, {dtype = 'float64', requires_grad = true})
    local y, n = x, 0
    while y:item() < 100 do y = y * x; n = n + 1 end      -- y = x^(n+1)
    y:sum():backward()
    assert.are.equal(11, n)                                   -- 1.5^12 > 100 first
    assert.is_true(math.abs(x.grad:item() - 12 * 1.5 ^ 11) < 1e-9)
  end)

  it("differentiate recursion", function()
    local function power(t, k) if k == 0 then return t * 0 + 1 end return t * power(t, k - 1) end
    local x = ag.tensor({2.0}, {dtype = 'float64', requires_grad = true})
    power(x, 5):sum():backward()
    assert.are.same({80}, x.grad:totable())                  -- 5 x^4
  end)

  it("differentiate a branch chosen by a tensor's value", function()
    local function f(t) if t:sum():item() > 0 then return t * t else return -t * 3 end end
    local a = ag.tensor({2.0}, {requires_grad = true})
    local b = ag.tensor({-2.0}, {requires_grad = true})
    f(a):sum():backward()
    f(b):sum():backward()
    assert.are.same({4}, a.grad:totable())
    assert.are.same({-3}, b.grad:totable())
  end)
end)

describe("training by hand", function()
  it("a two-layer MLP trained with SGD under no_grad lowers its loss", function()
    ag.manual_seed(0)
    local X = ag.randn(64, 4)
    local Y = (X:narrow(2, 1, 1) * 2 - X:narrow(2, 2, 1)):tanh()     -- a smooth target
    local W1 = (ag.randn(4, 16) * 0.5):requires_grad_()
    local b1 = ag.zeros(16, {requires_grad = true})
    local W2 = (ag.randn(16, 1) * 0.5):requires_grad_()
    local params = {W1, b1, W2}
    local first, last
    for step = 1, 300 do
      local pred = (X:mm(W1) + b1):tanh():mm(W2)
      local loss = ((pred - Y) ^ 2):mean()
      if step == 1 then first = loss:item() end
      last = loss:item()
      for _, p in ipairs(params) do p.grad = nil end
      loss:backward()
      ag.no_grad(function()
        for _, p in ipairs(params) do p:sub_(p.grad * 0.1) end
      end)
    end
    assert.is_true(last < first * 0.2, string.format("loss went from %g to %g", first, last))
  end)

  it("keeps memory flat over 10,000 forward/backward/update steps", function()
    local W = ag.randn(32, 32):requires_grad_()
    local X = ag.randn(8, 32)
    local function step()
      local loss = X:mm(W):relu():sum()
      W.grad = nil
      loss:backward()
      ag.no_grad(function() W:sub_(W.grad * 1e-4) end)
    end
    for _ = 1, 100 do step() end
    local baseline = ag.memory_allocated()
    local peak = 0
    for i = 1, 10000 do
      step()
      if i % 500 == 0 then peak = math.max(peak, ag.memory_allocated()) end
    end
    -- the soft limit bounds live bytes without user collectgarbage(): far below 10,000 steps' worth
    assert.is_true(peak < baseline + 300 * 1024 * 1024, "peak " .. peak)
    collectgarbage('collect')
    assert.is_true(ag.memory_allocated() <= baseline + 4096)
  end)
end)

describe("deep graphs", function()
  it("build, backpropagate and free a chain of 1,000,000 ops", function()
    collectgarbage('collect')
    local before = ag.memory_allocated()
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local y = x
    for _ = 1, 1000000 do y = y * 1.0 end
    y:sum():backward()
    assert.are.same({1, 1}, x.grad:totable())
    x, y = nil, nil
    collectgarbage('collect')
    collectgarbage('collect')
    assert.are.equal(before, ag.memory_allocated())
  end)
end)
