-- conv_gradcheck_spec.lua: float64 gradcheck (central differences against backward) for
-- convolution, transposed convolution, pooling and interpolation over the options that
-- change the index arithmetic (stride, padding, dilation, groups, output_padding,
-- overlapping pooling windows, ceil_mode, count_include_pad, align_corners), plus
-- gradgradcheck through their double-backward nodes (ConvolutionBackwardBackward0, ...).
local ag = require 'ag'
local F = require 'ag.nn.functional_conv'
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function r(...) return ag.randn(...):double():requires_grad_() end

describe('conv gradcheck', function()
  before_each(function() ag.manual_seed(7) end)

  local conv2d_cases = {
    {'plain 3x3 with bias', {1, 2, 5, 5}, {3, 2, 3, 3}, true, {}},
    {'stride 2, padding 1', {2, 2, 5, 6}, {3, 2, 3, 3}, true, {stride = 2, padding = 1}},
    {'per-dim stride, padding and dilation', {1, 2, 7, 6}, {2, 2, 3, 2}, true,
     {stride = {2, 1}, padding = {1, 2}, dilation = {2, 1}}},
    {'dilation 2 with padding 2', {1, 2, 6, 6}, {2, 2, 3, 3}, false, {dilation = 2, padding = 2}},
    {'groups 2', {1, 4, 4, 4}, {4, 2, 3, 3}, true, {groups = 2, padding = 1}},
    {'depthwise (groups = channels)', {2, 3, 4, 4}, {3, 1, 2, 2}, false, {groups = 3}},
    {'1x1 kernel', {2, 3, 3, 3}, {2, 3, 1, 1}, true, {}},
    {'1x1 kernel, stride 2, padding 1', {1, 2, 4, 4}, {2, 2, 1, 1}, false, {stride = 2, padding = 1}},
    {'one input channel (direct path), stride 2', {2, 1, 5, 5}, {3, 1, 3, 3}, true, {stride = 2, padding = 1}},
    {'padding same', {1, 2, 5, 5}, {2, 2, 3, 3}, true, {padding = 'same', dilation = 2}},
  }
  for _, c in ipairs(conv2d_cases) do
    it('conv2d: ' .. c[1], function()
      local x, w = r(c[2]), r(c[3])
      local b = c[4] and r(c[3][1]) or nil
      assert.is_true(gradcheck(function(x, w, b) return F.conv2d(x, w, b, c[5]) end, {x, w, b}))
    end)
  end

  it('conv2d: a non-contiguous (transposed) input and weight', function()
    local x = r(1, 2, 5, 4):transpose(3, 4)
    local w = r(3, 2, 3, 2):transpose(3, 4)
    assert.is_false(x:is_contiguous())
    assert.is_true(gradcheck(function(x, w) return F.conv2d(x, w, nil, {padding = 1}) end, {x, w}))
  end)

  it('conv2d: an unbatched (C, H, W) input', function()
    assert.is_true(gradcheck(function(x, w, b) return F.conv2d(x, w, b) end, {r(2, 4, 4), r(2, 2, 3, 3), r(2)}))
  end)

  it('conv1d: stride, padding, dilation and groups', function()
    assert.is_true(gradcheck(function(x, w, b) return F.conv1d(x, w, b, {stride = 2, padding = 1, dilation = 2}) end,
                             {r(2, 2, 9), r(3, 2, 3), r(3)}))
    assert.is_true(gradcheck(function(x, w) return F.conv1d(x, w, nil, {groups = 2}) end, {r(1, 4, 6), r(4, 2, 2)}))
  end)

  it('conv_transpose2d: stride 2, padding 1, output_padding 1, bias', function()
    assert.is_true(gradcheck(function(x, w, b)
      return F.conv_transpose2d(x, w, b, {stride = 2, padding = 1, output_padding = 1})
    end, {r(1, 2, 3, 3), r(2, 3, 3, 3), r(3)}))
  end)

  it('conv_transpose2d: groups and dilation', function()
    assert.is_true(gradcheck(function(x, w) return F.conv_transpose2d(x, w, nil, {groups = 2, dilation = 2}) end,
                             {r(1, 4, 3, 3), r(4, 1, 2, 2)}))
  end)

  it('conv_transpose2d: per-dim stride and output_padding', function()
    assert.is_true(gradcheck(function(x, w)
      return F.conv_transpose2d(x, w, nil, {stride = {2, 3}, padding = {0, 1}, output_padding = {1, 2}})
    end, {r(1, 2, 2, 3), r(2, 2, 2, 3)}))
  end)

  it('conv_transpose1d: stride 3, output_padding 2', function()
    assert.is_true(gradcheck(function(x, w, b) return F.conv_transpose1d(x, w, b, {stride = 3, output_padding = 2}) end,
                             {r(2, 2, 4), r(2, 3, 3), r(3)}))
  end)
end)

describe('conv gradgradcheck (double backward)', function()
  before_each(function() ag.manual_seed(11) end)

  it('conv2d with stride, padding and groups', function()
    assert.is_true(gradgradcheck(function(x, w, b) return F.conv2d(x, w, b, {stride = 2, padding = 1, groups = 2}) end,
                                 {r(1, 2, 4, 4), r(2, 1, 3, 3), r(2)}))
  end)

  it('conv2d with dilation', function()
    assert.is_true(gradgradcheck(function(x, w) return F.conv2d(x, w, nil, {dilation = 2}) end,
                                 {r(1, 2, 5, 5), r(2, 2, 2, 2)}))
  end)

  it('conv_transpose2d with stride and output_padding', function()
    assert.is_true(gradgradcheck(function(x, w, b)
      return F.conv_transpose2d(x, w, b, {stride = 2, output_padding = 1})
    end, {r(1, 2, 2, 2), r(2, 2, 2, 2), r(2)}))
  end)

  it('names the double-backward node ConvolutionBackwardBackward0', function()
    local x, w = r(1, 2, 4, 4), r(2, 2, 3, 3)
    local y = F.conv2d(x, w)
    local _, gw = ag.autograd.grad({(y * y):sum()}, {x, w}, {create_graph = true})
    assert.are.equal('ConvolutionBackwardBackward0', gw.grad_fn:name())
  end)
end)

describe('pooling gradcheck', function()
  before_each(function() ag.manual_seed(3) end)

  local cases = {
    {'max_pool2d 2x2', function(x) return F.max_pool2d(x, 2) end, {1, 2, 4, 4}},
    {'max_pool2d overlapping 3x3 stride 1', function(x) return F.max_pool2d(x, 3, 1) end, {1, 2, 5, 5}},
    {'max_pool2d overlapping 3x3 stride 2 padding 1', function(x) return F.max_pool2d(x, 3, 2, 1) end, {2, 1, 5, 5}},
    {'max_pool2d dilation and ceil_mode', function(x)
      return F.max_pool2d(x, {3, 2}, {stride = {2, 1}, padding = {1, 0}, dilation = {2, 1}, ceil_mode = true})
    end, {1, 2, 7, 5}},
    {'max_pool2d unbatched', function(x) return F.max_pool2d(x, 2, {stride = 1}) end, {2, 3, 3}},
    {'max_pool1d overlapping', function(x) return F.max_pool1d(x, 3, 2, 1, {ceil_mode = true}) end, {2, 2, 7}},
    {'avg_pool2d count_include_pad', function(x) return F.avg_pool2d(x, 3, 2, 1) end, {1, 2, 5, 5}},
    {'avg_pool2d exclude pad, ceil_mode', function(x)
      return F.avg_pool2d(x, 3, {stride = 2, padding = 1, count_include_pad = false, ceil_mode = true})
    end, {1, 2, 6, 5}},
    {'avg_pool2d overlapping, divisor_override', function(x)
      return F.avg_pool2d(x, {2, 3}, {stride = 1, divisor_override = 5})
    end, {1, 1, 4, 5}},
    {'avg_pool1d', function(x) return F.avg_pool1d(x, 3, 2, 1) end, {1, 2, 7}},
    {'adaptive_avg_pool2d 5x7 to 3x4 (overlapping windows)', function(x) return F.adaptive_avg_pool2d(x, {3, 4}) end,
     {1, 2, 5, 7}},
    {'adaptive_avg_pool2d upsampling 2x3 to 3x5', function(x) return F.adaptive_avg_pool2d(x, {3, 5}) end, {1, 1, 2, 3}},
    {'interpolate nearest by size', function(x) return F.interpolate(x, {size = {5, 7}}) end, {1, 2, 3, 4}},
    {'interpolate nearest scale 1.5', function(x) return F.interpolate(x, {scale_factor = 1.5}) end, {1, 1, 4, 3}},
    {'interpolate bilinear align_corners', function(x)
      return F.interpolate(x, {size = {5, 6}, mode = 'bilinear', align_corners = true})
    end, {1, 2, 3, 4}},
    {'interpolate bilinear half-pixel downsampling', function(x)
      return F.interpolate(x, {size = {3, 2}, mode = 'bilinear'})
    end, {1, 2, 5, 4}},
    {'interpolate linear 1-d', function(x) return F.interpolate(x, {scale_factor = 2, mode = 'linear'}) end, {2, 1, 4}},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() assert.is_true(gradcheck(c[2], {r(c[3])})) end)
  end

  local twice = {
    {'max_pool2d (MaxPool2DWithIndicesBackwardBackward0)', function(x) return F.max_pool2d(x, 3, 2, 1) end, {1, 1, 5, 5}},
    {'avg_pool2d', function(x) return F.avg_pool2d(x, 3, 2, 1) end, {1, 1, 5, 5}},
    {'adaptive_avg_pool2d', function(x) return F.adaptive_avg_pool2d(x, {2, 3}) end, {1, 1, 5, 5}},
    {'interpolate bilinear', function(x) return F.interpolate(x, {size = {4, 5}, mode = 'bilinear'}) end, {1, 1, 3, 3}},
    {'interpolate nearest', function(x) return F.interpolate(x, {size = {4, 5}}) end, {1, 1, 3, 3}},
  }
  for _, c in ipairs(twice) do
    it('gradgradcheck ' .. c[1], function() assert.is_true(gradgradcheck(c[2], {r(c[3])})) end)
  end
end)
