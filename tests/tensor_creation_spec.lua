-- tensor_creation_spec.lua: making tensors: ag.tensor from nested tables, numbers and
-- booleans (default dtypes), zeros/ones/full/empty, arange, linspace, eye, the *_like
-- forms, and the seeded random factories (reproducibility and sane statistics).
-- Expected numbers are hand-computed or PyTorch 1.13's answers.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')

describe("ag.tensor", function()
  it("builds a float32 tensor from nested tables of numbers (Lua has no integers)", function()
    local t = ag.tensor({{1, 2, 3}, {4, 5, 6}})
    assert.are.equal('float32', t.dtype)
    assert.are.same({2, 3}, t.shape)
    U.same(t, {{1, 2, 3}, {4, 5, 6}})
  end)

  it("stores numbers rounded to float32", function()
    -- torch.tensor([0.1]).item() == 0.10000000149011612
    assert.are.equal(0.10000000149011612, ag.tensor({0.1}):item())
  end)

  it("makes a 0-dim tensor from a number", function()
    local t = ag.tensor(3.5)
    assert.are.same({}, t.shape)
    assert.are.equal(0, t:dim())
    assert.are.equal(1, t:numel())
    assert.are.equal(3.5, t:item())
  end)

  it("makes bool tensors from booleans", function()
    local t = ag.tensor({{true, false}, {false, true}})
    assert.are.equal('bool', t.dtype)
    U.same(t, {{true, false}, {false, true}})
    assert.are.equal('bool', ag.tensor(true).dtype)
    assert.are.equal(true, ag.tensor(true):item())
  end)

  it("gives float32 when booleans and numbers mix", function()
    local t = ag.tensor({true, 2})
    assert.are.equal('float32', t.dtype)
    U.same(t, {1, 2})
  end)

  it("honours a dtype option", function()
    local t = ag.tensor({1.9, -1.9, 3}, {dtype = 'int64'})
    assert.are.equal('int64', t.dtype)
    U.same(t, {1, -1, 3})                  -- truncation toward zero, as PyTorch
    assert.are.equal('float64', ag.tensor({0.1}, {dtype = 'float64'}).dtype)
    assert.are.equal(0.1, ag.tensor({0.1}, {dtype = 'float64'}):item())
  end)

  it("makes an empty 1-D tensor from {} and keeps zero-size inner dims", function()
    assert.are.same({0}, ag.tensor({}).shape)
    assert.are.same({2, 0}, ag.tensor({{}, {}}).shape)
  end)

  it("copies a tensor given as data", function()
    local a = ag.tensor({1, 2})
    local b = ag.tensor(a)
    assert.is_false(U.shares(a, b))
    b[1] = 10
    U.same(a, {1, 2})
  end)

  it("accepts one-element tensors as leaves", function()
    U.same(ag.tensor({ag.tensor(1), ag.tensor({2})}), {1, 2})
    local b = ag.tensor({ag.tensor(true), ag.tensor(false)})
    assert.are.equal('bool', b.dtype)
    U.same(b, {true, false})
  end)

  it("reads a large nested table quickly and in row-major order", function()
    local rows = {}
    for i = 1, 500 do
      local r = {}
      for j = 1, 400 do r[j] = i * 1000 + j end
      rows[i] = r
    end
    local t = ag.tensor(rows, {dtype = 'float64'})
    assert.are.same({500, 400}, t.shape)
    assert.are.equal(3007, t[3][7]:item())
    assert.are.equal(500400, t[500][400]:item())
  end)
end)

describe("zeros, ones, full, empty", function()
  it("take sizes as numbers or as one table", function()
    assert.are.same({2, 3}, ag.zeros(2, 3).shape)
    assert.are.same({2, 3}, ag.zeros({2, 3}).shape)
    U.same(ag.zeros(2, 2), {{0, 0}, {0, 0}})
    U.same(ag.ones({3}), {1, 1, 1})
  end)

  it("default to float32 and take {dtype = ...} last", function()
    assert.are.equal('float32', ag.zeros(2).dtype)
    assert.are.equal('float64', ag.zeros(2, 3, {dtype = 'float64'}).dtype)
    assert.are.equal('int32', ag.ones({2}, {dtype = 'int32'}).dtype)
    assert.are.equal('int64', ag.ones(2, {dtype = 'long'}).dtype)
    assert.are.equal('uint8', ag.zeros(1, {dtype = ag.uint8}).dtype)
  end)

  it("accept an empty options table after the sizes", function()
    assert.are.same({2, 3}, ag.zeros({2, 3}, {}).shape)
    assert.are.same({2, 3}, ag.ones(2, 3, {}).shape)
  end)

  it("make a 0-dim tensor when given no sizes", function()
    assert.are.same({}, ag.zeros().shape)
    assert.are.equal(1, ag.ones():item())
  end)

  it("allow zero-size dimensions", function()
    local t = ag.zeros(2, 0, 3)
    assert.are.same({2, 0, 3}, t.shape)
    assert.are.equal(0, t:numel())
  end)

  it("full fills with a value; a boolean value gives a bool tensor", function()
    U.same(ag.full({2, 2}, 7), {{7, 7}, {7, 7}})
    U.same(ag.full(3, 1.5), {1.5, 1.5, 1.5})
    local b = ag.full({2}, true)
    assert.are.equal('bool', b.dtype)
    U.same(b, {true, true})
    U.same(ag.full({2}, -2, {dtype = 'int64'}), {-2, -2})
  end)

  it("empty has the shape and dtype asked for", function()
    local t = ag.empty(4, 5, {dtype = 'float64'})
    assert.are.same({4, 5}, t.shape)
    assert.are.equal('float64', t.dtype)
    assert.are.equal(20, t:numel())
    assert.is_true(t:is_contiguous())
  end)
end)

describe("arange", function()
  it("excludes the end, as PyTorch", function()
    U.same(ag.arange(5), {0, 1, 2, 3, 4})
    U.same(ag.arange(1, 4), {1, 2, 3})
    U.same(ag.arange(-3, 3, 2), {-3, -1, 1})
  end)

  it("gives int64 for integral arguments and float32 otherwise", function()
    assert.are.equal('int64', ag.arange(5).dtype)
    assert.are.equal('float32', ag.arange(0.5, 2).dtype)
    U.same(ag.arange(0.5, 2), {0.5, 1.5})
    U.same(ag.arange(1, 2.5, 0.5), {1, 1.5, 2})
  end)

  it("counts ceil((end - start) / step) elements and rounds each to float32", function()
    -- torch.arange(0, 1, 0.1).tolist()
    U.same(ag.arange(0, 1, 0.1), {0.0, 0.10000000149011612, 0.20000000298023224, 0.30000001192092896,
      0.4000000059604645, 0.5, 0.6000000238418579, 0.699999988079071, 0.800000011920929, 0.8999999761581421})
  end)

  it("runs downward with a negative step", function()
    U.same(ag.arange(5, 0, -2), {5, 3, 1})
    U.same(ag.arange(0, -1, -0.25), {0, -0.25, -0.5, -0.75})
  end)

  it("takes a dtype option after the range", function()
    local b = ag.arange(0, 3, 1, {dtype = 'float64'})
    assert.are.equal('float64', b.dtype)
    U.same(b, {0, 1, 2})
    assert.are.equal('float32', ag.arange(3, {dtype = 'float32'}).dtype)
  end)

  it("is empty when start equals end", function()
    assert.are.same({0}, ag.arange(2, 2).shape)
  end)
end)

describe("linspace", function()
  it("includes both ends and matches PyTorch's float32 values", function()
    -- torch.linspace(0, 1, 7).tolist()
    U.same(ag.linspace(0, 1, 7), {0.0, 0.1666666716337204, 0.3333333432674408, 0.5, 0.6666666269302368,
                                  0.8333333134651184, 1.0})
    U.same(ag.linspace(-2, 3, 6), {-2, -1, 0, 1, 2, 3})
  end)

  it("computes float64 in double precision", function()
    local t = ag.linspace(0, 1, 7, {dtype = 'float64'})
    assert.are.equal('float64', t.dtype)
    U.same(t, {0.0, 0.16666666666666666, 0.3333333333333333, 0.5, 0.6666666666666667,
               0.8333333333333334, 1.0})
  end)

  it("gives the start alone for one step and nothing for zero steps", function()
    U.same(ag.linspace(-1, 1, 1), {-1})
    assert.are.same({0}, ag.linspace(0, 1, 0).shape)
  end)
end)

describe("eye", function()
  it("makes an identity matrix", function()
    U.same(ag.eye(3), {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})
    assert.are.equal('float32', ag.eye(2).dtype)
  end)

  it("makes a rectangular one with m columns and any dtype", function()
    local t = ag.eye(2, 3, {dtype = 'int64'})
    assert.are.equal('int64', t.dtype)
    U.same(t, {{1, 0, 0}, {0, 1, 0}})
    U.same(ag.eye(3, 2), {{1, 0}, {0, 1}, {0, 0}})
    U.same(ag.eye(2, {dtype = 'bool'}), {{true, false}, {false, true}})
  end)

  it("allows n = 0", function()
    assert.are.same({0, 0}, ag.eye(0).shape)
  end)
end)

describe("the *_like factories", function()
  local src = ag.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = 'float64'})

  it("copy the shape and dtype of their argument", function()
    local z = ag.zeros_like(src)
    assert.are.same({2, 3}, z.shape)
    assert.are.equal('float64', z.dtype)
    U.same(z, {{0, 0, 0}, {0, 0, 0}})
    U.same(ag.ones_like(src), {{1, 1, 1}, {1, 1, 1}})
    U.same(ag.full_like(src, 7), {{7, 7, 7}, {7, 7, 7}})
    assert.are.same({2, 3}, ag.empty_like(src).shape)
  end)

  it("take a dtype override", function()
    local o = ag.ones_like(src, {dtype = 'int32'})
    assert.are.equal('int32', o.dtype)
    U.same(o, {{1, 1, 1}, {1, 1, 1}})
    assert.are.equal('float32', ag.full_like(src, 2, {dtype = 'float32'}).dtype)
  end)

  it("include rand_like and randn_like", function()
    local r = ag.rand_like(src)
    assert.are.same({2, 3}, r.shape)
    assert.are.equal('float64', r.dtype)
    assert.are.same({2, 3}, ag.randn_like(src).shape)
  end)
end)

describe("random numbers", function()
  it("repeat exactly after manual_seed", function()
    ag.manual_seed(42)
    local a, b, c = ag.rand(5):totable(), ag.randn(5):totable(), ag.randint(0, 100, {5}):totable()
    ag.manual_seed(42)
    assert.are.same(a, ag.rand(5):totable())
    assert.are.same(b, ag.randn(5):totable())
    assert.are.same(c, ag.randint(0, 100, {5}):totable())
  end)

  it("differ between seeds and between successive draws", function()
    ag.manual_seed(1)
    local a = ag.rand(8):totable()
    local a2 = ag.rand(8):totable()
    ag.manual_seed(2)
    local b = ag.rand(8):totable()
    assert.are_not.same(a, b)
    assert.are_not.same(a, a2)
  end)

  it("restore a saved generator state", function()
    ag.manual_seed(7)
    ag.rand(3)
    local state = ag.get_rng_state()
    local x = ag.randn(4):totable()
    ag.set_rng_state(state)
    assert.are.same(x, ag.randn(4):totable())
    assert.are.equal(7, ag.initial_seed())
  end)

  it("rand is uniform on [0, 1): mean 1/2, variance 1/12", function()
    ag.manual_seed(0)
    local t = ag.rand(100000)
    assert.are.equal('float32', t.dtype)
    assert.is_true(t:min():item() >= 0)
    assert.is_true(t:max():item() < 1)
    assert.is_true(math.abs(t:mean():item() - 0.5) < 0.01)
    assert.is_true(math.abs(t:var():item() - 1 / 12) < 0.005)
    -- each tenth of the interval gets about a tenth of the draws
    for k = 0, 9 do
      local frac = t:ge(k / 10):logical_and(t:lt((k + 1) / 10)):sum():item() / 100000
      assert.is_true(math.abs(frac - 0.1) < 0.01, 'bucket ' .. k .. ' holds ' .. frac)
    end
  end)

  it("randn is standard normal: mean 0, std 1, about 68% within one std", function()
    ag.manual_seed(0)
    local t = ag.randn(100000, {dtype = 'float64'})
    assert.are.equal('float64', t.dtype)
    assert.is_true(math.abs(t:mean():item()) < 0.02)
    assert.is_true(math.abs(t:std():item() - 1) < 0.02)
    local inside = t:abs():lt(1):sum():item() / 100000
    assert.is_true(math.abs(inside - 0.6827) < 0.01)
  end)

  it("randint draws int64 integers in [low, high), each about equally often", function()
    ag.manual_seed(3)
    local t = ag.randint(-2, 3, {50000})
    assert.are.equal('int64', t.dtype)
    assert.are.equal(-2, t:min():item())
    assert.are.equal(2, t:max():item())
    for v = -2, 2 do
      local frac = t:eq(v):sum():item() / 50000
      assert.is_true(math.abs(frac - 0.2) < 0.01)
    end
  end)

  it("randint(high, size) starts at 0 and takes a dtype", function()
    local t = ag.randint(4, {2, 3}, {dtype = 'int32'})
    assert.are.same({2, 3}, t.shape)
    assert.are.equal('int32', t.dtype)
    assert.is_true(t:min():item() >= 0 and t:max():item() <= 3)
  end)

  it("randint fills the full range of a small dtype", function()
    ag.manual_seed(4)
    local u = ag.randint(250, 256, {600}, {dtype = 'uint8'})
    assert.are.equal(250, u:min():item())
    assert.are.equal(255, u:max():item())
  end)

  it("randperm is a 1-based permutation", function()
    ag.manual_seed(5)
    local p = ag.randperm(10):totable()
    table.sort(p)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, p)
  end)
end)
