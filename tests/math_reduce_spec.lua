-- math_reduce_spec.lua: the math family's reductions and scans: logsumexp, norm (p = 0, 1,
-- 2, inf, -inf, any p, 'fro'), cumsum, cumprod (with zeros), all/any over dims, sort,
-- argsort and topk (values and 1-based indices). Values and gradients of sum(y * w), with
-- w = 1, 2, 3, ... over y, are PyTorch 1.13's answers; every op over everything, one dim,
-- several dims, keepdim and negative dims; float64 gradcheck and gradgradcheck; errors.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function x64() return ag.tensor({{0.5, -1.2, 2.0}, {1.5, 0.3, -0.7}}, {dtype = 'float64', requires_grad = true}) end
-- the gradient of sum(y * w) for w = 1, 2, 3, ... in y's shape
local function grad_of(f, x)
  local y = f(x)
  local w = ag.arange(1, y:numel() + 1):double():view(y.shape)
  return y, ag.autograd.grad((y * w):sum(), x)
end
local function check(f, want_y, want_g, node)
  local y, g = grad_of(f, x64())
  U.close(y, want_y, 1e-12, 'value')
  U.close(g, want_g, 1e-12, 'gradient')
  if node then assert.are.equal('<' .. node .. '>', tostring(y.grad_fn)) end
end
local function leaf(t) return ag.tensor(t, {dtype = 'float64', requires_grad = true}) end
local function randn(...) return ag.randn(...):double():requires_grad_() end

describe("logsumexp", function()
  it("over everything, one dim, several dims, keepdim and negative dims (PyTorch's values and gradients)", function()
    check(function(x) return x:logsumexp() end, 2.751563276262578,
          {{0.10523458517796226, 0.01922462487253782, 0.4716286902136336}, {0.2860572606146804, 0.08615879117260206, 0.03169604794858384}},
          'LogsumexpBackward0')
    check(function(x) return x:logsumexp({1, 2}) end, 2.751563276262578,
          {{0.10523458517796226, 0.01922462487253782, 0.4716286902136336}, {0.2860572606146804, 0.08615879117260206, 0.03169604794858384}})
    check(function(x) return ag.logsumexp(x, -1) end, {2.234196137135798, 1.8450052766575145},
          {{0.17654205886637114, 0.03225132545723402, 0.7912066156763948}, {1.4164332328828189, 0.4266214913043933, 0.15694527581278753}})
    check(function(x) return x:logsumexp(1, true) end, {{1.8132616875182228, 0.5014132779827525, 2.0650435617765903}},
          {{0.2689414213699951, 0.36485104761271264, 2.811079931829011}, {0.7310585786300049, 1.635148952387287, 0.18892006817098958}})
    check(function(x) return x:logsumexp({dim = 1, keepdim = true}) end, {{1.8132616875182228, 0.5014132779827525, 2.0650435617765903}},
          {{0.2689414213699951, 0.36485104761271264, 2.811079931829011}, {0.7310585786300049, 1.635148952387287, 0.18892006817098958}})
  end)

  it("is stable for large inputs and exact for infinities", function()
    local x = leaf({1000, 1000, -1000})
    local y = x:logsumexp()
    U.close(y, 1000 + math.log(2), 1e-14)
    y:backward()
    U.close(x.grad, {0.5, 0.5, 0}, 1e-12)
    U.close(ag.tensor({-math.huge, -math.huge}):logsumexp(), -math.huge)
    U.close(ag.tensor({math.huge, 1}):logsumexp(), math.huge)
    U.close(ag.tensor({{-math.huge, 0}, {1, 2}}):logsumexp(2), {0, 2.3132617473602295}, 1e-6)
    U.close(ag.tensor({1e30, -1e30}, {dtype = 'float32'}):logsumexp(), 1e30, 1e-6)
  end)

  it("gives -inf for empty reductions and float32 for integer input, as PyTorch", function()
    U.close(ag.zeros(0):logsumexp(1), -math.huge)
    U.close(ag.zeros(0, 2):logsumexp(1), {-math.huge, -math.huge})
    local r = ag.tensor({{1, 2}, {3, 4}}, {dtype = 'int64'}):logsumexp(2)
    assert.are.equal('float32', r.dtype)
    U.close(r, {2.3132617473602295, 4.31326150894165}, 1e-6)
  end)

  it("passes gradcheck and gradgradcheck over dims", function()
    for _, dims in ipairs({{nil, false}, {2, false}, {-1, true}, {{1, 3}, false}, {{-1, -3}, true}}) do
      local f = function(x) return x:logsumexp(dims[1], dims[2]) end
      assert.is_true(gradcheck(f, {randn(2, 3, 2)}))
      assert.is_true(gradgradcheck(f, {randn(2, 3, 2)}))
    end
  end)

  it("raises clear errors for bad dims", function()
    U.raises(function() ag.ones(2, 3):logsumexp(3) end, 'ag.logsumexp', 'dimension out of range')
    U.raises(function() ag.ones(2, 3):logsumexp(0) end, 'ag.logsumexp', 'dimension 0 is invalid')
    U.raises(function() ag.ones(2, 3):logsumexp({1, -2}) end, 'ag.logsumexp: dim 1 appears multiple times')
  end)
end)

describe("norm", function()
  it("p = 2 (the default and 'fro') over everything, with PyTorch's NormBackward1", function()
    local g2 = {{0.17129717745688292, -0.411113225896519, 0.6851887098275317}, {0.5138915323706488, 0.10277830647412975, -0.23981604843963608}}
    check(function(x) return x:norm() end, 2.9189039038652846, g2, 'NormBackward1')
    check(function(x) return x:norm('fro') end, 2.9189039038652846, g2)
    check(function(x) return ag.norm(x, 2, {1, 2}) end, 2.9189039038652846, g2)
  end)

  it("p = 1, 3, 0.5, -1, inf and -inf over dims, keepdim and negative dims (PyTorch's values and gradients)", function()
    check(function(x) return x:norm(1, 2) end, {3.7, 2.5}, {{1, -1, 1}, {2, 2, -2}})
    check(function(x) return x:norm(3, -1, true) end, {{2.1438258054435675}, {1.552925449749808}},
          {{0.05439525539032699, -0.3133166710482834, 0.8703240862452318}, {1.8659985377501034, 0.07463994151000414, -0.40637301488780025}})
    check(function(x) return x:norm({p = 0.5, dim = 1}) end, {3.7320508075688767, 2.7, 5.066431913239846},
          {{2.7320508075688767, -3.0, 4.774823934929884}, {1.577350269189626, 6.0, -8.070925528371099}})
    check(function(x) return x:norm(-1) end, 0.11413043478260869,
          {{0.05210302457466918, -0.009045663988657844, 0.0032564390359168236}, {0.00578922495274102, 0.1447306238185255, -0.026583175803402647}})
    check(function(x) return x:norm(math.huge, 2) end, {2.0, 1.5}, {{0, 0, 1}, {2, 0, 0}})
    check(function(x) return x:norm('-inf', 1) end, {0.5, 0.3, 0.7}, {{1, 0, 0}, {0, 2, -3}})
    U.close(x64():norm(0), 6)
    U.close(ag.tensor({{0, 1}, {0, 0}}):norm(0, 2), {1, 0})
  end)

  it("has PyTorch's subgradients: 0 at the zero vector, 0 at zero entries for p < 1, ties split for inf", function()
    local z = leaf({0, 0})
    z:norm():backward()
    U.same(z.grad, {0, 0})
    local y = leaf({0, 1, 4})
    y:norm(0.5):backward()
    U.close(y.grad, {0, 3, 1.5}, 1e-14)
    local t = leaf({1, -3, 3, 2})
    t:norm(math.huge):backward()
    U.close(t.grad, {0, -0.5, 0.5, 0}, 1e-14)
    local m = leaf({1, -3, 1, 2})
    m:norm(-math.huge):backward()
    U.close(m.grad, {0.5, 0, 0.5, 0}, 1e-14)
    local q = leaf({0, 1, -4})
    q:norm(3):backward()
    U.close(q.grad, {0, 0.06185731936290858, -0.9897171098065373}, 1e-14)
    local r = leaf({2, 0, -4})   -- p = -1 with a zero entry: the norm is 0, and so is the gradient
    local n = r:norm(-1)
    U.close(n, 0)
    n:backward()
    U.same(r.grad, {0, 0, 0})
    local p0 = leaf({0, 1, -4})
    p0:norm(0):backward()
    U.same(p0.grad, {0, 0, 0})
  end)

  it("is ag.linalg.vector_norm too (LinalgVectorNormBackward0)", function()
    local y = ag.linalg.vector_norm(x64(), 3, -1)
    assert.are.equal('<LinalgVectorNormBackward0>', tostring(y.grad_fn))
    U.close(y, {2.1438258054435675, 1.552925449749808}, 1e-12)
    U.close(ag.linalg.vector_norm(x64()), 2.9189039038652846, 1e-12)
  end)

  it("passes gradcheck and gradgradcheck for every p", function()
    for _, p in ipairs({2, 1, 3, 1.5, 0.5, -1, math.huge, -math.huge}) do
      for _, dims in ipairs({{nil, false}, {-1, true}, {{1, 3}, false}}) do
        local f = function(x) return x:norm(p, dims[1], dims[2]) end
        local x = leaf({{{0.5, -1.2}, {2.0, 0.3}}, {{1.5, -0.7}, {0.9, -2.4}}})
        assert.is_true(gradcheck(f, {x}), 'p = ' .. p)
        assert.is_true(gradgradcheck(f, {x}), 'p = ' .. p)
      end
    end
  end)

  it("raises clear errors", function()
    U.raises(function() ag.tensor({1, 2}, {dtype = 'int64'}):norm() end, 'ag.norm: expected a floating-point tensor', 'int64')
    U.raises(function() ag.ones(2, 2):norm('nuc') end, "ag.norm: the nuclear norm ('nuc') is not supported")
    U.raises(function() ag.ones(2, 2):norm('l2') end, 'ag.norm: p must be a number')
    U.raises(function() ag.ones(2, 2):norm(2, 3) end, 'ag.norm', 'dimension out of range')
    U.raises(function() ag.zeros(0):norm(math.huge) end, 'ag.norm: the inf norm of an empty tensor')
  end)
end)

describe("cumsum and cumprod", function()
  it("cumsum along a dim, negative dims too (PyTorch's values and gradients)", function()
    check(function(x) return x:cumsum(1) end, {{0.5, -1.2, 2.0}, {2.0, -0.9, 1.3}}, {{5, 7, 9}, {4, 5, 6}}, 'CumsumBackward0')
    check(function(x) return ag.cumsum(x, -1) end, {{0.5, -0.7, 1.3}, {1.5, 1.8, 1.1}}, {{6, 5, 3}, {15, 11, 6}})
    check(function(x) return x:cumsum({dim = 2}) end, {{0.5, -0.7, 1.3}, {1.5, 1.8, 1.1}}, {{6, 5, 3}, {15, 11, 6}})
  end)

  it("cumsum of integers and bools gives int64, as PyTorch", function()
    local r = ag.tensor({{1, 2}, {3, 4}}, {dtype = 'int32'}):cumsum(1)
    assert.are.equal('int64', r.dtype)
    U.same(r, {{1, 2}, {4, 6}})
    U.same(ag.tensor({true, false, true}):cumsum(1), {1, 1, 2})
    U.same(ag.tensor({1, 2, 3, 4}, {dtype = 'int64'}):cumprod(1), {1, 2, 6, 24})
  end)

  it("cumprod without zeros (PyTorch's values and gradients)", function()
    check(function(x) return x:cumprod(2) end, {{0.5, -0.6, -1.2}, {1.5, 0.45, -0.315}},
          {{-8.6, 4.0, -1.8}, {4.24, 1.2, 2.7}}, 'CumprodBackward0')
  end)

  it("cumprod with zeros in the input has PyTorch's gradient (no NaN from dividing by 0)", function()
    local z = leaf({{2, 0, 3, 0, 5}, {0, 2, 3, 4, 0.5}, {1, 2, 3, 4, 0}})
    local function g_of(dim)
      local y = z:cumprod(dim)
      return y, ag.autograd.grad((y * ag.arange(1, 16):double():view(3, 5)):sum(), z)
    end
    local y, g = g_of(2)
    U.same(y, {{2, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {1, 2, 6, 24, 0}})
    U.close(g, {{1, 22, 0, 0, 0}, {404, 0, 0, 0, 0}, {449, 219, 138, 84, 360}}, 1e-12)
    y, g = g_of(1)
    U.same(y, {{2, 0, 3, 0, 5}, {0, 0, 9, 0, 2.5}, {0, 0, 27, 0, 0}})
    U.close(g, {{1, 64, 144, 264, 10}, {34, 0, 141, 0, 50}, {0, 0, 117, 0, 37.5}}, 1e-12)
    local v = leaf({2, 0, 3, 0, 5})
    v:cumprod(1):sum():backward()
    U.same(v.grad, {1, 8, 0, 0, 0})
  end)

  it("pass gradcheck and gradgradcheck, with and without zeros, on transposed inputs", function()
    local zs = leaf({{2, 0, 3}, {0, 0.5, -1}, {1.5, 2, 0}})
    for _, dim in ipairs({1, 2, -1}) do
      assert.is_true(gradcheck(function(x) return x:cumsum(dim) end, {randn(3, 4)}))
      assert.is_true(gradgradcheck(function(x) return x:cumsum(dim) end, {randn(3, 4)}))
      assert.is_true(gradcheck(function(x) return x:cumprod(dim) end, {randn(3, 4)}))
      assert.is_true(gradgradcheck(function(x) return x:cumprod(dim) end, {randn(3, 4)}))
      assert.is_true(gradcheck(function(x) return x:cumprod(dim) end, {zs}))
      assert.is_true(gradgradcheck(function(x) return x:cumprod(dim) end, {zs}))
    end
    assert.is_true(gradcheck(function(x) return x:t():cumprod(2) end, {randn(3, 2)}))
    local two = leaf({{2, 0, 3, 0, 1}, {0, 0.5, -1, 1, 2}})   -- two zeros in a line
    assert.is_true(gradcheck(function(x) return x:cumprod(2) end, {two}))
    assert.is_true(gradgradcheck(function(x) return x:cumprod(2) end, {two}))
    assert.is_true(gradgradcheck(function(x) return x:cumprod(1) end, {leaf(0)}))
  end)

  it("raise clear errors", function()
    U.raises(function() ag.ones(3):cumsum() end, "ag.cumsum: missing the required argument 'dim'")
    U.raises(function() ag.ones(3):cumprod(2) end, 'ag.cumprod', 'dimension out of range')
    U.raises(function() ag.ones(3):cumsum(0) end, 'ag.cumsum', 'dimension 0 is invalid')
  end)
end)

describe("all and any over dims", function()
  local b = ag.tensor({{true, false, true}, {true, true, true}})
  it("reduce everything, one dim, several dims, with keepdim and negative dims", function()
    assert.is_false(b:all():item())
    assert.is_true(b:any():item())
    U.same(b:all(1), {true, false, true})
    U.same(b:all(-1), {false, true})
    U.same(b:any(2, true), {{true}, {true}})
    U.same(ag.all(b, {1, 2}), false)
    U.same(b:logical_not():any({-2, -1}, true), {{true}})
    assert.are.equal('bool', ag.tensor({1.0, 0.0}):all(1).dtype)
    U.same(ag.tensor({{0.0, 2.0}, {0.0, 0.0}}):any(2), {true, false})
    U.same(ag.zeros(0):all(1), true)
    U.same(ag.zeros(0):any(1), false)
  end)
end)

describe("sort, argsort and topk", function()
  local x = ag.tensor({{3, 1, 2, 1, 5}, {0.5, 0 / 0, -1, 0.5, 2}}, {dtype = 'float64'})

  it("sort returns values and stable 1-based indices, NaN last ascending and first descending", function()
    local v, i = x:sort(2)
    U.close(v, {{1, 1, 2, 3, 5}, {-1, 0.5, 0.5, 2, 0 / 0}}, 0)
    assert.are.equal('int64', i.dtype)
    U.same(i, {{2, 4, 3, 1, 5}, {3, 1, 4, 5, 2}})
    v, i = x:sort({dim = -1, descending = true, stable = true})
    U.close(v, {{5, 3, 2, 1, 1}, {0 / 0, 2, 0.5, 0.5, -1}}, 0)
    U.same(i, {{5, 1, 3, 2, 4}, {2, 5, 1, 4, 3}})
    v, i = ag.sort(x, 1)
    U.close(v, {{0.5, 1, -1, 0.5, 2}, {3, 0 / 0, 2, 1, 5}}, 0)
    U.same(i, {{2, 1, 2, 2, 2}, {1, 2, 1, 1, 1}})
    U.same(x:argsort(2), {{2, 4, 3, 1, 5}, {3, 1, 4, 5, 2}})
    v, i = x:sort(true)   -- sort(descending) along the last dim
    U.same(i, {{5, 1, 3, 2, 4}, {2, 5, 1, 4, 3}})
  end)

  it("sort keeps the dtype of integer and bool tensors, and handles 0-dim and empty", function()
    local v, i = ag.tensor({3, 1, 2}, {dtype = 'int64'}):sort()
    U.same(v, {1, 2, 3}); U.same(i, {2, 3, 1})
    v, i = ag.tensor({true, false, true}):sort()
    U.same(v, {false, true, true}); U.same(i, {2, 1, 3})
    v, i = ag.tensor(5.0):sort()
    U.same(v, 5); U.same(i, 1)
    v, i = ag.zeros(2, 0):sort(2)
    assert.are.same({2, 0}, v.shape); assert.are.same({2, 0}, i.shape)
  end)

  local y = function() return leaf({{0.5, -1.2, 2.0, 0.7}, {1.5, 0.3, -0.7, 2.5}, {0.1, 0.2, -2.2, 1.1}}) end

  it("sort's gradient flows through the values to the original positions (SortBackward0)", function()
    local t = y()
    local v, i = t:sort(1, true)
    assert.are.equal('<SortBackward0>', tostring(v.grad_fn))
    U.same(i, {{2, 2, 1, 2}, {1, 3, 2, 3}, {3, 1, 3, 1}})
    local loss = (v * ag.arange(1, 13):double():view(3, 4)):sum()
    loss:backward()
    U.same(t.grad, {{5, 10, 3, 12}, {1, 2, 7, 4}, {9, 6, 11, 8}})
  end)

  it("topk returns the k largest (or smallest) in order, with 1-based indices (TopkBackward0)", function()
    local t = y()
    local v, i = t:topk(2)
    U.close(v, {{2.0, 0.7}, {2.5, 1.5}, {1.1, 0.2}}, 0)
    U.same(i, {{3, 4}, {4, 1}, {4, 2}})
    assert.are.equal('<TopkBackward0>', tostring(v.grad_fn))
    local loss = (v * ag.tensor({{1, 2}, {3, 4}, {5, 6}}):double()):sum()
    loss:backward()
    U.same(t.grad, {{0, 0, 1, 2}, {4, 0, 0, 3}, {0, 6, 0, 5}})
    local t2 = y()
    v, i = ag.topk(t2, 2, 1, false)
    U.close(v, {{0.1, -1.2, -2.2, 0.7}, {0.5, 0.2, -0.7, 1.1}}, 0)
    U.same(i, {{3, 1, 3, 1}, {1, 3, 2, 3}})
    loss = (v * ag.arange(1, 9):double():view(2, 4)):sum()
    loss:backward()
    U.same(t2.grad, {{5, 2, 0, 4}, {0, 0, 7, 0}, {1, 6, 3, 8}})
    v, i = y():topk(3, {dim = -2, largest = true})
    U.same(i, {{2, 2, 1, 2}, {1, 3, 2, 3}, {3, 1, 3, 1}})
    assert.are.same({3, 0}, ({y():topk(0)})[1].shape)
  end)

  it("sort and topk pass gradcheck and gradgradcheck (negative dims, transposed input)", function()
    for _, f in ipairs({
      function(t) return (t:sort(1)) end, function(t) return (t:sort(-1, true)) end,
      function(t) return (t:topk(2)) end, function(t) return (t:topk(2, 1, false)) end,
      function(t) return (t:t():topk(1, -2)) end}) do
      assert.is_true(gradcheck(f, {y()}))
      assert.is_true(gradgradcheck(f, {y()}))
    end
  end)

  it("raise clear errors", function()
    U.raises(function() ag.ones(3):topk(4) end, 'ag.topk: k (4) is out of range for dimension 1 of size 3')
    U.raises(function() ag.ones(3):topk(-1) end, 'ag.topk: k (-1) is out of range')
    U.raises(function() ag.ones(3):topk(1.5) end, 'ag.topk: k must be an integer')
    U.raises(function() ag.ones(3):sort(2) end, 'ag.sort', 'dimension out of range')
    U.raises(function() ag.sort({1, 2}) end, 'ag.sort: expected a Tensor as argument 1')
  end)
end)
