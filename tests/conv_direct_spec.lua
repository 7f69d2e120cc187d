-- conv_direct_spec.lua: float32 convolutions with few taps per output (C/groups * kh * kw
-- <= 16, such as a first layer on grayscale images), which ag runs on AVX-512 CPUs with the
-- register-blocked direct kernels in lib/tensor/conv.c (forward with the bias fused, and the
-- weight gradient; 8 output channels x 32 columns per step, masked column tails), and the
-- weight/bias gradient shortcut in lib/autograd/conv_grad.c for output gradients that are
-- constant across channels (y:sum(), y:mean()). Compared with ag's float64 path (plain
-- loops, itself checked against PyTorch in conv_pytorch_spec) on odd shapes: widths below,
-- at and above 16/32 columns, output channel counts that are not multiples of 8, padding
-- 0/1/2, strides, dilation, groups, and conv1d. On CPUs without AVX-512 these run the
-- portable loops and must agree all the same.
-- Tolerance: |a - b| <= 1e-5 + 1e-5 * max|b| per tensor.
local ag = require 'ag'
local F = require 'ag.nn.functional_conv'

local TOL = 1e-5

local U = dofile('tests/tensor_util.lua')
local function close(got, want, what) U.close_scaled(got, want, TOL, what) end
-- inputs: U.formula, deterministic values: f(0.37 i + b) over 0-based flat indices, rounded to float32
local formula = U.formula

local function leaf(t, dtype, grad) local r = t:detach():to(dtype):detach(); if grad then r:requires_grad_() end; return r end

-- forward in dtype, then gradients of loss(y) (loss: 'dense' = sum(y * gy), 'sum', 'mean')
local function run(conv, x, w, b, opts, dtype, loss, x_grad)
  local xr, wr = leaf(x, dtype, x_grad), leaf(w, dtype, true)
  local br = b and leaf(b, dtype, true) or nil
  local y = conv(xr, wr, br, opts)
  if loss == 'dense' then
    (y * formula(y.shape, 0.53, 0, 1, ag.cos):to(dtype)):sum():backward()
  elseif loss == 'sum' then y:sum():backward()
  elseif loss == 'mean' then (y:mean() * 1000):backward() end
  return y, xr.grad, wr.grad, br and br.grad
end

local function against_float64(conv, xs, ws, opts, loss, x_grad, bias)
  local x = formula(xs, 0.37, 0.1, 1, ag.sin)
  local w = formula(ws, 0.91, 0, 0.3, ag.cos)
  local b = bias ~= false and (ag.arange(0, ws[1], {dtype = 'float64'}) * 0.1 - 0.3):float() or nil
  local y, gx, gw, gb = run(conv, x, w, b, opts, 'float32', loss, x_grad)
  local y64, gx64, gw64, gb64 = run(conv, x, w, b, opts, 'float64', loss, x_grad)
  assert.are.equal('float32', y.dtype)
  close(y, y64, 'output')
  close(gw, gw64, 'weight gradient')
  if b then close(gb, gb64, 'bias gradient') end
  if x_grad then close(gx, gx64, 'input gradient') end
end

describe('float32 conv2d with few taps (direct kernels) agrees with the float64 path', function()
  local cases = {
    {'1 to 32 channels on 28x28, padding 1 (the benchmark layer at batch 4)', {4, 1, 28, 28}, {32, 1, 3, 3}, {padding = 1}},
    {'1 to 5 channels on 7x5, padding 0 (fewer than 8 outputs, a narrow row)', {3, 1, 7, 5}, {5, 1, 3, 3}, {padding = 0}},
    {'1 to 9 channels on 9x16, padding 2 (a block of 8 and a tail of 1)', {2, 1, 9, 16}, {9, 1, 3, 3}, {padding = 2}},
    {'1 to 17 channels on 6x33, padding 1 (a 33-column row: a second 32-column step)', {2, 1, 6, 33}, {17, 1, 3, 3}, {padding = 1}},
    {'1 to 8 channels on 5x17, padding 1 (17 columns)', {3, 1, 5, 17}, {8, 1, 3, 3}, {padding = 1}},
    {'1 to 11 channels on 11x70, 5x3 kernel, padding (2, 1)', {2, 1, 11, 70}, {11, 1, 5, 3}, {padding = {2, 1}}},
    {'1 to 12 channels on 13x13 with stride (2, 1)', {2, 1, 13, 13}, {12, 1, 3, 3}, {padding = 1, stride = {2, 1}}},
    {'1 to 6 channels on 13x19 with stride 2 (the portable loop)', {2, 1, 13, 19}, {6, 1, 3, 3}, {padding = 1, stride = 2}},
    {'1 to 10 channels on 12x21 with dilation 2', {2, 1, 12, 21}, {10, 1, 3, 3}, {padding = 2, dilation = 2}},
    {'2 to 7 channels on 8x15 (18 taps: the GEMM path)', {2, 2, 8, 15}, {7, 2, 3, 3}, {padding = 1}},
    {'3 to 9 channels, 2x2 kernel (12 taps over 3 input planes)', {2, 3, 9, 10}, {9, 3, 2, 2}, {padding = 1}},
    {'4 to 6 channels in 2 groups, 3x3 (18 taps per group: GEMM)', {2, 4, 7, 9}, {6, 2, 3, 3}, {padding = 1, groups = 2}},
    {'3 to 12 channels in 3 groups (depthwise-like, 9 taps per group)', {2, 3, 10, 18}, {12, 1, 3, 3}, {padding = 1, groups = 3}},
  }
  for _, c in ipairs(cases) do
    it(c[1] .. ': output, weight and bias gradients (dense output gradient)', function()
      against_float64(F.conv2d, c[2], c[3], c[4], 'dense')
    end)
  end

  it('the input gradient too when the input requires grad (1 to 9 channels, padding 1)', function()
    against_float64(F.conv2d, {2, 1, 9, 20}, {9, 1, 3, 3}, {padding = 1}, 'dense', true)
  end)

  it('without a bias', function()
    against_float64(F.conv2d, {3, 1, 10, 29}, {13, 1, 3, 3}, {padding = 1}, 'dense', false, false)
  end)

  it('a 1x1 input with padding 1 (one output column, all padding around it)', function()
    against_float64(F.conv2d, {2, 1, 1, 1}, {3, 1, 3, 3}, {padding = 1}, 'dense')
  end)

  it('gives the exact values of a hand-computed 1 to 2 channel 3x3 case', function()
    local x = ag.tensor({{{{1, 2, 3}, {4, 5, 6}}}}):float()          -- (1, 1, 2, 3)
    local w = ag.tensor({{{{0, 0, 0}, {0, 1, 0}, {0, 0, 0}}},           -- identity tap
                         {{{1, 1, 1}, {1, 1, 1}, {1, 1, 1}}}}):float()  -- 3x3 box sum
    local y = F.conv2d(x, w, ag.tensor({0.5, -1}):float(), {padding = 1})
    assert.are.same({{{{1.5, 2.5, 3.5}, {4.5, 5.5, 6.5}},
                      {{11, 20, 15}, {11, 20, 15}}}}, y:totable())
  end)
end)

describe('weight and bias gradients of an output gradient constant across channels', function()
  it('y:sum() on 1 to 32 channels, 28x28, padding 1', function()
    against_float64(F.conv2d, {4, 1, 28, 28}, {32, 1, 3, 3}, {padding = 1}, 'sum')
  end)
  it('y:mean() on 2 to 10 channels, 2x2 kernel, padding 2', function()
    against_float64(F.conv2d, {3, 2, 9, 11}, {10, 2, 2, 2}, {padding = 2}, 'mean')
  end)
  it('y:sum() with the input requiring grad (its gradient is still exact)', function()
    against_float64(F.conv2d, {2, 1, 8, 19}, {6, 1, 3, 3}, {padding = 1}, 'sum', true)
  end)
  it('y:sum() with groups (the shortcut does not apply) and stride 2', function()
    against_float64(F.conv2d, {2, 2, 9, 9}, {4, 1, 3, 3}, {padding = 1, groups = 2, stride = 2}, 'sum')
  end)
  it('y:sum() on 9 to 12 channels, 3x3, padding 1 (Winograd; the bias gradient from one slice)', function()
    against_float64(F.conv2d, {2, 9, 8, 10}, {12, 9, 3, 3}, {padding = 1}, 'sum', true)
  end)
  it('y:mean() of conv_transpose2d, 3 to 3 channels, stride 2 (the bias gradient from one slice)', function()
    against_float64(F.conv_transpose2d, {2, 3, 5, 6}, {3, 3, 3, 3}, {padding = 1, stride = 2}, 'mean', true)
  end)
  it('y:sum() gives w.grad[o] = sum of the taps over samples and positions, the same for every o', function()
    local x = ag.ones(2, 1, 3, 3):float()
    local w = ag.zeros(3, 1, 3, 3):float():requires_grad_()
    local b = ag.zeros(3):float():requires_grad_()
    F.conv2d(x, w, b, {padding = 1}):sum():backward()
    -- per sample, tap (i, j) sees the input at (oh + i - 1, ow + j - 1) inside the 3x3 image:
    -- corners 4 positions, edges 6, centre 9; two samples double it
    local one = {{8, 12, 8}, {12, 18, 12}, {8, 12, 8}}
    assert.are.same({{one}, {one}, {one}}, w.grad:totable())
    assert.are.same({18, 18, 18}, b.grad:totable())
  end)
  it('create_graph: the gradient still depends on the weight as a graph (gradgradcheck)', function()
    local x = ag.randn(2, 1, 5, 6):double()
    local w = ag.randn(4, 1, 3, 3):double():requires_grad_()
    assert.is_true(ag.autograd.gradgradcheck(function(wt) return F.conv2d(x, wt, nil, {padding = 1}):sum() end, {w}))
  end)
end)

describe('float32 conv1d with few taps agrees with the float64 path', function()
  it('1 to 9 channels, length 37, kernel 5, padding 2', function()
    against_float64(F.conv1d, {3, 1, 37}, {9, 1, 5}, {padding = 2}, 'dense')
  end)
  it('2 to 3 channels, length 16, kernel 3, no padding, y:sum()', function()
    against_float64(F.conv1d, {2, 2, 16}, {3, 2, 3}, {padding = 0}, 'sum')
  end)
end)
