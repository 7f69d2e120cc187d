-- index_ops_spec.lua: the ops driven by index tensors and masks, forward: index_select,
-- gather, scatter, scatter_add, index_add, masked_fill/select/scatter, embedding and
-- one_hot. Expected values are PyTorch 1.13's answers for the same inputs (its indices
-- shifted to ag's 1-based ones); errors quote the bad index, its dim and the dim's size.
local ag = require 'ag'

local function I(t) return ag.tensor(t, {dtype = 'int64'}) end
local function B(t) return ag.tensor(t, {dtype = 'bool'}) end
local function x34() return ag.arange(12):float():reshape(3, 4) end     -- {{0..3}, {4..7}, {8..11}}
local function same(expected, t) assert.are.same(expected, t:totable()) end
local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  assert.is_truthy(tostring(err):find(pattern, 1, true), 'message was: ' .. tostring(err))
end

describe("index_select", function()
  it("picks rows along a dim, repeating and reordering (1-based)", function()
    same({{3, 0, 0}, {7, 4, 4}, {11, 8, 8}}, x34():index_select(2, I({4, 1, 1})))
    same({{8, 9, 10, 11}, {0, 1, 2, 3}}, ag.index_select(x34(), 1, I({3, 1})))
  end)

  it("takes negative dims and non-contiguous inputs", function()
    local t = x34():t()                                  -- [4, 3], strided
    assert.is_false(t:is_contiguous())
    same({{8, 0}, {9, 1}, {10, 2}, {11, 3}}, t:index_select(-1, I({3, 1})))
    same({{4, 5, 6, 7}}, x34():index_select(-2, I({2})))
  end)

  it("keeps the dtype, and takes int32 indices and Lua tables", function()
    local t = ag.tensor({{1, 2}, {3, 4}}, {dtype = 'int64'})
    local r = t:index_select(1, ag.tensor({2}, {dtype = 'int32'}))
    assert.are.equal('int64', r.dtype)
    same({{3, 4}}, r)
    same({{4, 3}, {2, 1}}, t:index_select(2, {2, 1}):index_select(1, {2, 1}))
  end)

  it("handles empty indices and empty inputs", function()
    assert.are.same({3, 0}, x34():index_select(2, I({})).shape)
    assert.are.same({0, 2}, ag.zeros(0, 4):index_select(2, I({1, 4})).shape)
    assert.are.same({}, ag.tensor(5):index_select(1, I({1})).shape)
  end)

  it("errors on a bad index, quoting it with the dim and its size", function()
    raises("ag.index_select: index 5 is out of bounds for dimension 2 with size 4",
           function() return x34():index_select(2, I({1, 5})) end)
    raises("index 0 is out of bounds for dimension 1 with size 3 (indices are 1-based)",
           function() return x34():index_select(1, I({0})) end)
    raises("index must be a 0-D or 1-D tensor", function() return x34():index_select(1, I({{1}})) end)
    raises("expected index to be an int64 (or int32) tensor, got float32",
           function() return x34():index_select(1, ag.tensor({1})) end)
    raises("dimension out of range", function() return x34():index_select(3, I({1})) end)
  end)
end)

describe("gather", function()
  it("gathers along dim 1 and dim 2 as PyTorch does", function()
    same({{8, 1, 6, 7}, {0, 1, 10, 7}}, x34():gather(1, I({{3, 1, 2, 2}, {1, 1, 3, 2}})))
    same({{3, 0}, {5, 5}, {10, 11}}, ag.gather(x34(), 2, I({{4, 1}, {2, 2}, {3, 4}})))
    same({{3, 0}, {5, 5}, {10, 11}}, x34():gather(-1, I({{4, 1}, {2, 2}, {3, 4}})))
  end)

  it("reads non-contiguous inputs and indices", function()
    local idx = I({{1, 3, 2}, {2, 2, 1}}):t()            -- [3, 2], strided
    same({{0, 1}, {6, 5}, {9, 8}}, x34():t():contiguous():t():gather(2, idx))
    same(x34():t():contiguous():gather(1, I({{1, 2, 3}})):totable(), x34():t():gather(1, I({{1, 2, 3}})))
  end)

  it("errors on an out-of-range index and on mismatched shapes", function()
    raises("ag.gather: index 7 is out of bounds for dimension 2 with size 5",
           function() return ag.zeros(2, 5):gather(2, I({{1, 7}, {2, 3}})) end)
    raises("ag.gather: index -1 is out of bounds for dimension 1 with size 2",
           function() return ag.zeros(2, 5):gather(1, I({{-1}})) end)
    raises("must have as many dimensions as the input", function() return ag.zeros(2, 5):gather(1, I({1})) end)
    raises("is larger than the input [2, 5] in dimension 2",
           function() return ag.zeros(2, 5):gather(1, I({{1, 1, 1, 1, 1, 1}})) end)
  end)
end)

describe("scatter and scatter_add", function()
  it("scatter writes src at the indexed positions", function()
    local src = ag.tensor({{1, 2, 9}, {3, 4, 9}, {5, 6, 9}})
    same({{1, 0, 0, 0, 2}, {0, 4, 3, 0, 0}, {0, 0, 0, 6, 0}},
         ag.zeros(3, 5):scatter(2, I({{1, 5}, {3, 2}, {4, 4}}), src))
  end)

  it("scatter writes a number", function()
    same({{0, 7.5, 0, 7.5, 0}, {0, 0, 7.5, 0, 0}, {7.5, 0, 0, 0, 7.5}},
         ag.zeros(3, 5):scatter(1, I({{3, 1, 2, 1, 3}}), 7.5))
  end)

  it("scatter_add sums repeated indices", function()
    same({{4, 1, 1, 4}, {1, 6, 11, 1}},
         ag.ones(2, 4):scatter_add(2, I({{1, 1, 4}, {3, 2, 3}}), ag.tensor({{1, 2, 3}, {4, 5, 6}})))
  end)

  it("scatter takes reduce = 'add' and 'multiply'", function()
    local idx, src = I({{1, 1}, {3, 2}}), ag.tensor({{3, 4}, {5, 6}})
    same({{9, 2, 2}, {2, 8, 7}}, ag.full({2, 3}, 2):scatter(2, idx, src, {reduce = 'add'}))
    same({{24, 2, 2}, {2, 12, 10}}, ag.full({2, 3}, 2):scatter(2, idx, src, 'multiply'))
  end)

  it("in-place forms write into self and bump its version", function()
    local t = ag.zeros(2, 3)
    local v = t.version
    assert.are.equal(t, t:scatter_(2, I({{3}, {1}}), 1))
    assert.is_true(t.version > v)
    same({{0, 0, 1}, {1, 0, 0}}, t)
    t:scatter_add_(1, I({{1, 1, 2}}), ag.ones(1, 3))
    same({{1, 1, 1}, {1, 0, 1}}, t)
  end)

  it("leaves self untouched when an index is bad", function()
    local t = ag.zeros(2, 3)
    raises("ag.scatter: index 4 is out of bounds for dimension 2 with size 3",
           function() t:scatter_(2, I({{1, 2}, {3, 4}}), 1) end)
    same({{0, 0, 0}, {0, 0, 0}}, t)
    raises("ag.scatter_add: index 3 is out of bounds for dimension 1 with size 2",
           function() return t:scatter_add(1, I({{3, 1, 1}}), ag.ones(1, 3)) end)
  end)

  it("checks dtypes, shapes and reduce", function()
    raises("same dtype", function() return ag.zeros(2, 3):scatter(2, I({{1}}), ag.ones(1, 1, {dtype = 'float64'})) end)
    raises("is larger than src", function() return ag.zeros(2, 3):scatter(2, I({{1, 2}}), ag.ones(1, 1)) end)
    raises("reduce must be 'add' or 'multiply'", function() return ag.zeros(2, 3):scatter(2, I({{1}}), 1, 'max') end)
    raises("expanded tensor", function() return ag.zeros(1, 3):expand(2, 3):scatter_(1, I({{1}}), 1) end)
  end)
end)

describe("index_add", function()
  it("adds source rows at the indexed positions, summing repeats", function()
    same({{4, 5}, {1, 1}, {7, 9}}, ag.ones(3, 2):index_add(1, I({3, 1, 3}), ag.tensor({{1, 2}, {3, 4}, {5, 6}})))
  end)

  it("scales by alpha (a number or {alpha = })", function()
    local src = ag.tensor({{1, 2}, {3, 4}})
    same({{2, 0, 4}, {6, 0, 8}}, ag.zeros(2, 3):index_add(2, I({1, 3}), src, {alpha = 2}))
    same({{2, 0, 4}, {6, 0, 8}}, ag.zeros(2, 3):index_add(-1, I({1, 3}), src, 2))
  end)

  it("works on strided tensors and integer dtypes, in place too", function()
    local t = ag.zeros(3, 2):t()                          -- [2, 3], strided
    t:index_add_(2, I({3, 3}), ag.tensor({{1, 2}, {3, 4}}))
    same({{0, 0, 3}, {0, 0, 7}}, t)
    local n = ag.zeros(3, {dtype = 'int64'})
    n:index_add_(1, I({2, 2, 1}), ag.tensor({5, 6, 7}, {dtype = 'int64'}))
    same({7, 11, 0}, n)
  end)

  it("checks the source's shape and the index", function()
    raises("source [2, 2] must have self's shape [3, 2] except in dimension 1, where its size must be the index's length 3",
           function() return ag.zeros(3, 2):index_add(1, I({1, 2, 3}), ag.ones(2, 2)) end)
    raises("ag.index_add: index 4 is out of bounds for dimension 1 with size 3",
           function() return ag.zeros(3, 2):index_add(1, I({4}), ag.ones(1, 2)) end)
  end)
end)

describe("masked_fill, masked_select and masked_scatter", function()
  local m = {{true, false, true, false}, {false, false, true, true}, {true, true, false, false}}

  it("masked_fill sets the masked positions", function()
    same({{-1.5, 1, -1.5, 3}, {4, 5, -1.5, -1.5}, {-1.5, -1.5, 10, 11}}, x34():masked_fill(B(m), -1.5))
    same({{0.5, 1, 2, 0.5}, {0.5, 5, 6, 0.5}, {0.5, 9, 10, 0.5}},
         ag.masked_fill(x34(), B({true, false, false, true}), 0.5))
  end)

  it("masked_fill takes a 0-dim tensor value and a uint8 mask, and broadcasts both", function()
    same({{9, 1, 9, 3}, {4, 5, 9, 9}, {9, 9, 10, 11}}, x34():masked_fill(B(m), ag.tensor(9)))
    same({1, 0}, ag.tensor({1, 2}):masked_fill(ag.tensor({0, 1}, {dtype = 'uint8'}), 0))
    same({{1, 0}, {2, 0}}, ag.tensor({{1}, {2}}):masked_fill(B({false, true}), 0))
  end)

  it("masked_fill_ writes in place, with a mask that broadcasts to self", function()
    local t = x34()
    t:masked_fill_(B({true, false, false, false}), -1)
    same({{-1, 1, 2, 3}, {-1, 5, 6, 7}, {-1, 9, 10, 11}}, t)
    raises("does not broadcast to the tensor's shape [4]",
           function() ag.zeros(4):masked_fill_(B({{true}, {false}}), 1) end)
  end)

  it("masked_select returns the selected values, row-major, as a 1-D tensor", function()
    same({0, 2, 6, 7, 8, 9}, x34():masked_select(B(m)))
    same({1, 3, 5, 7, 9, 11}, ag.masked_select(x34(), B({false, true, false, true})))
    assert.are.same({0}, x34():masked_select(ag.zeros(3, 4, {dtype = 'bool'})).shape)
  end)

  it("masked_scatter fills the masked positions from source in order", function()
    same({{1, 0, 2}, {0, 3, 0}}, ag.zeros(2, 3):masked_scatter(B({{true, false, true}, {false, true, false}}),
                                                             ag.tensor({1, 2, 3, 4})))
    raises("the mask selects 3 elements but source has only 2",
           function() return ag.zeros(3):masked_scatter(B({true, true, true}), ag.ones(2)) end)
  end)

  it("asks for a bool mask", function()
    raises("ag.masked_fill: expected a bool mask, got float32", function() return x34():masked_fill(ag.ones(3, 4), 0) end)
    raises("cannot be broadcast", function() return x34():masked_select(B({true, false})) end)
  end)
end)

describe("embedding", function()
  local w = ag.arange(10):float():reshape(5, 2)

  it("looks up rows by 1-based index, any index shape", function()
    same({{{0, 1}, {8, 9}}, {{4, 5}, {4, 5}}}, ag.embedding(w, I({{1, 5}, {3, 3}})))
    same({{2, 3}}, ag.embedding(w, I({2})))
    assert.are.same({0, 2}, ag.embedding(w, I({})).shape)
  end)

  it("accepts PyTorch's F.embedding(input, weight) order and options", function()
    same({{8, 9}, {0, 1}}, ag.embedding(I({5, 1}), w))
    same({{8, 9}, {0, 1}}, ag.embedding(w, I({5, 1}), {padding_idx = 1}))
  end)

  it("renormalizes looked-up rows to max_norm", function()
    local weight = ag.tensor({{3, 4}, {0.3, 0.4}})
    local r = ag.embedding(weight, I({1, 2}), {max_norm = 1})
    assert.is_true(math.abs(r[1][1]:item() - 0.6) < 1e-5 and math.abs(r[1][2]:item() - 0.8) < 1e-5)
    assert.is_true(math.abs(weight[1][1]:item() - 0.6) < 1e-5)   -- in place, as PyTorch
    assert.is_true(math.abs(r[2][1]:item() - 0.3) < 1e-6)
  end)

  it("errors on a bad index or padding_idx", function()
    raises("ag.embedding: index 6 is out of bounds for dimension 1 with size 5",
           function() return ag.embedding(w, I({{1, 6}})) end)
    raises("padding_idx 7 is out of range for 5 embeddings", function() return ag.embedding(w, I({1}), {padding_idx = 7}) end)
    raises("weight must be 2-D", function() return ag.embedding(ag.ones(5), I({1})) end)
    raises("unknown option 'padding'", function() return ag.embedding(w, I({1}), {padding = 1}) end)
  end)
end)

describe("one_hot", function()
  it("sets column c for class c (1-based) and returns int64", function()
    local r = ag.one_hot(I({1, 3, 2, 3}))
    assert.are.equal('int64', r.dtype)
    same({{1, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 0, 1}}, r)
    same({{{1, 0, 0, 0, 0}, {0, 0, 0, 0, 1}}, {{0, 0, 0, 1, 0}, {0, 0, 0, 1, 0}}}, ag.one_hot(I({{1, 5}, {4, 4}}), 5))
  end)

  it("errors on classes out of range and on an empty tensor without num_classes", function()
    raises("class 4 is out of range for 3 classes (classes are 1-based: 1..3)", function() return ag.one_hot(I({1, 4}), 3) end)
    raises("class 0 is out of range", function() return ag.one_hot(I({0, 1})) end)
    raises("cannot infer the number of classes from an empty tensor", function() return ag.one_hot(I({})) end)
    assert.are.same({0, 4}, ag.one_hot(I({}), 4).shape)
  end)
end)
