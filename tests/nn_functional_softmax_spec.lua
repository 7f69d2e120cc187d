-- nn_functional_softmax_spec.lua: softmax and log_softmax, the fused kernels: values,
-- stability on large logits and -inf, every dim form, their nodes, float64 gradcheck and
-- gradgradcheck (the backward is a differentiable op of its own), float32 accuracy of the
-- vectorized exp, and the errors.
local ag = require 'ag'
local F = ag.nn.functional
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function leaf(t) return t:double():requires_grad_() end
local function randn(...) return leaf(ag.randn(...)) end

local function close(t, want, tol)
  local got = t:reshape(-1):totable()
  local flat = {}
  local function walk(x) if type(x) == 'table' then for _, v in ipairs(x) do walk(v) end else flat[#flat + 1] = x end end
  walk(want)
  assert.are.equal(#flat, #got, 'number of elements')
  for i, w in ipairs(flat) do
    local g = got[i]
    if w ~= w then assert(g ~= g, ('element %d: expected NaN, got %s'):format(i, g))
    elseif w == math.huge or w == -math.huge then assert(g == w, ('element %d: got %s, expected %s'):format(i, g, w))
    else assert(math.abs(g - w) <= (tol or 1e-6) * (1 + math.abs(w)), ('element %d: got %.10g, expected %.10g'):format(i, g, w)) end
  end
end

local function raises(f, ...)
  local ok, err = pcall(f)
  assert.is_false(ok, 'expected an error')
  for _, s in ipairs({...}) do
    assert(tostring(err):find(s, 1, true), ('error %q does not mention %q'):format(tostring(err), s))
  end
end

describe('F.softmax / F.log_softmax', function()
  it('computes exp(x) / sum(exp(x)) along the given dim (PyTorch: [0.0900, 0.2447, 0.6652])', function()
    local x = ag.tensor({{1, 2, 3}, {1, 1, 1}})
    close(F.softmax(x, 2), {{0.09003057317, 0.24472847105, 0.66524095577}, {1 / 3, 1 / 3, 1 / 3}})
    close(F.softmax(x, -1), {{0.09003057317, 0.24472847105, 0.66524095577}, {1 / 3, 1 / 3, 1 / 3}})
    close(F.softmax(x, 1), {{0.5, 0.73105857863, 0.88079707798}, {0.5, 0.26894142137, 0.11920292202}})
    close(F.log_softmax(x, 2), {{-2.40760596445, -1.40760596445, -0.40760596445}, {-1.09861228867, -1.09861228867, -1.09861228867}})
  end)

  it('is a tensor method and an ag.* function as well', function()
    local x = ag.tensor({{1.0, 2.0}, {3.0, 5.0}})
    close(x:softmax(1), F.softmax(x, 1):totable(), 0)
    close(ag.log_softmax(x, -1), x:log_softmax(2):totable(), 0)
    assert.are.equal(F.softmax, ag.F.softmax)
  end)

  it('reduces any dim of a 3-d tensor, including a middle and a negative one', function()
    local x = ag.randn(2, 3, 4, {dtype = 'float64'})
    for _, d in ipairs({1, 2, 3, -1, -2, -3}) do
      local s = F.softmax(x, d):sum(d)
      close(s, ag.ones(s.shape, {dtype = 'float64'}):totable(), 1e-12)
      local ls = F.log_softmax(x, d)
      close(ls:exp():sum(d), ag.ones(s.shape):totable(), 1e-12)
    end
  end)

  it('handles non-contiguous input (a transpose and a slice)', function()
    local base = ag.randn(5, 4, {dtype = 'float64'})
    local xt = base:t()
    close(F.softmax(xt, -1), F.softmax(xt:contiguous(), -1):totable(), 1e-14)
    local sl = base:narrow(2, 2, 2)
    close(F.log_softmax(sl, 1), F.log_softmax(sl:contiguous(), 1):totable(), 1e-14)
  end)

  it('gives finite results for logits of +-1000 (max subtraction)', function()
    local x = ag.tensor({{1000, -1000, 0}, {-1000, -999, -1000}})
    close(F.softmax(x, -1), {{1, 0, 0}, {0.21194155761708544, 0.5761168847658291, 0.21194155761708544}})
    close(F.log_softmax(x, -1), {{0, -2000, -1000}, {-1.5514447139320511, -0.5514447139320511, -1.5514447139320511}})
    local xd = leaf(x)
    F.log_softmax(xd, -1):sum():backward()
    for _, v in ipairs(xd.grad:reshape(-1):totable()) do assert(v == v and math.abs(v) < math.huge) end
  end)

  it('treats -inf as probability 0, and an all -inf row as NaN (as PyTorch)', function()
    local inf = math.huge
    close(F.softmax(ag.tensor({0, -inf, 0}), 1), {0.5, 0, 0.5})
    close(F.log_softmax(ag.tensor({0, -inf}), 1), {0, -inf})
    close(F.softmax(ag.tensor({{-inf, -inf}, {1, 1}}), 2), {{0 / 0, 0 / 0}, {0.5, 0.5}})
    close(F.softmax(ag.tensor({1, 0 / 0, 2}), 1), {0 / 0, 0 / 0, 0 / 0})
  end)

  it('keeps float32 within a few ulp of the float64 result on long rows (the vectorized exp)', function()
    local x = (ag.randn(4, 1000) * 3):double()      -- float32 values, so both see the same input
    for _, lg in ipairs({false, true}) do
      local f = lg and F.log_softmax or F.softmax
      local want = f(x, -1)
      local got = f(x:float(), -1):double()
      local err = ((got - want):abs() / (want:abs() + 1e-30)):amax():item()
      if lg then assert(err < 1e-6, 'log_softmax relative error ' .. err)
      else
        -- relative error of the probabilities that are not denormal-small
        local big = want:gt(1e-30)
        local e = ag.where(big, (got - want):abs() / ag.where(big, want, 1), 0):amax():item()
        assert(e < 2e-6, 'softmax relative error ' .. e)
      end
    end
  end)

  it('gives the same rows when they are split between threads (inputs above the 2^18 grain)', function()
    local x = ag.randn(1100, 257)
    close(F.softmax(x, -1):sum(-1), ag.ones(1100):totable(), 1e-5)
    close(F.log_softmax(x, -1)[700], F.log_softmax(x[700], 1):totable(), 1e-6)
    local y = ag.randn(6, 257, 200)
    close(F.softmax(y, 2):sum(2), ag.ones(6, 200):totable(), 1e-5)
    close(F.softmax(y, 2)[5], F.softmax(y[5], 1):totable(), 1e-6)
    local g = ag.randn(1100, 257)
    local xg = x:clone():requires_grad_()
    F.softmax(xg, -1):backward(g)
    local x1 = x[900]:clone():requires_grad_()
    F.softmax(x1, 1):backward(g[900])
    close(xg.grad[900], x1.grad:totable(), 1e-6)
  end)

  it('works on size-1 and empty dims and on a 0-dim tensor', function()
    close(F.softmax(ag.tensor({{3.0}, {4.0}}), 2), {{1}, {1}})
    close(F.log_softmax(ag.tensor({{3.0}, {4.0}}), 2), {{0}, {0}})
    assert.are.same({0, 3}, F.softmax(ag.zeros(0, 3), 2).shape)
    assert.are.same({2, 0}, F.log_softmax(ag.zeros(2, 0), 2).shape)
    close(F.softmax(ag.tensor(5.0), 1), {1})
    close(F.log_softmax(ag.tensor(5.0), -1), {0})
  end)

  it('casts first when given a dtype', function()
    local y = F.softmax(ag.tensor({1, 2}), -1, {dtype = 'float64'})
    assert.are.equal('float64', y.dtype)
    assert.are.equal('float64', F.log_softmax(ag.tensor({1, 2}), {dim = 1, dtype = 'float64'}).dtype)
  end)

  it('records SoftmaxBackward0 / LogSoftmaxBackward0', function()
    local x = randn(2, 3)
    assert.are.equal('SoftmaxBackward0', F.softmax(x, 2).grad_fn:name())
    assert.are.equal('LogSoftmaxBackward0', F.log_softmax(x, 2).grad_fn:name())
    assert.is_nil(F.softmax(ag.randn(2, 3), 2).grad_fn)
  end)

  it('matches the hand-derived gradient y (g - sum(g y)) for softmax', function()
    local x = leaf(ag.tensor({0.5, -1.0, 2.0}))
    local g = ag.tensor({1.0, 2.0, -1.0}, {dtype = 'float64'})
    local y = F.softmax(x, 1)
    y:backward(g)
    local yv = y:detach()
    close(x.grad, (yv * (g - (g * yv):sum())):totable(), 1e-14)
  end)

  describe('gradcheck (float64)', function()
    local cases = {
      {'softmax dim -1', function(x) return F.softmax(x, -1) end, function() return {randn(3, 4)} end},
      {'softmax dim 1', function(x) return F.softmax(x, 1) end, function() return {randn(3, 4)} end},
      {'softmax middle dim', function(x) return F.softmax(x, 2) end, function() return {randn(2, 3, 2)} end},
      {'softmax transposed input', function(x) return F.softmax(x:t(), -1) end, function() return {randn(3, 2)} end},
      {'softmax 1-d', function(x) return F.softmax(x, 1) end, function() return {randn(5)} end},
      {'softmax size-1 dim', function(x) return F.softmax(x, 2) end, function() return {randn(3, 1)} end},
      {'softmax expanded input', function(x) return F.softmax(x:expand(3, 4), 2) end, function() return {randn(1, 4)} end},
      {'log_softmax dim -1', function(x) return F.log_softmax(x, -1) end, function() return {randn(3, 4)} end},
      {'log_softmax dim -3', function(x) return F.log_softmax(x, -3) end, function() return {randn(3, 2, 2)} end},
      {'log_softmax sliced input', function(x) return F.log_softmax(x:narrow(2, 2, 3), 2) end, function() return {randn(2, 5)} end},
      {'log_softmax large logits', function(x) return F.log_softmax(x, -1) end,
       function() return {leaf(ag.tensor({{1000, -1000, 0.5}, {3, 2, 1}}))} end},
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.is_true(gradcheck(c[2], c[3]())) end)
    end
  end)

  describe('gradgradcheck (the backward of the backward)', function()
    it('softmax, last and middle dim', function()
      assert.is_true(gradgradcheck(function(x) return F.softmax(x, -1) end, {randn(3, 4)}))
      assert.is_true(gradgradcheck(function(x) return F.softmax(x, 2) end, {randn(2, 3, 2)}))
    end)
    it('log_softmax, last and first dim', function()
      assert.is_true(gradgradcheck(function(x) return F.log_softmax(x, -1) end, {randn(3, 4)}))
      assert.is_true(gradgradcheck(function(x) return F.log_softmax(x, 1) end, {randn(3, 2)}))
    end)
    it('records SoftmaxBackwardDataBackward0 under create_graph', function()
      local x = randn(2, 3)
      local y = F.softmax(x, 2)
      local g = ag.autograd.grad({(y * y):sum()}, {x}, {create_graph = true})
      assert.is_not_nil(g.grad_fn)
      local gl = ag.autograd.grad({F.log_softmax(x, 2)[1][1]}, {x}, {create_graph = true})
      assert.are.equal('LogSoftmaxBackwardDataBackward0', gl.grad_fn:name())
    end)
  end)

  describe('errors', function()
    it('asks for the dim when it is missing', function()
      raises(function() F.softmax(ag.randn(2, 3)) end, 'ag.softmax', 'dim', '1-based')
    end)
    it('rejects dim 0 and dims out of range', function()
      raises(function() F.softmax(ag.randn(2, 3), 0) end, 'ag.softmax', 'dimension 0 is invalid')
      raises(function() F.log_softmax(ag.randn(2, 3), 3) end, 'ag.log_softmax', 'out of range', '[-2, 2]', '3')
    end)
    it('rejects integer tensors, naming the fix', function()
      raises(function() F.softmax(ag.tensor({1, 2}):long(), 1) end, 'ag.softmax', 'floating point', 'int64', ':float()')
    end)
    it('rejects a non-tensor', function()
      raises(function() F.softmax({1, 2}, 1) end, 'ag.softmax', 'Tensor')
    end)
  end)
end)
