-- conv_ops_spec.lua: convolution, pooling and interpolation on small inputs whose answers
-- are worked out by hand: what the windows see, 1-based max-pooling indices, NaN
-- propagation, padding rules, argument forms (PyTorch's positional order or an options
-- table), unbatched and empty inputs, dtypes and recording.
local ag = require 'ag'
local F = require 'ag.nn.functional_conv'

-- 1..n*n as a (1, 1, n, n) float tensor
local function grid(n, dtype) return ag.arange(1, n * n + 1, {dtype = dtype or 'float32'}):reshape(1, 1, n, n) end

describe('conv2d', function()
  it('sums each 2x2 window for a kernel of ones, and adds the bias', function()
    local y = F.conv2d(grid(3), ag.ones(1, 1, 2, 2), ag.tensor({10}))
    -- windows of [[1,2,3],[4,5,6],[7,8,9]]: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9
    assert.are.same({{{{22, 26}, {34, 38}}}}, y:totable())
  end)

  it('pads with zeros and strides (positional stride, padding as PyTorch orders them)', function()
    local y = F.conv2d(grid(3), ag.ones(1, 1, 3, 3), nil, 2, 1)
    -- output positions (1,1), (1,3), (3,1), (3,3) of a padded 3x3 box sum
    assert.are.same({{{{12, 16}, {24, 28}}}}, y:totable())
  end)

  it('reads the input at dilated taps', function()
    local w = ag.zeros(1, 1, 2, 2)
    w[1][1][2][2] = 1                       -- the tap at offset (dilation, dilation)
    local y = F.conv2d(grid(4), w, nil, {dilation = 2})
    assert.are.same({{{{11, 12}, {15, 16}}}}, y:totable())
  end)

  it('keeps groups apart: each output channel sees only its group', function()
    local x = ag.cat({ag.ones(1, 1, 2, 2), ag.ones(1, 1, 2, 2) * 10}, 2)
    local y = F.conv2d(x, ag.ones(2, 1, 1, 1), nil, {groups = 2})
    assert.are.same({{{{1, 1}, {1, 1}}, {{10, 10}, {10, 10}}}}, y:totable())
  end)

  it('takes an unbatched (C, H, W) input and returns (O, H, W)', function()
    local y = F.conv2d(ag.ones(2, 4, 4), ag.ones(3, 2, 3, 3))
    assert.are.same({3, 2, 2}, y.shape)
    assert.are.equal(18, y[1][1][1]:item())
  end)

  it('returns an empty batch for an empty batch', function()
    assert.are.same({0, 4, 3, 3}, F.conv2d(ag.zeros(0, 2, 5, 5), ag.zeros(4, 2, 3, 3)).shape)
  end)

  it("padding = 'same' keeps the spatial size", function()
    assert.are.same({2, 3, 7, 6}, F.conv2d(ag.randn(2, 1, 7, 6), ag.randn(3, 1, 3, 5), nil, {padding = 'same'}).shape)
  end)

  it('keeps the dtype: float64 in, float64 out', function()
    local y = F.conv2d(grid(3, 'float64'), ag.ones(1, 1, 2, 2, {dtype = 'float64'}))
    assert.are.equal('float64', y.dtype)
  end)

  it('records ConvolutionBackward0 only when grad is needed', function()
    local w = ag.ones(1, 1, 2, 2):requires_grad_()
    assert.are.equal('ConvolutionBackward0', F.conv2d(grid(3), w).grad_fn:name())
    assert.is_nil(ag.no_grad(function() return F.conv2d(grid(3), w) end).grad_fn)
  end)

  it('gives the weight the sum of the input windows as its gradient', function()
    local w = ag.ones(1, 1, 2, 2):requires_grad_()
    local b = ag.zeros(1):requires_grad_()
    F.conv2d(grid(3), w, b):sum():backward()
    assert.are.same({{{{12, 16}, {24, 28}}}}, w.grad:totable())
    assert.are.same({4}, b.grad:totable())
  end)
end)

describe('conv1d and conv_transpose2d', function()
  it('conv1d slides along the last dim', function()
    local y = F.conv1d(ag.tensor({{{1, 2, 3, 4}}}), ag.tensor({{{1, -1}}}))
    assert.are.same({{{-1, -1, -1}}}, y:totable())
  end)

  it('conv_transpose2d with stride 2 stamps the kernel at every other position', function()
    local x = ag.tensor({{{{1, 2}}}})
    local w = ag.tensor({{{{1, 1}, {1, 1}}}})
    local y = F.conv_transpose2d(x, w, nil, 2)
    assert.are.same({{{{1, 1, 2, 2}, {1, 1, 2, 2}}}}, y:totable())
  end)

  it('conv_transpose2d output_padding adds to the size (positional: stride, padding, output_padding)', function()
    local y = F.conv_transpose2d(ag.ones(1, 2, 3, 3), ag.ones(2, 4, 3, 3), nil, 2, 1, 1)
    assert.are.same({1, 4, 6, 6}, y.shape)
  end)

  it('conv_transpose2d is the adjoint of conv2d: <conv(x), y> = <x, conv_transpose(y)>', function()
    ag.manual_seed(1)
    local x, w = ag.randn(2, 3, 7, 6, {dtype = 'float64'}), ag.randn(4, 3, 3, 3, {dtype = 'float64'})
    local y = ag.randn(2, 4, 4, 3, {dtype = 'float64'})
    local lhs = (F.conv2d(x, w, nil, {stride = 2, padding = 1}) * y):sum():item()
    local rhs = (x * F.conv_transpose2d(y, w, nil, {stride = 2, padding = 1, output_padding = {0, 1}})):sum():item()
    assert.is_true(math.abs(lhs - rhs) < 1e-10 * math.abs(lhs))
  end)
end)

describe('max_pool2d', function()
  it('returns each window\'s max and its 1-based flat index within the plane', function()
    local y, i = F.max_pool2d(grid(4), 2, {return_indices = true})
    assert.are.same({{{{6, 8}, {14, 16}}}}, y:totable())
    assert.are.same({{{{6, 8}, {14, 16}}}}, i:totable())
    assert.are.equal('int64', i.dtype)
  end)

  it('indices count within each plane, not across channels', function()
    local x = ag.cat({grid(2), grid(2)}, 2)
    local _, i = F.max_pool2d(x, 2, {return_indices = true})
    assert.are.same({{{{4}}, {{4}}}}, i:totable())
  end)

  it('overlapping windows with padding never pick the padding', function()
    local y, i = F.max_pool2d(-grid(3), 3, 2, 1, {return_indices = true})
    -- windows centred on (1,1), (1,3), (3,1), (3,3) of -[[1..9]]: maxima -1, -2, -4, -5
    assert.are.same({{{{-1, -2}, {-4, -5}}}}, y:totable())
    assert.are.same({{{{1, 2}, {4, 5}}}}, i:totable())
  end)

  it('ceil_mode keeps the partial last window', function()
    assert.are.same({1, 1, 1, 1}, F.max_pool2d(grid(3), 2).shape)
    assert.are.same({1, 1, 2, 2}, F.max_pool2d(grid(3), 2, {ceil_mode = true}).shape)
  end)

  it('propagates NaN', function()
    local x = grid(2)
    x[1][1][1][2] = 0 / 0
    local y = F.max_pool2d(x, 2)
    assert.is_true(y:item() ~= y:item())
  end)

  it('2x2 float32 (the vector path) agrees with float64 (the scalar path): values, indices, NaN, ties, odd sizes', function()
    ag.manual_seed(11)
    for _, hw in ipairs({{26, 26}, {11, 11}, {7, 37}, {4, 66}, {3, 2}}) do
      -- small integers, so ties are common; a few NaNs (pairs too, in one window)
      local x = (ag.rand(3, 5, hw[1], hw[2]) * 4):floor()
      local flat = x:view(-1)
      local n = flat:numel()
      for _, k in ipairs({1, 2, 7, math.floor(n / 2), math.floor(n / 2) + 1, n}) do flat[k] = 0 / 0 end
      local y32, i32 = F.max_pool2d(x, 2, {return_indices = true})
      local y64, i64 = F.max_pool2d(x:double(), 2, {return_indices = true})
      assert.are.same(i64:totable(), i32:totable())
      local a, b = y32:double():view(-1):totable(), y64:view(-1):totable()
      assert.are.equal(#b, #a)
      for k = 1, #a do
        if b[k] ~= b[k] then assert.is_true(a[k] ~= a[k], 'NaN lost at ' .. k)
        else assert.are.equal(b[k], a[k]) end
      end
    end
  end)

  it('2x2 backward writes each block whole: the gradient at its index, zeros elsewhere and in uncovered rows/columns', function()
    ag.manual_seed(12)
    for _, dt in ipairs({'float32', 'float64'}) do
      local x = ag.randn(2, 3, 7, 9, {dtype = dt}):requires_grad_()   -- odd sizes: row 7, column 9 uncovered
      local y, idx = F.max_pool2d(x, 2, {return_indices = true})
      local g = ag.randn(2, 3, 3, 4, {dtype = dt})
      g[1][1][1][1] = math.huge
      g[1][2][2][3] = 0 / 0
      y:backward(g)
      -- expected: zeros, and each plane's g scattered to its 1-based flat index
      local want = ag.zeros(6, 63, {dtype = dt})
      local gi, ii = g:reshape(6, 12):totable(), idx:reshape(6, 12):totable()
      for p = 1, 6 do for q = 1, 12 do want[p][ii[p][q]] = gi[p][q] end end
      local got = x.grad:reshape(6, 63):totable()
      local w = want:totable()
      for p = 1, 6 do
        for k = 1, 63 do
          if w[p][k] ~= w[p][k] then assert.is_true(got[p][k] ~= got[p][k], 'NaN lost')
          else assert.are.equal(w[p][k], got[p][k]) end
        end
      end
    end
  end)

  it('3x3 windows whose indices leave the 2x2 blocks take the general backward', function()
    local x = grid(6):requires_grad_()
    local y, i = F.max_pool2d(x, 3, {return_indices = true})
    assert.are.same({{{{15, 18}, {33, 36}}}}, i:totable())
    y:backward(ag.tensor({{{{1, 2}, {3, 4}}}}))
    local want = ag.zeros(36)
    want[15], want[18], want[33], want[36] = 1, 2, 3, 4
    assert.are.same(want:totable(), x.grad:view(-1):totable())
  end)

  it('sends the gradient to the argmax only, adding where windows share it', function()
    local x = grid(3):requires_grad_()
    F.max_pool2d(x, 2, 1):sum():backward()
    -- windows' maxima are 5, 6, 8, 9
    assert.are.same({{{{0, 0, 0}, {0, 1, 1}, {0, 1, 1}}}}, x.grad:totable())
    local x2 = grid(3):requires_grad_()
    F.max_pool2d(x2, 3, 1, 1):sum():backward()   -- 9 windows: maxima 5, 6, 6, 8, 9, 9, 8, 9, 9
    assert.are.same({{{{0, 0, 0}, {0, 1, 2}, {0, 2, 4}}}}, x2.grad:totable())
  end)
end)

describe('max_pool1d', function()
  it('pools the last dim and returns 1-based indices', function()
    local y, i = F.max_pool1d(ag.tensor({{{3, 1, 4, 1, 5, 9, 2}}}), 3, 2, {return_indices = true})
    assert.are.same({{{4, 5, 9}}}, y:totable())
    assert.are.same({{{3, 5, 6}}}, i:totable())
  end)
end)

describe('avg_pool2d', function()
  it('counts the padding by default and not with count_include_pad = false', function()
    local x = ag.ones(1, 1, 3, 3)
    local with = F.avg_pool2d(x, 3, 2, 1)
    assert.are.same({1, 1, 2, 2}, with.shape)
    assert.is_true((with - 4 / 9):abs():max():item() < 1e-7)   -- each corner window covers 4 of 9 cells
    local without = F.avg_pool2d(x, 3, 2, 1, {count_include_pad = false})
    assert.are.same({{{{1, 1}, {1, 1}}}}, without:totable())
  end)

  it('divides by divisor_override when given', function()
    assert.are.same({{{{(1 + 2 + 4 + 5) / 2}}}}, F.avg_pool2d(grid(3), 2, {divisor_override = 2}):totable())
  end)
end)

describe('adaptive_avg_pool2d', function()
  it('to 1x1 is the mean of each plane', function()
    assert.are.same({{{{5}}}}, F.adaptive_avg_pool2d(grid(3), 1):totable())
  end)

  it('splits 3 into overlapping windows [1,2] and [2,3] for 2 outputs', function()
    -- rows {1,2},{2,3} x cols {1,2},{2,3} of [[1..9]]
    assert.are.same({{{{3, 4}, {6, 7}}}}, F.adaptive_avg_pool2d(grid(3), {2, 2}):totable())
  end)

  it('keeps the input size for a dim left nil (PyTorch\'s None)', function()
    assert.are.same({1, 1, 1, 3}, F.adaptive_avg_pool2d(grid(3), {1, nil}).shape)
  end)
end)

describe('interpolate', function()
  it('nearest with scale_factor 2 repeats each pixel', function()
    local y = F.interpolate(ag.tensor({{{{1, 2}, {3, 4}}}}), {scale_factor = 2})
    assert.are.same({{{{1, 1, 2, 2}, {1, 1, 2, 2}, {3, 3, 4, 4}, {3, 3, 4, 4}}}}, y:totable())
  end)

  it('bilinear with align_corners puts the corners on the corners', function()
    local y = F.interpolate(ag.tensor({{{{0, 4}}}}), {size = {1, 5}, mode = 'bilinear', align_corners = true})
    assert.are.same({{{{0, 1, 2, 3, 4}}}}, y:totable())
  end)

  it('bilinear without align_corners samples pixel centres and clamps at the edge', function()
    local y = F.interpolate(ag.tensor({{{{0, 4}}}}), {size = {1, 4}, mode = 'bilinear'})
    -- source x = (i + 0.5) / 2 - 0.5: -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last pixel)
    assert.are.same({{{{0, 1, 3, 4}}}}, y:totable())
  end)

  it('records UpsampleNearest2DBackward1 / UpsampleBilinear2DBackward1', function()
    local x = ag.ones(1, 1, 2, 2):requires_grad_()
    assert.are.equal('UpsampleNearest2DBackward1', F.interpolate(x, {size = 3}).grad_fn:name())
    assert.are.equal('UpsampleBilinear2DBackward1', F.interpolate(x, {size = 3, mode = 'bilinear'}).grad_fn:name())
  end)
end)
