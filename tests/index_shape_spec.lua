-- index_shape_spec.lua: the shape ops of the indexing family, forward: cat, stack, split,
-- chunk, unbind, flip, roll, tril/triu, diag, diagonal, pad and repeat. Expected values
-- are PyTorch 1.13's answers for the same inputs (dims shifted to ag's 1-based ones).
local ag = require 'ag'

local function x34() return ag.arange(12):float():reshape(3, 4) end
local function y23() return ag.arange(6):float():reshape(2, 3) end
local function same(expected, t) assert.are.same(expected, t:totable()) end
local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  assert.is_truthy(tostring(err):find(pattern, 1, true), 'message was: ' .. tostring(err))
end

describe("cat", function()
  it("joins along dim 1 by default, and along negative dims", function()
    local x = x34()
    same({{0, 1, 2, 3}, {8, 9, 10, 11}}, ag.cat({x:narrow(1, 1, 1), x:narrow(1, 3, 1)}))
    local y = y23()
    same({{0, 1, 2, 0}, {3, 4, 5, 30}}, ag.cat({y, y:narrow(2, 1, 1) * 10}, -1))
    same({{0, 1, 2, 0}, {3, 4, 5, 30}}, ag.concat({y, y:narrow(2, 1, 1) * 10}, {dim = 2}))
  end)

  it("takes Torch7's form: tensors as arguments, then the dim", function()
    same({{0, 1, 2, 0, 1, 2}, {3, 4, 5, 3, 4, 5}}, ag.cat(y23(), y23(), 2))
  end)

  it("promotes dtypes, reads strided inputs and skips legacy [0] tensors", function()
    local r = ag.cat({ag.tensor({1, 2}, {dtype = 'int64'}), ag.tensor({0.5})})
    assert.are.equal('float32', r.dtype)
    same({1, 2, 0.5}, r)
    same({{0, 4, 8, 0}, {1, 5, 9, 0}, {2, 6, 10, 0}, {3, 7, 11, 0}}, ag.cat({x34():t(), ag.zeros(4, 1)}, 2))
    same({{1, 1}}, ag.cat({ag.zeros(0), ag.ones(1, 2)}))
    assert.are.same({2, 3}, ag.cat({ag.zeros(0, 3), y23()}).shape)
  end)

  it("names both shapes when they do not fit", function()
    raises("ag.cat: shapes [2, 3] (tensor 1) and [3, 4] (tensor 2) cannot be concatenated along dimension 1: "
           .. "sizes must match except in dimension 1, but differ in dimension 2",
           function() return ag.cat({ag.zeros(2, 3), ag.zeros(3, 4)}) end)
    raises("tensor 1 has shape [2, 3] and tensor 2 has shape [3]", function() return ag.cat({ag.zeros(2, 3), ag.zeros(3)}) end)
    raises("expected a non-empty list of tensors", function() return ag.cat({}) end)
    raises("zero-dimensional tensor (at position 1)", function() return ag.cat({ag.tensor(1)}) end)
    raises("expected a Tensor at position 2 of the list, got number", function() return ag.cat({ag.zeros(1), 3}) end)
  end)
end)

describe("stack", function()
  it("stacks along a new dim, first, middle or last", function()
    local a, b = y23(), y23() + 10
    same({{{0, 1, 2}, {3, 4, 5}}, {{10, 11, 12}, {13, 14, 15}}}, ag.stack({a, b}))
    same({{{0, 1, 2}, {10, 11, 12}}, {{3, 4, 5}, {13, 14, 15}}}, ag.stack({a, b}, 2))
    same({{{0, 10}, {1, 11}, {2, 12}}, {{3, 13}, {4, 14}, {5, 15}}}, ag.stack({a, b}, -1))
    same({{1, 2}}, ag.stack({ag.tensor(1), ag.tensor(2)}, 1):view(1, 2))
  end)

  it("names both shapes when they differ", function()
    raises("ag.stack: expects each tensor to be equal size, but got [2, 3] at entry 1 and [3, 2] at entry 2",
           function() return ag.stack({ag.zeros(2, 3), ag.zeros(3, 2)}) end)
    raises("dimension out of range", function() return ag.stack({ag.zeros(2)}, 3) end)
  end)
end)

describe("split, chunk and unbind", function()
  it("split by a size returns several values, the last one shorter", function()
    local a, b, c, d = ag.arange(5):float():split(2)
    same({0, 1}, a); same({2, 3}, b); same({4}, c)
    assert.is_nil(d)
  end)

  it("split by sizes, along any dim; the pieces are views", function()
    local x = ag.arange(9):float():reshape(3, 3)
    local a, b = x:split({1, 2}, 2)
    same({{0}, {3}, {6}}, a)
    same({{1, 2}, {4, 5}, {7, 8}}, b)
    b[1][1] = 100
    assert.are.equal(100, x[1][2]:item())
    raises("split sizes {1, 3} do not add up to the size 3 of dimension 2 (shape [3, 3])", function() return x:split({1, 3}, 2) end)
  end)

  it("chunk splits into at most n equal pieces, as PyTorch", function()
    local a, b, c = ag.arange(14):float():reshape(2, 7):chunk(3, 2)
    same({{0, 1, 2}, {7, 8, 9}}, a); same({{3, 4, 5}, {10, 11, 12}}, b); same({{6}, {13}}, c)
    assert.are.equal(3, select('#', ag.arange(6):chunk(4)))
    assert.are.equal(3, select('#', ag.zeros(0):chunk(3)))
    raises("chunks must be at least 1", function() return ag.zeros(3):chunk(0) end)
  end)

  it("unbind removes a dim and returns every slice", function()
    local a, b, c = y23():unbind(-1)
    same({0, 3}, a); same({1, 4}, b); same({2, 5}, c)
    assert.are.equal(2, select('#', ag.unbind(y23())))
    raises("cannot unbind a 0-dim tensor", function() return ag.tensor(1):unbind() end)
  end)
end)

describe("flip and roll", function()
  it("flip reverses the given dims", function()
    same({{8, 9, 10, 11}, {4, 5, 6, 7}, {0, 1, 2, 3}}, x34():flip(1))
    same({{{5, 4}, {7, 6}}, {{1, 0}, {3, 2}}}, ag.arange(8):float():reshape(2, 2, 2):flip({1, -1}))
    same({{{5, 4}, {7, 6}}, {{1, 0}, {3, 2}}}, ag.flip(ag.arange(8):float():reshape(2, 2, 2), 1, 3))
    same({{3, 7, 11}, {2, 6, 10}, {1, 5, 9}, {0, 4, 8}}, x34():t():flip(1))
    raises("dim 1 appears multiple times", function() return x34():flip({1, -2}) end)
  end)

  it("roll shifts with wrap-around, flattened without dims", function()
    same({{10, 11, 0, 1}, {2, 3, 4, 5}, {6, 7, 8, 9}}, x34():roll(2))
    same({{1, 2, 3, 0}, {5, 6, 7, 4}, {9, 10, 11, 8}}, x34():roll(-1, 2))
    same({{10, 11, 8, 9}, {2, 3, 0, 1}, {6, 7, 4, 5}}, ag.roll(x34(), {1, 2}, {1, 2}))
    same({{4, 5, 6, 7}, {8, 9, 10, 11}, {0, 1, 2, 3}}, x34():roll(5, 1))
    same({{2, 6, 10}, {3, 7, 11}, {0, 4, 8}, {1, 5, 9}}, x34():t():roll(2, 1))
    raises("shifts and dims must have the same length", function() return x34():roll({1, 2}, 1) end)
  end)
end)

describe("tril, triu, diag and diagonal", function()
  it("tril and triu keep a triangle, batched, with an offset", function()
    same({{0, 0, 0, 0}, {4, 5, 0, 0}, {8, 9, 10, 0}}, x34():tril())
    same({{0, 0, 0, 0}, {4, 0, 0, 0}, {8, 9, 0, 0}}, x34():tril(-1))
    same({{0, 1, 2, 3}, {4, 5, 6, 7}, {0, 9, 10, 11}}, x34():triu(-1))
    same({{{0, 1, 2}, {0, 0, 5}, {0, 0, 0}}, {{0, 10, 11}, {0, 0, 14}, {0, 0, 0}}},
         ag.arange(18):float():reshape(2, 3, 3):triu(1))
    local t = x34()
    t:tril_()
    same({{0, 0, 0, 0}, {4, 5, 0, 0}, {8, 9, 10, 0}}, t)
    raises("ag.tril: input tensor must have at least 2 dimensions, got shape [3]", function() return ag.zeros(3):tril() end)
  end)

  it("diag builds a matrix from a vector and takes a matrix's diagonal", function()
    same({{1, 0, 0}, {0, 2, 0}, {0, 0, 3}}, ag.tensor({1, 2, 3}):diag())
    same({{0, 1, 0}, {0, 0, 2}, {0, 0, 0}}, ag.tensor({1, 2}):diag(1))
    same({{0, 0, 0}, {1, 0, 0}, {0, 2, 0}}, ag.diag(ag.tensor({1, 2}), -1))
    same({0, 5, 10}, x34():diag())
    same({1, 6, 11}, x34():diag(1))
    same({8}, x34():diag(-2))
    raises("expected a 1-D or 2-D tensor", function() return ag.zeros(2, 2, 2):diag() end)
  end)

  it("diagonal is a view over any two dims, with an offset", function()
    local z = ag.arange(24):float():reshape(2, 3, 4)
    same({{1, 6, 11}, {13, 18, 23}}, z:diagonal(1, 2, 3))
    same({{4, 9}, {16, 21}}, ag.diagonal(z, -1, -2, -1))
    same({{0, 13}, {4, 17}, {8, 21}}, z:diagonal({dim1 = 3, dim2 = 1}))
    local x = x34()
    x:diagonal():fill_(-1)
    same({{-1, 1, 2, 3}, {4, -1, 6, 7}, {8, 9, -1, 11}}, x)
    raises("dim1 and dim2 cannot be the same dimension", function() return z:diagonal(0, 2, -2) end)
  end)
end)

describe("pad", function()
  it("constant pads from the last dim, with a value, and crops with negative pads", function()
    same({{0, 0, 1, 2, 0, 0}, {0, 3, 4, 5, 0, 0}}, ag.pad(y23(), {1, 2}))
    same({{0.5, 0, 1, 2}, {0.5, 3, 4, 5}, {0.5, 0.5, 0.5, 0.5}}, ag.pad(y23(), {1, 0, 0, 1}, {value = 0.5}))
    same({{0.5, 0, 1, 2}, {0.5, 3, 4, 5}, {0.5, 0.5, 0.5, 0.5}}, ag.pad(y23(), {1, 0, 0, 1}, 'constant', 0.5))
    same({{1, 2, 3, 0}, {5, 6, 7, 0}}, ag.pad(x34(), {-1, 1, 0, -1}))
  end)

  it("reflect pads mirror without repeating the edge", function()
    same({{{2, 1, 0, 1, 2, 1}, {5, 4, 3, 4, 5, 4}}}, ag.pad(y23():view(1, 2, 3), {2, 1}, {mode = 'reflect'}))
    same({{{{7, 6, 7, 8, 7}, {4, 3, 4, 5, 4}, {1, 0, 1, 2, 1}, {4, 3, 4, 5, 4}, {7, 6, 7, 8, 7}, {4, 3, 4, 5, 4}}}},
         ag.pad(ag.arange(9):float():reshape(1, 1, 3, 3), {1, 1, 2, 1}, 'reflect'))
  end)

  it("replicate pads repeat the edge; circular pads wrap around", function()
    same({{{0, 0, 0, 1, 2, 2, 2, 2}, {3, 3, 3, 4, 5, 5, 5, 5}}}, ag.pad(y23():view(1, 2, 3), {2, 3}, 'replicate'))
    same({{{{0, 1, 2, 2, 2}, {0, 1, 2, 2, 2}, {3, 4, 5, 5, 5}, {6, 7, 8, 8, 8}, {6, 7, 8, 8, 8}}}},
         ag.pad(ag.arange(9):float():reshape(1, 1, 3, 3), {0, 2, 1, 1}, 'replicate'))
    same({{{{8, 6, 7, 8, 6, 7}, {2, 0, 1, 2, 0, 1}, {5, 3, 4, 5, 3, 4}, {8, 6, 7, 8, 6, 7}}}},
         ag.pad(ag.arange(9):float():reshape(1, 1, 3, 3), {1, 2, 1, 0}, 'circular'))
  end)

  it("checks the pad table and the mode's limits", function()
    raises("must have an even number of values", function() return ag.pad(y23(), {1}) end)
    raises("6 padding values pad 3 dimensions, but the input has shape [2, 3]", function() return ag.pad(y23(), {1, 1, 1, 1, 1, 1}) end)
    raises("reflect padding (3, 0) must be less than the size 3 of dimension 2",
           function() return ag.pad(y23(), {3, 0}, 'reflect') end)
    raises("negative padding (-1, 0) is only supported in constant mode", function() return ag.pad(y23(), {-1, 0}, 'replicate') end)
    raises("unknown mode 'wrap'", function() return ag.pad(y23(), {1, 1}, 'wrap') end)
    raises("makes dimension 2 of shape [2, 3] negative", function() return ag.pad(y23(), {-2, -2}) end)
  end)
end)

describe("repeat", function()
  it("tiles the tensor, reachable as t['repeat'] and t:repeat_tensor", function()
    local y = y23()
    same({{0, 1, 2, 0, 1, 2}, {3, 4, 5, 3, 4, 5}, {0, 1, 2, 0, 1, 2}, {3, 4, 5, 3, 4, 5}}, y['repeat'](y, 2, 2))
    same({{{1, 2, 1, 2}}, {{1, 2, 1, 2}}}, ag.tensor({1, 2}):repeat_tensor({2, 1, 2}))
    same({{0, 4, 8, 0, 4, 8}}, x34():t():narrow(1, 1, 1):repeat_tensor(1, 2))
    assert.are.same({0, 3}, y:repeat_tensor(0, 1).shape)
    raises("the number of repeat dims (1) can not be smaller than the number of dimensions of the tensor (2",
           function() return y:repeat_tensor(2) end)
  end)
end)
