-- nn_functional_layers_spec.lua: linear and bilinear, dropout (seeded Philox masks, train
-- flag, 1/(1-p) scaling), batch_norm (running statistics in training, their use in
-- evaluation), layer_norm and group_norm: hand-computed values, float64 gradcheck and
-- gradgradcheck, and errors naming the shapes. PyTorch's values for these are checked in
-- nn_functional_torch_spec.lua.
local ag = require 'ag'
local F = ag.nn.functional
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function leaf(t) return t:double():requires_grad_() end
local function randn(...) return leaf(ag.randn(...)) end

local function close(t, want, tol)
  local got = type(t) == 'number' and {t} or (t.ndim == 0 and {t:item()} or t:reshape(-1):totable())
  local flat = {}
  local function walk(x) if type(x) == 'table' then for _, v in ipairs(x) do walk(v) end else flat[#flat + 1] = x end end
  walk(want)
  assert.are.equal(#flat, #got, 'number of elements')
  for i, w in ipairs(flat) do
    local g = got[i]
    assert(math.abs(g - w) <= (tol or 1e-6) * (1 + math.abs(w)), ('element %d: got %.12g, expected %.12g'):format(i, g, w))
  end
end

local function raises(f, ...)
  local ok, err = pcall(f)
  assert.is_false(ok, 'expected an error')
  for _, s in ipairs({...}) do
    assert(tostring(err):find(s, 1, true), ('error %q does not mention %q'):format(tostring(err), s))
  end
end

describe('F.linear / F.bilinear', function()
  it('linear is x W^T + b', function()
    local x = ag.tensor({{1, 2}, {3, 4}})
    local w = ag.tensor({{1, 0}, {0, 1}, {1, 1}})
    close(F.linear(x, w, ag.tensor({10, 20, 30})), {{11, 22, 33}, {13, 24, 37}})
    close(F.linear(x, w), {{1, 2, 3}, {3, 4, 7}})
    assert.are.same({2, 5, 3}, F.linear(ag.randn(2, 5, 2), w).shape)
  end)
  it('bilinear is x1^T W_k x2 + b_k', function()
    local x1 = ag.tensor({{1, 2}})
    local x2 = ag.tensor({{3, 4, 5}})
    local w = ag.tensor({{{1, 0, 0}, {0, 1, 0}}, {{0, 0, 1}, {1, 1, 1}}})
    -- k=1: 1*3 + 2*4 = 11; k=2: 1*5 + 2*12 = 29
    close(F.bilinear(x1, x2, w, ag.tensor({1, -1})), {{12, 28}})
  end)
  it('gradcheck and gradgradcheck', function()
    assert.is_true(gradcheck(F.linear, {randn(3, 4), randn(2, 4), randn(2)}))
    assert.is_true(gradcheck(function(x, w) return F.linear(x:t(), w) end, {randn(4, 3), randn(2, 4)}))
    assert.is_true(gradgradcheck(F.linear, {randn(3, 4), randn(2, 4), randn(2)}))
    assert.is_true(gradcheck(F.bilinear, {randn(2, 3), randn(2, 2), randn(4, 3, 2), randn(4)}))
    assert.is_true(gradgradcheck(F.bilinear, {randn(2, 3), randn(2, 2), randn(2, 3, 2), randn(2)}))
  end)
  it('names the mismatched shapes', function()
    raises(function() F.linear(ag.randn(2, 3), ag.randn(4, 5)) end, 'ag.linear', 'input [2, 3]', 'weight [4, 5]')
    raises(function() F.linear(ag.randn(2, 3), ag.randn(4, 3, 1)) end, 'ag.linear', '2-D')
    raises(function() F.bilinear(ag.randn(2, 3), ag.randn(2, 4), ag.randn(5, 3, 2)) end, 'ag.bilinear', 'in2 = 2')
    raises(function() F.bilinear(ag.randn(2, 3), ag.randn(3, 2), ag.randn(5, 3, 2)) end, 'same leading dimensions')
  end)
end)

describe('F.dropout', function()
  it('is the identity with training = false or p = 0', function()
    local x = ag.randn(10)
    assert.are.equal(x, F.dropout(x, 0.5, false))
    assert.are.equal(x, F.dropout(x, {p = 0}))
    assert.are.equal(x, F.dropout(x, {p = 0.3, training = false}))
  end)
  it('zeroes elements with probability p and scales the others by 1/(1-p)', function()
    ag.manual_seed(7)
    local x = ag.ones(100000)
    local y = F.dropout(x, 0.3)
    local kept = y:ne(0):sum():item()
    assert(math.abs(kept / 100000 - 0.7) < 0.01, 'kept fraction ' .. kept / 100000)
    close(y:amax(), 1 / 0.7)
    close(y:mean(), 1, 0.02)
  end)
  it('is reproducible from the seed', function()
    ag.manual_seed(123)
    local a = F.dropout(ag.ones(64), 0.5)
    ag.manual_seed(123)
    local b = F.dropout(ag.ones(64), 0.5)
    assert.is_true(a:equal(b))
  end)
  it('routes the gradient through the same mask', function()
    ag.manual_seed(3)
    local x = randn(50)
    local y = F.dropout(x, 0.4)
    y:sum():backward()
    local kept = y:detach():ne(0):double()
    close(x.grad, (kept / 0.6):totable(), 1e-12)
  end)
  it('p = 1 gives zeros (and zero gradients)', function()
    local x = randn(5)
    local y = F.dropout(x, 1)
    close(y, {0, 0, 0, 0, 0})
    y:sum():backward()
    close(x.grad, {0, 0, 0, 0, 0})
  end)
  it('dropout2d drops whole channels', function()
    ag.manual_seed(11)
    local y = F.dropout2d(ag.ones(4, 8, 3, 3), 0.5)
    local per = y:amax({3, 4}) - y:amin({3, 4})
    close(per:abs():amax(), 0)
  end)
  it('alpha_dropout keeps mean 0 and variance 1 of a standard normal input, and is off by default', function()
    local x = ag.randn(200000)
    assert.are.equal(x, F.alpha_dropout(x, 0.2))
    ag.manual_seed(5)
    local y = F.alpha_dropout(x, 0.2, true)
    assert(math.abs(y:mean():item()) < 0.02, 'mean ' .. y:mean():item())
    assert(math.abs(y:var():item() - 1) < 0.03, 'var ' .. y:var():item())
    -- dropped units all take one value: a * (-alpha) + alpha * a * p
    local a = 1 / math.sqrt((1.7580993408473766 ^ 2 * 0.2 + 1) * 0.8)
    local dropped = -1.7580993408473766 * a + 1.7580993408473766 * a * 0.2
    local hits = (y - dropped):abs():lt(1e-6):sum():item()
    assert(math.abs(hits / 200000 - 0.2) < 0.01, 'dropped fraction ' .. hits / 200000)
  end)
  it('rejects p outside [0, 1]', function()
    raises(function() F.dropout(ag.randn(3), 1.5) end, 'ag.dropout', 'p', '[0, 1]', '1.5')
  end)
end)

describe('F.batch_norm', function()
  it('normalizes each channel over the batch in training and updates the running stats', function()
    local x = ag.tensor({{1, 10}, {3, 20}, {5, 60}})
    local rm, rv = ag.zeros(2), ag.ones(2)
    local y = F.batch_norm(x, rm, rv, nil, nil, true, 0.1, 0)
    -- channel 1: mean 3, biased var 8/3; channel 2: mean 30, biased var 1400/3
    local s1, s2 = math.sqrt(8 / 3), math.sqrt(1400 / 3)
    close(y, {{-2 / s1, -20 / s2}, {0, -10 / s2}, {2 / s1, 30 / s2}}, 1e-5)
    close(rm, {0.3, 3})
    -- unbiased variance 4 and 700
    close(rv, {0.9 + 0.4, 0.9 + 70})
  end)
  it('uses the running stats, weight and bias in evaluation', function()
    local x = ag.tensor({{1, 10}, {3, 20}})
    local y = F.batch_norm(x, ag.tensor({1, 10}), ag.tensor({4, 25}), ag.tensor({2, 1}), ag.tensor({0, 1}), false, 0.1, 0)
    close(y, {{0, 1}, {2, 3}})
  end)
  it('reduces over N, H and W for 4-d input', function()
    local x = ag.randn(3, 2, 4, 4, {dtype = 'float64'})
    local y = F.batch_norm(x, nil, nil, nil, nil, true)
    close(y:mean({1, 3, 4}), {0, 0}, 1e-10)
    close(y:var({1, 3, 4}, {correction = 0}), {1 - 1e-5 / (x:var({1, 3, 4}, {correction = 0}):totable()[1] + 1e-5),
                                               1 - 1e-5 / (x:var({1, 3, 4}, {correction = 0}):totable()[2] + 1e-5)}, 1e-8)
  end)
  it('gradcheck and gradgradcheck in training and evaluation', function()
    local rm, rv = ag.zeros(3, {dtype = 'float64'}), ag.ones(3, {dtype = 'float64'})
    assert.is_true(gradcheck(function(x, w, b) return F.batch_norm(x, nil, nil, w, b, true) end,
                             {randn(4, 3), randn(3), randn(3)}))
    assert.is_true(gradcheck(function(x, w, b) return F.batch_norm(x, rm, rv, w, b, false) end,
                             {randn(2, 3, 2), randn(3), randn(3)}))
    assert.is_true(gradgradcheck(function(x, w) return F.batch_norm(x, nil, nil, w, nil, true) end,
                                 {randn(4, 3, 2), randn(3)}))
  end)
  it('explains bad shapes and a single value per channel', function()
    raises(function() F.batch_norm(ag.randn(1, 3), nil, nil, nil, nil, true) end,
           'expected more than 1 value per channel when training', '[1, 3]')
    raises(function() F.batch_norm(ag.randn(4, 3), ag.zeros(2), ag.ones(3)) end, 'running_mean', '3 elements', '[2]')
    raises(function() F.batch_norm(ag.randn(4, 3)) end, 'running_mean and running_var are needed')
    raises(function() F.batch_norm(ag.randn(3), nil, nil, nil, nil, true) end, '[N, C]', '[3]')
  end)
end)

describe('F.layer_norm / F.group_norm', function()
  it('layer_norm normalizes the trailing normalized_shape dims', function()
    local x = ag.tensor({{1, 2, 3}, {2, 2, 8}})
    local s = math.sqrt(2 / 3)
    close(F.layer_norm(x, {3}, nil, nil, 0), {{-1 / s, 0, 1 / s}, {-2 / math.sqrt(8), -2 / math.sqrt(8), 4 / math.sqrt(8)}}, 1e-6)
    close(F.layer_norm(x, 3, ag.tensor({1, 2, 3}), ag.tensor({1, 1, 1}), 0), {{1 - 1 / s, 1, 1 + 3 / s},
          {1 - 2 / math.sqrt(8), 1 - 4 / math.sqrt(8), 1 + 12 / math.sqrt(8)}}, 1e-6)
    close(F.layer_norm(x, {2, 3}, nil, nil, 0):mean(), 0, 1e-6)
  end)
  it('group_norm normalizes groups of channels per sample', function()
    local x = ag.tensor({{{1, 3}, {5, 7}, {0, 0}, {2, 2}}})
    local y = F.group_norm(x, 2, nil, nil, 0)
    local s = math.sqrt(5)
    close(y, {{{-3 / s, -1 / s}, {1 / s, 3 / s}, {-1, -1}, {1, 1}}}, 1e-6)
  end)
  it('gradcheck and gradgradcheck', function()
    assert.is_true(gradcheck(function(x, w, b) return F.layer_norm(x, {4}, w, b) end, {randn(3, 4), randn(4), randn(4)}))
    assert.is_true(gradgradcheck(function(x, w, b) return F.layer_norm(x, {2, 2}, w, b) end, {randn(3, 2, 2), randn(2, 2), randn(2, 2)}))
    assert.is_true(gradcheck(function(x, w, b) return F.group_norm(x, 2, w, b) end, {randn(2, 4, 3), randn(4), randn(4)}))
    assert.is_true(gradgradcheck(function(x, w) return F.group_norm(x, 3, w) end, {randn(2, 3, 2), randn(3)}))
  end)
  it('records the fused nodes NativeLayerNormBackward0 / NativeBatchNormBackward0', function()
    local x = randn(4, 3)
    assert.are.equal('NativeLayerNormBackward0', F.layer_norm(x, {3}).grad_fn:name())
    assert.are.equal('NativeBatchNormBackward0', F.batch_norm(x, nil, nil, nil, nil, true).grad_fn:name())
    -- only the weight requires grad: still recorded
    local w = randn(3)
    assert.are.equal('NativeLayerNormBackward0', F.layer_norm(ag.randn(2, 3), {3}, w).grad_fn:name())
  end)
  it('keeps float32 statistics exact under a large offset (accumulated in double)', function()
    local base = ag.randn(8, 256)
    local x = base * 0.01 + 1e4
    local y = F.layer_norm(x, {256})
    local want = F.layer_norm(x:double(), {256})      -- the same float32 values, in double
    close(y, want:totable(), 1e-3)
    local xb = x:t():contiguous()
    local yb = F.batch_norm(xb, nil, nil, nil, nil, true)
    close(yb, F.batch_norm(xb:double(), nil, nil, nil, nil, true):totable(), 1e-3)
  end)
  it('handles non-contiguous input and weights, and evaluation-mode double backward', function()
    assert.is_true(gradcheck(function(x, w) return F.layer_norm(x:t(), {2}, w) end, {randn(2, 3), randn(2)}))
    assert.is_true(gradcheck(function(x, w, b) return F.batch_norm(x:transpose(1, 2), nil, nil, w, b, true) end,
                             {randn(3, 4), randn(3), randn(3)}))
    local rm, rv = ag.randn(3, {dtype = 'float64'}), ag.rand(3, {dtype = 'float64'}) + 0.5
    assert.is_true(gradgradcheck(function(x, w, b) return F.batch_norm(x, rm, rv, w, b, false) end,
                                 {randn(2, 3, 2), randn(3), randn(3)}))
    assert.is_true(gradgradcheck(function(x, b) return F.layer_norm(x, {3}, nil, b) end, {randn(2, 3), randn(3)}))
  end)
  it('explains shape mismatches', function()
    raises(function() F.layer_norm(ag.randn(2, 3), {4}) end,
           'ag.layer_norm', 'normalized_shape=[4]', 'expected input with shape [*, 4]', '[2, 3]')
    raises(function() F.layer_norm(ag.randn(2, 3), {3}, ag.ones(4)) end, 'weight should have shape [3]', '[4]')
    raises(function() F.group_norm(ag.randn(2, 6, 3), 4) end, 'ag.group_norm', 'divisible by num_groups', '6', '4')
  end)
end)
