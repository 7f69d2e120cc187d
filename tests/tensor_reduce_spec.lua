-- tensor_reduce_spec.lua: reductions over everything or over dims, with keepdim and
-- negative dims: sum, mean, prod, max/min (values and 1-based indices), argmax/argmin,
-- var and std (unbiased by default), and their result dtypes. Expected values are
-- hand-computed or PyTorch 1.13's answers.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')

local a = ag.tensor({{1, 5, 2}, {4, 3, 6}})
-- x = torch.arange(24.).view(2, 3, 4).sin()
local x = ag.arange(24):float():view(2, 3, 4):sin()

describe("sum, mean and prod", function()
  it("reduce everything to a 0-dim tensor", function()
    local s = a:sum()
    assert.are.same({}, s.shape)
    assert.are.equal(21, s:item())
    assert.are.equal(3.5, a:mean():item())
    assert.are.equal(720, a:prod():item())
  end)

  it("reduce one 1-based dim", function()
    U.same(a:sum(1), {5, 8, 8})
    U.same(a:sum(2), {8, 13})
    U.same(a:mean(1), {2.5, 4, 4})
    U.same(a:prod(2), {10, 72})
  end)

  it("keep the reduced dim with keepdim", function()
    U.same(a:sum(2, true), {{8}, {13}})
    U.close(a:mean(2, true), {{2.6666667461395264}, {4.333333492279053}})
    assert.are.same({1, 3}, a:mean(1, true).shape)
    assert.are.same({1, 1}, a:sum({1, 2}, true).shape)
  end)

  it("count negative dims from the end", function()
    U.close(x:sum(-1), {{1.8918883800506592, -1.338155746459961, -0.14253461360931396},
                        {1.524489402770996, -1.85041081905365, 0.8945292234420776}}, 1e-6)
    U.close(x:mean(-2), {{0.07751858234405518, 0.09822171926498413, 0.028620263561606407, -0.06729453802108765},
                         {0.029489675536751747, 0.09847503900527954, 0.0769229456782341, -0.01535177230834961}}, 1e-6)
  end)

  it("reduce a table of dims", function()
    -- x.sum((0, 2))
    U.close(x:sum({1, 3}), {3.4163777828216553, -3.1885666847229004, 0.7519946098327637}, 1e-6)
    U.same(a:sum({-1, -2}), 21)
  end)

  it("take {dim =, keepdim =} as options, and ag.sum(t, dim)", function()
    U.same(a:sum({dim = 2, keepdim = true}), {{8}, {13}})
    U.same(ag.sum(a, 1), {5, 8, 8})
    U.same(ag.mean(a), 3.5)
  end)

  it("reduce non-contiguous views", function()
    U.same(a:t():sum(1), {8, 13})
    U.same(ag.tensor({1, 2}):expand(3, 2):sum(1), {3, 6})
  end)

  it("give the identity on empty input, as PyTorch", function()
    assert.are.equal(0, ag.zeros(0):sum():item())
    assert.are.equal(1, ag.zeros(0):prod():item())
    U.same(ag.zeros(2, 0):sum(2), {0, 0})
    local m = ag.zeros(0):mean():item()
    assert.is_true(m ~= m)
  end)

  it("sum integers and bools into int64", function()
    local s = ag.tensor({1, 2, 3}, {dtype = 'int32'}):sum()
    assert.are.equal('int64', s.dtype)
    assert.are.equal(6, s:item())
    assert.are.equal('int64', ag.tensor({true, true, false}):sum().dtype)
    assert.are.equal(2, ag.tensor({true, true, false}):sum():item())
    assert.are.equal('int64', ag.tensor({2, 3}, {dtype = 'uint8'}):prod().dtype)
  end)

  it("keep float64", function()
    local s = ag.tensor({0.1, 0.2}, {dtype = 'float64'}):sum()
    assert.are.equal('float64', s.dtype)
    assert.are.equal(0.1 + 0.2, s:item())
  end)
end)

describe("reductions of long tensors (folded in parallel blocks)", function()
  local n = 100001
  it("sum exactly where the answer is exact", function()
    assert.are.equal(n, ag.ones(n):sum():item())
    assert.are.equal(n * (n - 1) / 2, ag.arange(n):sum():item())                 -- int64
    assert.are.equal(n * (n - 1) / 2, ag.arange(n):double():sum():item())        -- float64
    assert.are.equal((n - 1) / 2, ag.arange(n):double():mean():item())
  end)
  it("find max, min, all and any anywhere in the run", function()
    local t = ag.zeros(n)
    t[n] = 5
    t[77777] = -3
    assert.are.equal(5, t:max():item())
    assert.are.equal(-3, t:min():item())
    assert.is_false(t:eq(0):all():item())
    assert.is_true(t:eq(5):any():item())
    assert.are.equal(n, t:argmax():item())
  end)
  it("propagate a NaN from any block", function()
    local t = ag.ones(n)
    t[50000] = 0 / 0
    for _, r in ipairs({t:sum(), t:max(), t:min(), t:mean()}) do
      local v = r:item()
      assert.is_true(v ~= v)
    end
  end)
  it("reduce a long strided run", function()
    local m = ag.ones(n, 2)
    m:select(2, 2):mul_(3)
    assert.are.equal(3 * n, m:select(2, 2):sum():item())
    U.same(m:sum(1), {n, 3 * n})
  end)
end)

describe("max and min", function()
  it("without a dim return a 0-dim tensor", function()
    local m = a:max()
    assert.are.same({}, m.shape)
    assert.are.equal(6, m:item())
    assert.are.equal(1, a:min():item())
    assert.are.equal('float32', m.dtype)
  end)

  it("with a dim return values and 1-based int64 indices", function()
    local v, i = a:max(2)
    U.same(v, {5, 6})
    U.same(i, {2, 3})
    assert.are.equal('int64', i.dtype)
    v, i = a:min(1)
    U.same(v, {1, 3, 2})
    U.same(i, {1, 2, 1})
  end)

  it("keep the dim with keepdim and take negative dims", function()
    local v, i = a:max(-1, true)
    U.same(v, {{5}, {6}})
    U.same(i, {{2}, {3}})
    v, i = x:max(-1)
    U.close(v, {{0.9092974066734314, 0.6569865942001343, 0.9893582463264465},
                {0.9906073808670044, 0.14987720549106598, 0.9129452705383301}})
    U.same(i, {{3, 4, 1}, {3, 4, 1}})
  end)

  it("pick the first index on ties", function()
    local v, i = ag.tensor({3, 1, 3}):max(1)
    assert.are.equal(3, v:item())
    assert.are.equal(1, i:item())
  end)

  it("propagate NaN, as PyTorch", function()
    local v, i = ag.tensor({{1, 0 / 0}, {3, 4}}):max(2)
    local vt = v:totable()
    assert.is_true(vt[1] ~= vt[1])
    assert.are.equal(4, vt[2])
    U.same(i, {2, 2})
    local m = ag.tensor({1, 0 / 0, 3}):max():item()
    assert.is_true(m ~= m)
  end)

  it("keep integer dtypes", function()
    local i = ag.tensor({3, -7, 5}, {dtype = 'int32'})
    assert.are.equal('int32', i:max().dtype)
    assert.are.equal(-7, i:min():item())
  end)

  it("with a tensor argument are the elementwise maximum/minimum", function()
    U.same(a:max(ag.full({2, 3}, 3)), {{3, 5, 3}, {4, 3, 6}})
    U.same(a:min(ag.tensor({2, 2, 2})), {{1, 2, 2}, {2, 2, 2}})
  end)
end)

describe("argmax and argmin", function()
  it("over everything give a 1-based index into the flattened tensor", function()
    assert.are.equal(6, a:argmax():item())
    assert.are.equal(1, a:argmin():item())
    assert.are.same({}, a:argmax().shape)
    -- x.argmax() == 14 and x.argmin() == 11 (0-based)
    assert.are.equal(15, x:argmax():item())
    assert.are.equal(12, x:argmin():item())
  end)

  it("along a dim give 1-based indices, with keepdim", function()
    U.same(a:argmax(2), {2, 3})
    U.same(a:argmin(1, true), {{1, 2, 1}})
    assert.are.equal('int64', a:argmax(2).dtype)
  end)
end)

describe("var and std", function()
  it("are unbiased (divide by n - 1) by default", function()
    -- mean 3.5, squared deviations sum to 17.5, / 5
    assert.are.equal(3.5, a:var():item())
    U.close(a:std(), 1.8708287477493286)
    U.same(a:var(1), {4.5, 2, 8})
    U.close(a:var(2), {4.333333492279053, 2.3333332538604736})
    U.close(a:std(2), {2.0816659927368164, 1.5275251865386963})
  end)

  it("divide by n with unbiased = false", function()
    U.close(a:var(2, false), {2.8888888359069824, 1.5555555820465088})
    U.same(a:std(1, {unbiased = false}), {1.5, 1, 2})
    U.same(a:var({dim = 1, unbiased = false}), {2.25, 1, 4})
  end)

  it("take keepdim and negative dims", function()
    U.close(a:var(-1, {keepdim = true}), {{4.333333492279053}, {2.3333332538604736}})
    U.close(x:var(2), {{0.7667762041091919, 0.8842541575431824, 0.5991982221603394, 0.718970537185669},
                       {0.6008294820785522, 0.8858630657196045, 0.7638058662414551, 0.580359697341919}})
    U.close(x:std(), 0.7124143242835999)
  end)

  it("compute float64 in double precision", function()
    local xd = ag.arange(24):double():view(2, 3, 4):sin()
    U.close(xd:var(3), {{0.21999987907921784, 0.5181083480170902, 0.8131772471030069},
                        {0.4292037085793919, 0.24587113516707323, 0.6831944649501129}}, 1e-14)
  end)

  it("give NaN for a single element (n - 1 = 0)", function()
    local v = ag.tensor({5}):var():item()
    assert.is_true(v ~= v)
    assert.are.equal(0, ag.tensor({5}):var(1, false):item())
  end)
end)
