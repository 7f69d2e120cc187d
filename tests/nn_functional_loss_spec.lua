-- nn_functional_loss_spec.lua: the losses. cross_entropy and nll_loss (fused C kernels with
-- 1-based class labels, weight, ignore_index, label_smoothing, every reduction), the
-- composite regression, binary and KL losses, cosine_similarity: hand-computed values,
-- node names, stability on large logits, float64 gradcheck and gradgradcheck, and errors
-- that quote the bad value. PyTorch's values for many more option mixes are checked in
-- nn_functional_torch_spec.lua.
local ag = require 'ag'
local F = ag.nn.functional
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function leaf(t) return t:double():requires_grad_() end
local function randn(...) return leaf(ag.randn(...)) end
local function labels(t) return ag.tensor(t):long() end

local function close(t, want, tol)
  local got = type(t) == 'number' and {t} or (t.ndim == 0 and {t:item()} or t:reshape(-1):totable())
  local flat = {}
  local function walk(x) if type(x) == 'table' then for _, v in ipairs(x) do walk(v) end else flat[#flat + 1] = x end end
  walk(want)
  assert.are.equal(#flat, #got, 'number of elements')
  for i, w in ipairs(flat) do
    local g = got[i]
    if w ~= w then assert(g ~= g, ('element %d: expected NaN, got %s'):format(i, g))
    else assert(math.abs(g - w) <= (tol or 1e-6) * (1 + math.abs(w)), ('element %d: got %.12g, expected %.12g'):format(i, g, w)) end
  end
end

local function raises(f, ...)
  local ok, err = pcall(f)
  assert.is_false(ok, 'expected an error')
  for _, s in ipairs({...}) do
    assert(tostring(err):find(s, 1, true), ('error %q does not mention %q'):format(tostring(err), s))
  end
end

local function finite(t)
  for _, v in ipairs(t:reshape(-1):totable()) do if not (v == v and math.abs(v) < math.huge) then return false end end
  return true
end

describe('F.cross_entropy', function()
  local lse = math.log(math.exp(1) + math.exp(2) + math.exp(3))

  it('is logsumexp(x) - x[target] with 1-based class labels', function()
    local x = ag.tensor({{1, 2, 3}, {1, 2, 3}})
    close(F.cross_entropy(x, labels({3, 1}), {reduction = 'none'}), {lse - 3, lse - 1})
    close(F.cross_entropy(x, labels({3, 1})), (2 * lse - 4) / 2)
    close(F.cross_entropy(x, labels({3, 1}), {reduction = 'sum'}), 2 * lse - 4)
  end)

  it('weights each row by weight[target] and divides the mean by their sum', function()
    local x = ag.tensor({{1, 2, 3}, {1, 2, 3}})
    local w = ag.tensor({0.5, 1, 2})
    close(F.cross_entropy(x, labels({3, 1}), w), (2 * (lse - 3) + 0.5 * (lse - 1)) / 2.5)
    close(F.cross_entropy(x, labels({3, 1}), {weight = w, reduction = 'none'}), {2 * (lse - 3), 0.5 * (lse - 1)})
  end)

  it('skips rows whose target is ignore_index (1-based, like the labels)', function()
    local x = ag.tensor({{1, 2, 3}, {1, 2, 3}, {3, 2, 1}})
    close(F.cross_entropy(x, labels({3, 2, 2}), {ignore_index = 2}), lse - 3)
    close(F.cross_entropy(x, labels({3, 2, 1}), {ignore_index = 2, reduction = 'none'}), {lse - 3, 0, lse - 3})
    -- every row ignored: 0 / 0, as PyTorch
    close(F.cross_entropy(x, labels({2, 2, 2}), {ignore_index = 2}), 0 / 0)
  end)

  it('mixes in a uniform target with label_smoothing', function()
    local x = ag.tensor({{1, 2, 3}})
    local eps = 0.1
    local smooth = (3 * lse - 6) / 3
    close(F.cross_entropy(x, labels({2}), {label_smoothing = eps}), (1 - eps) * (lse - 2) + eps * smooth)
  end)

  it('accepts PyTorch positional order (weight, size_average, ignore_index, reduce, reduction, label_smoothing)', function()
    local x = ag.randn(4, 5)
    local t = labels({1, 5, 2, 2})
    local w = ag.rand(5) + 0.5
    close(F.cross_entropy(x, t, w, nil, 2, nil, 'sum', 0.2),
          F.cross_entropy(x, t, {weight = w, ignore_index = 2, reduction = 'sum', label_smoothing = 0.2}):item(), 1e-6)
    -- deprecated flags map to a reduction as in PyTorch
    close(F.cross_entropy(x, t, nil, false), F.cross_entropy(x, t, {reduction = 'sum'}):item(), 1e-6)
    assert.are.same({4}, F.cross_entropy(x, t, {reduce = false}).shape)
  end)

  it('takes [N, C, d1, ...] input with [N, d1, ...] targets, and [C] input with a 0-dim target', function()
    local x = ag.randn(2, 3, 4, {dtype = 'float64'})
    local t = ag.randint(1, 4, {2, 4})
    local per = F.cross_entropy(x, t, {reduction = 'none'})
    assert.are.same({2, 4}, per.shape)
    -- the same as moving the class dim last and flattening
    local flat = F.cross_entropy(x:permute(1, 3, 2):reshape(8, 3), t:reshape(8), {reduction = 'none'})
    close(per, flat:totable(), 1e-12)
    local v = F.cross_entropy(ag.tensor({1.0, 2.0, 3.0}), ag.tensor(3):long())
    assert.are.equal(0, v.ndim)
    close(v, lse - 3)
  end)

  it('takes class probabilities (a float target of the input shape)', function()
    local x = ag.tensor({{1, 2, 3}})
    local p = ag.tensor({{0.2, 0.3, 0.5}})
    close(F.cross_entropy(x, p), 0.2 * (lse - 1) + 0.3 * (lse - 2) + 0.5 * (lse - 3))
  end)

  it('stays finite for logits of +-1000, with the gradient softmax - onehot', function()
    local x = leaf(ag.tensor({{1000, -1000, 0}, {-1000, 1000, 999}}))
    local l = F.cross_entropy(x, labels({1, 3}), {reduction = 'none'})
    close(l, {0, 1.3132616875182228}, 1e-12)
    l:sum():backward()
    assert.is_true(finite(x.grad))
    close(x.grad, {{0, 0, 0}, {0, 0.7310585786300049, -0.7310585786300049}}, 1e-12)
    local l32 = F.cross_entropy(ag.tensor({{1000, -1000, 0}}), labels({2}))
    close(l32, 2000)
  end)

  it('records one CrossEntropyLossBackward0 node (log_softmax + nll fused)', function()
    local x = randn(2, 3)
    local l = F.cross_entropy(x, labels({1, 2}))
    assert.are.equal('CrossEntropyLossBackward0', l.grad_fn:name())
    local nodes = l.grad_fn.next_functions
    assert.are.equal('AccumulateGrad', nodes[1][1]:name())
  end)

  it('computes float32 losses and gradients from one pass over each row', function()
    local x = ag.randn(64, 100)
    local t = ag.randint(1, 101, {64})
    local x64 = leaf(x)
    local x32 = x:clone():requires_grad_()
    local l64 = F.cross_entropy(x64, t, {label_smoothing = 0.05})
    local l32 = F.cross_entropy(x32, t, {label_smoothing = 0.05})
    close(l32, l64:item(), 1e-6)
    l64:backward(); l32:backward()
    close(x32.grad, x64.grad:totable(), 1e-5)
  end)

  it('gives the same rows when they are split between threads (a large batch)', function()
    local x = ag.randn(600, 500)
    local t = ag.randint(1, 501, {600})
    local per = F.cross_entropy(x, t, {reduction = 'none', label_smoothing = 0.1})
    close(per[450], F.cross_entropy(x[450], t[450], {label_smoothing = 0.1}):item(), 1e-6)
    local xg = x:clone():requires_grad_()
    F.cross_entropy(xg, t, {reduction = 'sum'}):backward()
    local x1 = x[450]:clone():requires_grad_()
    F.cross_entropy(x1, t[450]):backward()
    close(xg.grad[450], x1.grad:totable(), 1e-6)
  end)

  describe('gradcheck (float64)', function()
    local t4 = labels({2, 5, 1, 5})
    local w5 = ag.tensor({0.3, 1.0, 2.0, 0.5, 1.5}, {dtype = 'float64'})
    local cases = {
      {'mean', function(x) return F.cross_entropy(x, t4) end},
      {'sum', function(x) return F.cross_entropy(x, t4, {reduction = 'sum'}) end},
      {'none', function(x) return F.cross_entropy(x, t4, {reduction = 'none'}) end},
      {'weight', function(x) return F.cross_entropy(x, t4, w5) end},
      {'ignore_index', function(x) return F.cross_entropy(x, t4, {ignore_index = 5}) end},
      {'label_smoothing', function(x) return F.cross_entropy(x, t4, {label_smoothing = 0.2}) end},
      {'everything', function(x) return F.cross_entropy(x, t4, {weight = w5, ignore_index = 1, label_smoothing = 0.3}) end},
      {'everything, none', function(x)
        return F.cross_entropy(x, t4, {weight = w5, ignore_index = 1, label_smoothing = 0.3, reduction = 'none'}) end},
      {'transposed input', function(x) return F.cross_entropy(x:t(), t4) end, {5, 4}},
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local shape = c[3] or {4, 5}
        assert.is_true(gradcheck(c[2], {randn(shape[1], shape[2])}))
      end)
    end
    it('[N, C, H, W] input', function()
      local t = ag.randint(1, 4, {2, 2, 2})
      assert.is_true(gradcheck(function(x) return F.cross_entropy(x, t, {label_smoothing = 0.1}) end, {randn(2, 3, 2, 2)}))
    end)
    it('1-d input', function()
      assert.is_true(gradcheck(function(x) return F.cross_entropy(x, labels(2)) end, {randn(4)}))
    end)
    it('class probabilities, with respect to both inputs', function()
      local p = leaf(ag.rand(3, 4))
      assert.is_true(gradcheck(function(x, q) return F.cross_entropy(x, q, {label_smoothing = 0.1}) end, {randn(3, 4), p}))
    end)
  end)

  describe('gradgradcheck', function()
    local t4 = labels({2, 5, 1, 5})
    local w5 = ag.tensor({0.3, 1.0, 2.0, 0.5, 1.5}, {dtype = 'float64'})
    it('mean', function()
      assert.is_true(gradgradcheck(function(x) return F.cross_entropy(x, t4) end, {randn(4, 5)}))
    end)
    it('weight, ignore_index and label_smoothing', function()
      assert.is_true(gradgradcheck(function(x)
        return F.cross_entropy(x, t4, {weight = w5, ignore_index = 1, label_smoothing = 0.3}) end, {randn(4, 5)}))
    end)
    it('none, [N, C, L]', function()
      local t = ag.randint(1, 4, {2, 3})
      assert.is_true(gradgradcheck(function(x) return F.cross_entropy(x, t, {reduction = 'none'}) end, {randn(2, 3, 3)}))
    end)
  end)

  describe('errors', function()
    it('quotes an out-of-range class label', function()
      raises(function() F.cross_entropy(ag.randn(2, 10), labels({3, 11})) end,
             'ag.cross_entropy: target 11 is out of bounds for 10 classes (class labels are 1-based)')
      raises(function() F.cross_entropy(ag.randn(2, 10), labels({0, 1})) end, 'target 0 is out of bounds', '1-based')
      raises(function() F.cross_entropy(ag.randn(2, 10), labels({-1, 1})) end, 'target -1 is out of bounds')
    end)
    it('names the expected target shape', function()
      raises(function() F.cross_entropy(ag.randn(2, 10), labels({1, 2, 3})) end,
             'ag.cross_entropy', 'expected a target of shape [2]', 'input of shape [2, 10]', 'got [3]')
      raises(function() F.cross_entropy(ag.randn(2, 3, 4), labels({1, 2})) end, 'expected a target of shape [2, 4]')
    end)
    it('rejects float targets that are not class probabilities', function()
      raises(function() F.cross_entropy(ag.randn(2, 10), ag.tensor({1.0, 2.0})) end,
             'ag.cross_entropy', 'int64', 'class probabilities')
    end)
    it('checks weight, label_smoothing, reduction and option names', function()
      raises(function() F.cross_entropy(ag.randn(2, 3), labels({1, 2}), ag.ones(4)) end,
             'weight should be a 1-D tensor with one entry per class (3)', '[4]')
      raises(function() F.cross_entropy(ag.randn(2, 3), labels({1, 2}), {label_smoothing = 1.5}) end,
             'label_smoothing', '[0, 1]', '1.5')
      raises(function() F.cross_entropy(ag.randn(2, 3), labels({1, 2}), {reduction = 'avg'}) end,
             "reduction must be 'mean', 'sum' or 'none'", "'avg'")
      raises(function() F.cross_entropy(ag.randn(2, 3), labels({1, 2}), {smoothing = 0.1}) end,
             "unknown option 'smoothing'", 'label_smoothing')
    end)
    it('rejects integer logits and 0-dim input', function()
      raises(function() F.cross_entropy(ag.tensor({{1, 2}}):long(), labels({1})) end, 'floating point', 'int64')
      raises(function() F.cross_entropy(ag.tensor(1.0), labels(1)) end, '0-dim')
    end)
  end)
end)

describe('F.nll_loss', function()
  it('is -x[target] (1-based), weighted, with ignore_index', function()
    local lp = ag.tensor({{-1.0, -2.0, -3.0}, {-0.5, -1.5, -2.5}})
    close(F.nll_loss(lp, labels({2, 3})), (2 + 2.5) / 2)
    close(F.nll_loss(lp, labels({2, 3}), {reduction = 'none'}), {2, 2.5})
    close(F.nll_loss(lp, labels({2, 3}), ag.tensor({1, 2, 4})), (2 * 2 + 4 * 2.5) / 6)
    close(F.nll_loss(lp, labels({2, 3}), {ignore_index = 3, reduction = 'sum'}), 2)
  end)
  it('composes with log_softmax to cross_entropy', function()
    local x = ag.randn(5, 7, {dtype = 'float64'})
    local t = ag.randint(1, 8, {5})
    close(F.nll_loss(F.log_softmax(x, 2), t), F.cross_entropy(x, t):item(), 1e-12)
  end)
  it('records NllLossBackward0, whose backward records NllLossBackwardBackward0', function()
    local x = randn(2, 3)
    local l = F.nll_loss(x, labels({1, 3}))
    assert.are.equal('NllLossBackward0', l.grad_fn:name())
    local g = ag.autograd.grad({l}, {x}, {create_graph = true})
    assert.is_not_nil(g)
  end)
  it('passes gradcheck and gradgradcheck (weight, ignore_index, [N, C, d])', function()
    local t = labels({{1, 3}, {2, 2}})
    local w = ag.tensor({0.5, 2.0, 1.0}, {dtype = 'float64'})
    assert.is_true(gradcheck(function(x) return F.nll_loss(x, t, {weight = w, ignore_index = 2}) end, {randn(2, 3, 2)}))
    assert.is_true(gradcheck(function(x) return F.nll_loss(x, t, {reduction = 'none'}) end, {randn(2, 3, 2)}))
    assert.is_true(gradgradcheck(function(x) return F.nll_loss(x, t, {weight = w}) end, {randn(2, 3, 2)}))
    assert.is_true(gradgradcheck(function(x) return F.nll_loss(x, t, {reduction = 'none'}) end, {randn(2, 3, 2)}))
  end)
  it('quotes an out-of-range class label', function()
    raises(function() F.nll_loss(ag.randn(2, 4), labels({5, 1})) end,
           'ag.nll_loss: target 5 is out of bounds for 4 classes (class labels are 1-based)')
  end)
end)

describe('regression losses', function()
  local a = ag.tensor({0.5, -1.0, 2.0, 3.0})
  local b = ag.tensor({0.0, 0.0, 0.0, 3.2})

  it('mse_loss, l1_loss', function()
    close(F.mse_loss(a, b), (0.25 + 1 + 4 + 0.04) / 4)
    close(F.mse_loss(a, b, {reduction = 'sum'}), 0.25 + 1 + 4 + 0.04)
    close(F.l1_loss(a, b, {reduction = 'none'}), {0.5, 1, 2, 0.2})
  end)
  it('smooth_l1_loss: quadratic below beta, linear above; beta = 0 is l1', function()
    close(F.smooth_l1_loss(a, b, {reduction = 'none'}), {0.125, 0.5, 1.5, 0.02})
    close(F.smooth_l1_loss(a, b, {beta = 0.4, reduction = 'none'}), {0.3, 0.8, 1.8, 0.05})
    close(F.smooth_l1_loss(a, b, {beta = 0}), F.l1_loss(a, b):item())
  end)
  it('huber_loss: delta-scaled linear part', function()
    close(F.huber_loss(a, b, {delta = 0.4, reduction = 'none'}), {0.4 * 0.3, 0.4 * 0.8, 0.4 * 1.8, 0.02})
    close(F.huber_loss(a, b, 'sum', 2.0), 0.125 + 0.5 + 2 + 0.02)
  end)
  it('gradcheck and gradgradcheck, broadcasting a target', function()
    for _, f in ipairs({F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss}) do
      assert.is_true(gradcheck(function(x, y) return f(x, y) end, {randn(3, 4), randn(4)}))
    end
    assert.is_true(gradcheck(function(x, y) return F.smooth_l1_loss(x, y, {beta = 0.5, reduction = 'none'}) end,
                             {randn(3, 4), randn(3, 4)}))
    assert.is_true(gradgradcheck(function(x, y) return F.mse_loss(x, y) end, {randn(3, 4), randn(3, 4)}))
    assert.is_true(gradgradcheck(function(x, y) return F.smooth_l1_loss(x, y) end, {randn(3, 4), randn(3, 4)}))
    assert.is_true(gradgradcheck(function(x, y) return F.huber_loss(x, y, {delta = 0.5}) end, {randn(3, 4), randn(3, 4)}))
  end)
end)

describe('binary losses and kl_div', function()
  it('binary_cross_entropy clamps each log at -100 (finite at 0 and 1)', function()
    local p = ag.tensor({0.25, 0.0, 1.0})
    local t = ag.tensor({1.0, 1.0, 1.0})
    close(F.binary_cross_entropy(p, t, {reduction = 'none'}), {-math.log(0.25), 100, 0})
  end)
  it('binary_cross_entropy rejects probabilities outside [0, 1]', function()
    raises(function() F.binary_cross_entropy(ag.tensor({1.5}), ag.tensor({1.0})) end,
           'ag.binary_cross_entropy', 'between 0 and 1', 'binary_cross_entropy_with_logits')
  end)
  it('binary_cross_entropy_with_logits is stable for logits of +-1000 and has gradient sigmoid(x) - t', function()
    local x = leaf(ag.tensor({1000, -1000, 0, 2}))
    local t = ag.tensor({0, 1, 1, 0.5}, {dtype = 'float64'})
    local l = F.binary_cross_entropy_with_logits(x, t, {reduction = 'none'})
    close(l, {1000, 1000, math.log(2), 2 * 0.5 + math.log(1 + math.exp(-2))}, 1e-12)
    l:sum():backward()
    local s2 = 1 / (1 + math.exp(-2))
    close(x.grad, {1, -1, -0.5, s2 - 0.5}, 1e-12)
  end)
  it('binary_cross_entropy_with_logits weighs positives by pos_weight', function()
    local x = ag.tensor({0.3})
    local sp = math.log(1 + math.exp(-0.3))
    close(F.binary_cross_entropy_with_logits(x, ag.tensor({1.0}), {pos_weight = ag.tensor({3.0})}), 3 * sp)
  end)
  it('kl_div is t (log t - x), 0 where t = 0; batchmean divides by the batch size', function()
    local x = ag.tensor({{-1.0, -2.0}, {-0.5, -1.0}})
    local t = ag.tensor({{0.5, 0.5}, {0.0, 1.0}})
    local pw = {0.5 * (math.log(0.5) + 1), 0.5 * (math.log(0.5) + 2), 0, 1}
    close(F.kl_div(x, t, {reduction = 'none'}), pw)
    close(F.kl_div(x, t, {reduction = 'batchmean'}), (pw[1] + pw[2] + pw[3] + pw[4]) / 2)
    -- log_target: the target given as log-probabilities (no zeros here: exp(-inf) * -inf is NaN, as in PyTorch)
    close(F.kl_div(x[1], ag.tensor({0.5, 0.5}):log(), {reduction = 'sum', log_target = true}), pw[1] + pw[2])
  end)
  it('gradcheck and gradgradcheck', function()
    local p = leaf(ag.rand(3, 4) * 0.8 + 0.1)
    local t = leaf(ag.rand(3, 4))
    assert.is_true(gradcheck(function(x, y) return F.binary_cross_entropy(x, y) end, {p, t}))
    assert.is_true(gradgradcheck(function(x, y) return F.binary_cross_entropy(x, y) end, {p, t}))
    local pw = ag.rand(4, {dtype = 'float64'}) * 2
    assert.is_true(gradcheck(function(x, y) return F.binary_cross_entropy_with_logits(x, y, {pos_weight = pw}) end,
                             {randn(3, 4), t}))
    assert.is_true(gradgradcheck(function(x, y) return F.binary_cross_entropy_with_logits(x, y) end, {randn(3, 4), t}))
    local lq = leaf(F.log_softmax(ag.randn(3, 4), 2))
    assert.is_true(gradcheck(function(x, y) return F.kl_div(x, y, {reduction = 'batchmean'}) end, {lq, t}))
    assert.is_true(gradgradcheck(function(x, y) return F.kl_div(x, y, {reduction = 'sum'}) end, {lq, t}))
    assert.is_true(gradgradcheck(function(x, y) return F.kl_div(x, y, {log_target = true}) end, {lq, randn(3, 4)}))
  end)
end)

describe('F.cosine_similarity', function()
  it('is x1 . x2 / (|x1| |x2|) along dim 2 by default', function()
    close(F.cosine_similarity(ag.tensor({{1, 0}, {1, 1}}), ag.tensor({{0, 1}, {2, 2}})), {0, 1})
    close(F.cosine_similarity(ag.tensor({3, 4}), ag.tensor({4, 3}), 1), 24 / 25)
  end)
  it('gives 0 and a zero gradient for a zero vector', function()
    local a = leaf(ag.tensor({{0, 0, 0}}))
    local b = leaf(ag.tensor({{1, 2, 3}}))
    local c = F.cosine_similarity(a, b)
    close(c, {0})
    c:sum():backward()
    close(a.grad, {{1 / 1e-8 / math.sqrt(14), 2 / 1e-8 / math.sqrt(14), 3 / 1e-8 / math.sqrt(14)}}, 1e-9)
    close(b.grad, {{0, 0, 0}})
  end)
  it('gradcheck and gradgradcheck, broadcasting', function()
    assert.is_true(gradcheck(function(x, y) return F.cosine_similarity(x, y, {dim = -1}) end, {randn(2, 3, 4), randn(3, 4)}))
    assert.is_true(gradgradcheck(function(x, y) return F.cosine_similarity(x, y) end, {randn(3, 4), randn(3, 4)}))
  end)
end)
