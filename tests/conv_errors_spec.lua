-- conv_errors_spec.lua: misuse of convolution, pooling and interpolation raises a Lua error
-- that names the op, the shapes and the fix -- never a crash.
local ag = require 'ag'
local F = require 'ag.nn.functional_conv'

local function err(f)
  local ok, e = pcall(f)
  assert.is_false(ok, 'expected an error')
  return tostring(e)
end

describe('conv errors', function()
  it('a weight whose channels do not match the input names both shapes and groups', function()
    local e = err(function() F.conv2d(ag.zeros(8, 1, 28, 28), ag.zeros(16, 3, 3, 3)) end)
    assert.matches('ag.conv2d: expected input with 3 channels (weight [16, 3, 3, 3], groups 1), got input [8, 1, 28, 28]',
                   e, 1, true)
    e = err(function() F.conv2d(ag.zeros(2, 4, 5, 5), ag.zeros(6, 3, 3, 3), nil, {groups = 2}) end)
    assert.matches('expected input with 6 channels (weight [6, 3, 3, 3], groups 2), got input [2, 4, 5, 5]', e, 1, true)
    e = err(function() F.conv1d(ag.zeros(2, 4, 5), ag.zeros(6, 3, 3)) end)
    assert.matches('ag.conv1d: expected input with 3 channels', e, 1, true)
  end)

  it('conv_transpose2d checks the input against the weight\'s first dim', function()
    local e = err(function() F.conv_transpose2d(ag.zeros(1, 3, 4, 4), ag.zeros(2, 5, 3, 3)) end)
    assert.matches('ag.conv_transpose2d: expected input with 2 channels (weight [2, 5, 3, 3], groups 1), got input [1, 3, 4, 4]',
                   e, 1, true)
  end)

  it('the error points at the caller\'s line', function()
    local ok, e = pcall(function() F.conv2d(ag.zeros(1, 1, 5, 5), ag.zeros(2, 3, 3, 3)) end)
    assert.matches('conv_errors_spec.lua:%d+:', e)
  end)

  it('rejects out_channels not divisible by groups', function()
    local e = err(function() F.conv2d(ag.zeros(1, 4, 5, 5), ag.zeros(3, 2, 3, 3), nil, {groups = 2}) end)
    assert.matches('out_channels (3, from weight [3, 2, 3, 3]) must be divisible by groups (2)', e, 1, true)
  end)

  it('rejects a bias of the wrong size', function()
    local e = err(function() F.conv2d(ag.zeros(1, 3, 5, 5), ag.zeros(4, 3, 3, 3), ag.zeros(3)) end)
    assert.matches('expected a bias of shape [4] (one per output channel), got bias [3]', e, 1, true)
  end)

  it('rejects a kernel larger than the padded input', function()
    local e = err(function() F.conv2d(ag.zeros(1, 1, 2, 2), ag.zeros(1, 1, 3, 3)) end)
    assert.matches('padded to 2 along spatial dim 1 is smaller than the (dilated) kernel size 3', e, 1, true)
  end)

  it('rejects wrong ranks', function()
    assert.matches('expected a 4-D weight', err(function() F.conv2d(ag.zeros(1, 3, 5, 5), ag.zeros(4, 3, 3)) end), 1, true)
    assert.matches('expected a 4-D (batched) input (N, C, H, W), got input [5, 5]',
                   err(function() F.conv2d(ag.zeros(5, 5), ag.zeros(4, 3, 3, 3)) end), 1, true)
  end)

  it('rejects bad stride, padding, dilation and groups', function()
    local x, w = ag.zeros(1, 1, 5, 5), ag.zeros(1, 1, 3, 3)
    assert.matches('stride must be positive, got 0', err(function() F.conv2d(x, w, nil, {stride = 0}) end), 1, true)
    assert.matches('padding must be non-negative, got -1', err(function() F.conv2d(x, w, nil, {padding = -1}) end), 1, true)
    assert.matches('dilation must be positive, got 0', err(function() F.conv2d(x, w, nil, {dilation = 0}) end), 1, true)
    assert.matches('groups must be a positive integer, got 0', err(function() F.conv2d(x, w, nil, {groups = 0}) end), 1, true)
    assert.matches('stride must be an integer or a table of 2 integers',
                   err(function() F.conv2d(x, w, nil, {stride = {1, 2, 3}}) end), 1, true)
    assert.matches("invalid padding string 'full'", err(function() F.conv2d(x, w, nil, {padding = 'full'}) end), 1, true)
    assert.matches("unknown option 'strides'", err(function() F.conv2d(x, w, nil, {strides = 2}) end), 1, true)
  end)

  it('rejects output_padding that is not smaller than stride or dilation', function()
    local e = err(function() F.conv_transpose2d(ag.zeros(1, 1, 3, 3), ag.zeros(1, 1, 3, 3), nil, {output_padding = 1}) end)
    assert.matches('output padding must be smaller than either stride or dilation', e, 1, true)
  end)

  it('rejects mixed or integer dtypes', function()
    assert.matches('input (float64), weight (float32)',
                   err(function() F.conv2d(ag.zeros(1, 1, 3, 3, {dtype = 'float64'}), ag.zeros(1, 1, 3, 3)) end), 1, true)
    assert.matches('expected a floating-point input',
                   err(function() F.conv2d(ag.zeros(1, 1, 3, 3, {dtype = 'int64'}), ag.zeros(1, 1, 3, 3, {dtype = 'int64'})) end),
                   1, true)
  end)

  it('rejects a non-tensor argument', function()
    assert.matches('ag.conv2d: expected a Tensor as argument 2', err(function() F.conv2d(ag.zeros(1, 1, 3, 3), 5) end), 1, true)
  end)
end)

describe('pooling and interpolation errors', function()
  local x = ag.zeros(1, 2, 5, 5)

  it('max_pool2d: padding larger than half the kernel, bad sizes, wrong ranks and dtypes', function()
    assert.matches('pad should be at most half of effective kernel size, but got pad=2, kernel_size=3',
                   err(function() F.max_pool2d(x, 3, 1, 2) end), 1, true)
    assert.matches('kernel_size must be positive, got 0', err(function() F.max_pool2d(x, 0) end), 1, true)
    assert.matches('ag.max_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input [5]',
                   err(function() F.max_pool2d(ag.zeros(5), 2) end), 1, true)
    assert.matches('output size is too small', err(function() F.max_pool2d(ag.zeros(1, 1, 2, 2), 3) end), 1, true)
    assert.matches('expected a float32 or float64 input, got int64',
                   err(function() F.max_pool2d(ag.zeros(1, 1, 4, 4, {dtype = 'int64'}), 2) end), 1, true)
    assert.matches('kernel_size is required', err(function() F.max_pool2d(x) end), 1, true)
  end)

  it('max_pool1d: wrong rank and tuple length', function()
    assert.matches('ag.max_pool1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got input [1, 2, 5, 5]',
                   err(function() F.max_pool1d(x, 2) end), 1, true)
    assert.matches('kernel_size must be an integer or a table of 1 integer',
                   err(function() F.max_pool1d(ag.zeros(1, 2, 5), {2, 2}) end), 1, true)
  end)

  it('avg_pool2d: padding and divisor', function()
    assert.matches('pad should be at most half', err(function() F.avg_pool2d(x, 2, 1, 2) end), 1, true)
    assert.matches('divisor must be not zero', err(function() F.avg_pool2d(x, 2, {divisor_override = 0}) end), 1, true)
  end)

  it('adaptive_avg_pool2d: output_size', function()
    assert.matches('output_size is required', err(function() F.adaptive_avg_pool2d(x) end), 1, true)
    assert.matches('output_size must be non-negative integers, got -1',
                   err(function() F.adaptive_avg_pool2d(x, {-1, 2}) end), 1, true)
  end)

  it('interpolate: modes, sizes and options', function()
    assert.matches("mode 'bicubic' is not supported", err(function() F.interpolate(x, {size = 3, mode = 'bicubic'}) end), 1, true)
    assert.matches('exactly one of size or scale_factor', err(function() F.interpolate(x, {}) end), 1, true)
    assert.matches('exactly one of size or scale_factor',
                   err(function() F.interpolate(x, {size = 3, scale_factor = 2}) end), 1, true)
    assert.matches('align_corners option can only be set with the interpolating modes',
                   err(function() F.interpolate(x, {size = 3, align_corners = true}) end), 1, true)
    assert.matches("mode 'bilinear' expects a 4-D input", err(function() F.interpolate(ag.zeros(1, 2, 5), {size = 3, mode = 'bilinear'}) end), 1, true)
    assert.matches('size must be positive, got 0', err(function() F.interpolate(x, {size = 0}) end), 1, true)
    assert.matches('scale_factor must be a positive number', err(function() F.interpolate(x, {scale_factor = -1}) end), 1, true)
  end)
end)
