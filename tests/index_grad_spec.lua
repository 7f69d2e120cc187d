-- index_grad_spec.lua: gradients of the shape and indexing ops. A float64 gradcheck
-- (central differences) for every differentiable op, with negative dims, non-contiguous
-- inputs and empty or size-1 cases; gradgradcheck where the backward is itself an op of
-- the family (gather <-> scatter_add, index_select <-> index_add, embedding, masked_select,
-- diagonal, pad); PyTorch's grad_fn names; and autograd behaviour (several outputs used
-- partly, padding_idx, in-place forms, repeated indices).
local ag = require 'ag'
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function I(t) return ag.tensor(t, {dtype = 'int64'}) end
local function B(t) return ag.tensor(t, {dtype = 'bool'}) end
local function leaf(t) return t:double():requires_grad_() end
local function randn(...) return leaf(ag.randn(...)) end
-- a leaf whose values are a transposed (non-contiguous) view: gradcheck perturbs it in place
local function randn_t(a, b) return ag.randn(b, a):double():t():requires_grad_() end

local cases = {
  -- index_select
  {"index_select dim 1 with repeats", function(a) return a:index_select(1, I({3, 1, 3})) end, function() return {randn(3, 4)} end},
  {"index_select dim -1 of a transposed input", function(a) return a:index_select(-1, I({2, 2, 1})) end,
   function() return {randn_t(3, 4)} end},
  {"index_select of a 1-D input, empty index", function(a) return a:index_select(1, I({})) end, function() return {randn(4)} end},
  {"index_select of a size-1 dim", function(a) return a:index_select(1, I({1, 1})) end, function() return {randn(1, 3)} end},
  -- gather
  {"gather dim 2", function(a) return a:gather(2, I({{4, 1}, {2, 2}, {3, 4}})) end, function() return {randn(3, 4)} end},
  {"gather dim -2 of a transposed input", function(a) return a:gather(-2, I({{1, 3, 3}, {2, 2, 1}})) end,
   function() return {randn_t(3, 3)} end},
  {"gather 3-D, smaller index", function(a) return a:gather(3, I({{{2}, {1}}})) end, function() return {randn(2, 2, 3)} end},
  -- scatter / scatter_add
  {"scatter src", function(a, s) return a:scatter(2, I({{1, 3}, {3, 2}}), s) end, function() return {randn(2, 3), randn(2, 2)} end},
  {"scatter src larger than index", function(a, s) return a:scatter(1, I({{2}, {1}}), s) end,
   function() return {randn(2, 3), randn(3, 2)} end},
  {"scatter value", function(a) return a:scatter(-1, I({{3}, {1}}), 2.5) end, function() return {randn(2, 3)} end},
  {"scatter_add repeated indices", function(a, s) return a:scatter_add(2, I({{1, 1, 3}, {2, 2, 2}}), s) end,
   function() return {randn(2, 3), randn(2, 3)} end},
  {"scatter_add into a transposed input", function(a, s) return a:scatter_add(1, I({{3, 1}}), s) end,
   function() return {randn_t(3, 2), randn(1, 2)} end},
  {"scatter reduce add", function(a, s) return a:scatter(2, I({{1, 1}}), s, {reduce = 'add'}) end,
   function() return {randn(1, 3), randn(1, 2)} end},
  -- index_add
  {"index_add repeated indices", function(a, s) return a:index_add(1, I({2, 2, 1}), s) end,
   function() return {randn(3, 2), randn(3, 2)} end},
  {"index_add alpha, dim -1, transposed source", function(a, s) return a:index_add(-1, I({3, 1}), s, {alpha = -1.5}) end,
   function() return {randn(2, 3), randn_t(2, 2)} end},
  -- masks
  {"masked_fill", function(a) return a:masked_fill(B({{true, false, true}, {false, false, true}}), 0.5) end,
   function() return {randn(2, 3)} end},
  {"masked_fill broadcasting the input", function(a) return a:masked_fill(B({{true, false}, {false, true}}), 1) end,
   function() return {randn(2, 1)} end},
  {"masked_fill with a value tensor", function(a, v) return a:masked_fill(B({true, false, true}), v) end,
   function() return {randn(2, 3), randn()} end},
  {"masked_select", function(a) return a:masked_select(B({{true, false, true}, {false, true, true}})) end,
   function() return {randn(2, 3)} end},
  {"masked_select broadcast mask", function(a) return a:masked_select(B({false, true, true})) end,
   function() return {randn_t(3, 3)} end},
  {"masked_scatter", function(a, s) return a:masked_scatter(B({{true, false}, {true, true}}), s) end,
   function() return {randn(2, 2), randn(2, 3)} end},
  -- joining and splitting
  {"cat three along dim -1", function(a, b, c) return ag.cat({a, b, c}, -1) end,
   function() return {randn(2, 1), randn(2, 3), randn_t(2, 2)} end},
  {"cat with an empty and a legacy [0] tensor", function(a, b, c) return ag.cat({a, b, c}) end,
   function() return {randn(0, 3), randn(2, 3), randn(0)} end},
  {"cat float32 with float64", function(a) return ag.cat({a, ag.ones(1, 2)}) end, function() return {randn(2, 2)} end},
  {"stack dim 2", function(a, b) return ag.stack({a, b}, 2) end, function() return {randn(2, 3), randn_t(2, 3)} end},
  {"stack dim -1", function(a, b) return ag.stack({a, b}, -1) end, function() return {randn(3), randn(3)} end},
  {"split by size (all pieces)", function(a) return a:split(2) end, function() return {randn(5, 2)} end},
  {"split by sizes, dim -1", function(a) return a:split({1, 0, 2}, -1) end, function() return {randn_t(2, 3)} end},
  {"chunk", function(a) return a:chunk(3, 2) end, function() return {randn(2, 7)} end},
  {"unbind dim 2", function(a) return a:unbind(2) end, function() return {randn(2, 3)} end},
  -- rearranging
  {"flip", function(a) return a:flip({1, -1}) end, function() return {randn(2, 3, 2)} end},
  {"flip transposed", function(a) return a:flip(1) end, function() return {randn_t(3, 2)} end},
  {"roll flat", function(a) return a:roll(4) end, function() return {randn(2, 3)} end},
  {"roll dims", function(a) return a:roll({-1, 2}, {2, 1}) end, function() return {randn_t(3, 4)} end},
  {"repeat", function(a) return a['repeat'](a, 2, 1, 3) end, function() return {randn(2, 2)} end},
  {"repeat of a transposed input", function(a) return a:repeat_tensor(1, 2) end, function() return {randn_t(2, 3)} end},
  {"repeat with a zero", function(a) return a:repeat_tensor(0, 2) end, function() return {randn(3)} end},
  -- triangles and diagonals
  {"tril", function(a) return a:tril() end, function() return {randn(3, 4)} end},
  {"triu -1 batched", function(a) return a:triu(-1) end, function() return {randn(2, 3, 3)} end},
  {"diag of a vector, offset 1", function(a) return a:diag(1) end, function() return {randn(3)} end},
  {"diag of a matrix, offset -1", function(a) return a:diag(-1) end, function() return {randn_t(3, 4)} end},
  {"diagonal", function(a) return a:diagonal(1, -1, 1) end, function() return {randn(3, 2, 4)} end},
  -- pad
  {"pad constant with cropping", function(a) return ag.pad(a, {1, -1, 2, 0}, {value = 3}) end, function() return {randn(2, 3)} end},
  {"pad reflect 2-D", function(a) return ag.pad(a, {1, 2, 2, 1}, 'reflect') end, function() return {randn(1, 3, 4)} end},
  {"pad replicate", function(a) return ag.pad(a, {2, 1}, 'replicate') end, function() return {randn_t(2, 3)} end},
  {"pad circular", function(a) return ag.pad(a, {1, 2, 1, 0}, 'circular') end, function() return {randn(3, 3)} end},
  -- embedding
  {"embedding", function(w) return ag.embedding(w, I({{1, 4}, {4, 2}})) end, function() return {randn(4, 3)} end},
  -- (padding_idx and scale_grad_by_freq change the gradient on purpose: checked by value below)
}

describe("gradcheck of the shape and indexing ops", function()
  for _, c in ipairs(cases) do
    it(c[1], function()
      ag.manual_seed(7)
      assert.is_true(gradcheck(c[2], c[3]()))
    end)
  end
end)

local double_cases = {
  {"index_select <-> index_add", function(a) return a:index_select(2, I({3, 1, 3})) end, function() return {randn(2, 3)} end},
  {"gather <-> scatter_add", function(a) return a:gather(1, I({{2, 1}, {2, 2}})) end, function() return {randn(2, 2)} end},
  {"scatter_add", function(a, s) return a:scatter_add(2, I({{1, 1}}), s) end, function() return {randn(1, 2), randn(1, 2)} end},
  {"scatter src", function(a, s) return a:scatter(2, I({{2}}), s) end, function() return {randn(1, 2), randn(1, 2)} end},
  {"index_add", function(a, s) return a:index_add(1, I({2, 2}), s, 2) end, function() return {randn(2, 2), randn(2, 2)} end},
  {"embedding with padding_idx", function(w) return ag.embedding(w, I({1, 2, 2}), {padding_idx = 1}) end,
   function() return {randn(2, 2)} end},
  {"masked_select <-> masked_scatter", function(a) return a:masked_select(B({true, false, true})) end,
   function() return {randn(2, 3)} end},
  {"masked_fill", function(a) return a:masked_fill(B({true, false}), 1) end, function() return {randn(2)} end},
  {"cat and split", function(a, b) local p, q = ag.cat({a, b}, 2):split({1, 2}, 2) return p * q:sum(2, true) end,
   function() return {randn(2, 1), randn(2, 2)} end},
  {"stack and unbind", function(a) local p, q = ag.stack({a, a * 2}):unbind(2) return p * q end, function() return {randn(2, 2)} end},
  {"diagonal <-> diagonal_backward", function(a) return a:diagonal(1) end, function() return {randn(2, 3)} end},
  {"diag of a vector", function(a) return a:diag() * 3 end, function() return {randn(2)} end},
  {"pad reflect", function(a) return ag.pad(a, {2, 1}, 'reflect') end, function() return {randn(1, 4)} end},
  {"pad constant", function(a) return ag.pad(a, {1, -1}) end, function() return {randn(2, 2)} end},
  {"repeat", function(a) return a:repeat_tensor(2, 2) end, function() return {randn(1, 2)} end},
  {"flip, roll, tril", function(a) return a:flip(1):roll(1, 2):tril() end, function() return {randn(2, 2)} end},
}

describe("gradgradcheck of the shape and indexing ops", function()
  for _, c in ipairs(double_cases) do
    it(c[1], function()
      ag.manual_seed(11)
      assert.is_true(gradgradcheck(c[2], c[3]()))
    end)
  end
end)

describe("autograd of the shape and indexing ops", function()
  it("names its nodes as PyTorch does", function()
    local x = ag.randn(3, 4, {requires_grad = true})
    local names = {
      {x:index_select(1, I({1})), 'IndexSelectBackward0'}, {x:gather(2, I({{1}})), 'GatherBackward0'},
      {x:scatter(2, I({{1}}), x), 'ScatterBackward0'}, {x:scatter(2, I({{1}}), 0), 'ScatterBackward1'},
      {x:scatter_add(2, I({{1}}), x), 'ScatterAddBackward0'}, {x:index_add(1, I({1}), x:narrow(1, 1, 1)), 'IndexAddBackward0'},
      {x:masked_fill(x:gt(0), 0), 'MaskedFillBackward0'}, {x:masked_select(x:gt(0)), 'MaskedSelectBackward0'},
      {ag.cat({x, x}), 'CatBackward0'}, {ag.stack({x, x}), 'StackBackward0'}, {(x:split(2)), 'SplitBackward0'},
      {(x:split({1, 2})), 'SplitWithSizesBackward0'}, {(x:chunk(2)), 'SplitBackward0'}, {(x:unbind()), 'UnbindBackward0'},
      {x:flip(1), 'FlipBackward0'}, {x:roll(1, 1), 'RollBackward0'}, {x:tril(), 'TrilBackward0'}, {x:triu(), 'TriuBackward0'},
      {x:diag(), 'DiagBackward0'}, {x:diagonal(), 'DiagonalBackward0'}, {ag.pad(x, {1, 1}), 'ConstantPadNdBackward0'},
      {ag.pad(x:view(1, 3, 4), {1, 1}, 'reflect'), 'ReflectionPad1DBackward0'},
      {ag.pad(x:view(1, 1, 3, 4), {1, 1, 1, 1}, 'replicate'), 'ReplicationPad2DBackward0'},
      {x['repeat'](x, 2, 1), 'RepeatBackward0'}, {ag.embedding(x, I({1})), 'EmbeddingBackward0'},
    }
    for k, c in ipairs(names) do assert.are.equal(c[2], c[1].grad_fn:name(), 'case ' .. k) end
  end)

  it("gives index_select's gradient as counts of each row's uses", function()
    local x = ag.ones(3, 2, {requires_grad = true})
    x:index_select(1, I({3, 1, 3, 3})):sum():backward()
    assert.are.same({{1, 1}, {0, 0}, {3, 3}}, x.grad:totable())
  end)

  it("embedding leaves the padding row's gradient zero and sums repeated rows", function()
    local w = ag.randn(4, 3, {requires_grad = true})
    ag.embedding(w, I({{2, 4, 2}, {4, 1, 2}}), {padding_idx = 4}):sum():backward()
    assert.are.same({{1, 1, 1}, {3, 3, 3}, {0, 0, 0}, {0, 0, 0}}, w.grad:totable())
  end)

  it("embedding's scale_grad_by_freq divides each row's gradient by its count", function()
    local w = ag.zeros(3, 2, {requires_grad = true, dtype = 'float64'})
    local g = ag.tensor({{1, 2}, {3, 4}, {5, 6}, {7, 8}}, {dtype = 'float64'})
    ag.embedding(w, I({1, 1, 3, 1}), {scale_grad_by_freq = true}):backward(g)
    assert.is_true(w.grad:allclose(ag.tensor({{11 / 3, 14 / 3}, {0, 0}, {5, 6}}, {dtype = 'float64'}), 1e-12, 1e-12))
  end)

  it("embedding's gradient is exact for a large vocabulary (threaded path)", function()
    local w = ag.zeros(1000, 128, {requires_grad = true})
    local idx = ag.randint(1, 1001, {4096}):long()
    ag.embedding(w, idx):sum():backward()
    local counts = ag.zeros(1000):index_add(1, idx, ag.ones(4096))
    assert.is_true(w.grad:equal(counts:view(1000, 1):expand(1000, 128)))
  end)

  it("split and unbind pass zeros to the pieces that got no gradient", function()
    local x = ag.ones(5, {requires_grad = true})
    local _, b = x:split(2)
    local s = (b * 3):sum()
    s:backward()
    assert.are.same({0, 0, 3, 3, 0}, x.grad:totable())
    local y = ag.ones(2, 3, {requires_grad = true})
    local _, _, c = y:unbind(2)
    c:sum():backward()
    assert.are.same({{0, 0, 1}, {0, 0, 1}}, y.grad:totable())
  end)

  it("in-place masked_fill_, scatter_ and index_add_ record on non-leaf tensors", function()
    local x = ag.randn(2, 3, {requires_grad = true, dtype = 'float64'})
    local y = x * 2
    y:masked_fill_(B({{true, false, false}, {false, false, true}}), 0)
    y:index_add_(1, I({1}), ag.ones(1, 3, {dtype = 'float64'}))
    y:scatter_(2, I({{2}, {2}}), 7)
    y:sum():backward()
    assert.are.same({{0, 0, 2}, {2, 0, 0}}, x.grad:totable())
    assert.are.equal('ScatterBackward1', y.grad_fn:name())
  end)

  it("in-place ops refuse a leaf that requires grad, as PyTorch", function()
    local x = ag.zeros(3, {requires_grad = true})
    local ok, err = pcall(function() x:masked_fill_(B({true, false, true}), 1) end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find('a leaf Variable that requires grad is being used in an in-place operation', 1, true))
    ok, err = pcall(function() x:split(1)[1]:zero_() end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find('view of a leaf Variable', 1, true))
  end)

  it("index_add_ into zeros gives the source a gradient", function()
    local s = ag.randn(2, 2, {requires_grad = true})
    local z = ag.zeros(3, 2)
    z:index_add_(1, I({3, 1}), s)
    assert.is_true(z.requires_grad)
    local loss = (z * ag.tensor({{1, 1}, {0, 0}, {2, 2}})):sum()
    loss:backward()
    assert.are.same({{2, 2}, {1, 1}}, s.grad:totable())
  end)

  it("refuses to differentiate scatter with reduce = 'multiply'", function()
    local x = ag.ones(2, {requires_grad = true})
    local ok, err = pcall(function() return x:scatter(1, I({1}), ag.ones(1), 'multiply') end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("reduce='multiply' is not implemented", 1, true))
    assert.are.same({1, 1}, ag.no_grad(function() return x:scatter(1, I({1}), ag.ones(1), 'multiply') end):totable())
  end)

  it("integer inputs record nothing", function()
    local r = ag.cat({I({1}), I({2})})
    assert.is_nil(r.grad_fn)
    assert.is_false(r.requires_grad)
  end)
end)
