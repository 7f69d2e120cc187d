-- conv_winograd_spec.lua: float32 3x3 stride-1 convolutions, which ag runs by Winograd
-- F(4x4, 3x3) on AVX-512 CPUs (lib/tensor/conv_winograd.c): the forward, the input gradient
-- (also conv_transpose2d with stride 1; as the exact adjoint of the forward's tiles when a
-- sample is one work item, else as a convolution with the rotated kernel) and the weight
-- gradient (both in one pass over the output gradient when a sample is one work item), on shapes with channel
-- counts that are not multiples of 16, widths and heights that are not multiples of 4,
-- padding 0/1/2 and per-dim padding, and more than 64 output channels. Compared with
--   * ag's float64 convolution (the exact im2col path, itself checked against PyTorch to
--     1e-10 in conv_pytorch_spec), and
--   * PyTorch 1.13's float64 results (tests/fixtures/conv_winograd_cases.lua).
-- Tolerance: |a - b| <= 1e-4 + 1e-4 * max|b| per tensor (atol 1e-4, rtol 1e-4 of the
-- tensor's scale). Winograd's transforms add rounding: on the (64, 32->64, 28x28) layer its
-- error is about 5e-6 (output), 1e-5 (input gradient), 2e-5 (weight gradient) of the
-- largest value, where PyTorch's float32 (oneDNN) shows 4e-7, 4e-7 and 7e-6.
local ag = require 'ag'
local F = require 'ag.nn.functional_conv'

local TOL = 1e-4

local U = dofile('tests/tensor_util.lua')
local function close(got, want, what) U.close_scaled(got, want, TOL, what) end
-- inputs: U.formula, x[i] = sin(0.37 i + 0.1) etc. over 0-based flat indices, rounded to float32 (as the fixtures)
local formula = U.formula
local function inputs(N, C, O, H, W)
  local x = formula({N, C, H, W}, 0.37, 0.1, 1, ag.sin)
  local w = formula({O, C, 3, 3}, 0.91, 0, 0.2, ag.cos)
  local b = (ag.arange(0, O, {dtype = 'float64'}) * 0.1 - 0.3):float()
  return x, w, b
end

-- forward and gradients of sum(y * gy) in the given dtype
local function run(x, w, b, gy, opts, dtype)
  local xr = x:detach():to(dtype):detach():requires_grad_()
  local wr = w:detach():to(dtype):detach():requires_grad_()
  local br = b:detach():to(dtype):detach():requires_grad_()
  local y = F.conv2d(xr, wr, br, opts)
  if gy then (y * gy:to(dtype)):sum():backward() end
  return y, xr.grad, wr.grad, br.grad
end

local function against_float64(N, C, O, H, W, padding)
  local x, w, b = inputs(N, C, O, H, W)
  local opts = {padding = padding}
  local y32 = run(x, w, b, nil, opts, 'float32')
  local gy = formula(y32.shape, 0.53, 0, 1, ag.cos)
  local y, gx, gw, gb = run(x, w, b, gy, opts, 'float32')
  local y64, gx64, gw64, gb64 = run(x, w, b, gy, opts, 'float64')
  assert.are.equal('float32', y.dtype)
  close(y, y64, 'output')
  close(gx, gx64, 'input gradient')
  close(gw, gw64, 'weight gradient')
  close(gb, gb64, 'bias gradient')
end

describe('float32 3x3 stride-1 conv2d (Winograd F(4x4,3x3)) agrees with the float64 path', function()
  local shapes = {
    {'8 to 8 channels on a 6x6 input, padding 0 (one whole 4x4 tile)', 2, 8, 8, 6, 6, 0},
    {'9 to 10 channels on 11x13, padding 1 (channel tails, a partial last tile)', 2, 9, 10, 11, 13, 1},
    {'17 to 33 channels on 7x30, padding 2', 3, 17, 33, 7, 30, 2},
    {'40 to 70 channels on 9x30, padding 1 (two blocks of output channels)', 1, 40, 70, 9, 30, 1},
    {'16 to 16 channels on 10x9, padding (0, 2)', 2, 16, 16, 10, 9, {0, 2}},
    {'12 to 20 channels on 8x8, padding 3 (input gradient on the im2col path)', 2, 12, 20, 8, 8, 3},
    {'32 to 64 channels on 28x28 at batch 16, padding 1 (the benchmark layer)', 16, 32, 64, 28, 28, 1},
    {'6 to 20 channels on 41x40, padding 1 (bands of tile rows: the input gradient by the rotated kernel)', 1, 6, 20, 41, 40, 1},
  }
  for _, s in ipairs(shapes) do
    it(s[1] .. ': output and gradients within 1e-4', function()
      against_float64(s[2], s[3], s[4], s[5], s[6], s[7])
    end)
  end

  it('without a bias, and with only one of x and w requiring grad (one pass or the separate ones)', function()
    local x, w = inputs(3, 9, 20, 12, 11)
    local y32 = F.conv2d(x, w, nil, {padding = 1})
    local gy = formula(y32.shape, 0.53, 0, 1, ag.cos)
    local function grads(dtype, need_x, need_w)
      local xr, wr = x:to(dtype):clone(), w:to(dtype):clone()
      if need_x then xr:requires_grad_() end
      if need_w then wr:requires_grad_() end
      (F.conv2d(xr, wr, nil, {padding = 1}) * gy:to(dtype)):sum():backward()
      return xr.grad, wr.grad
    end
    for _, m in ipairs({{true, true}, {true, false}, {false, true}}) do
      local gx, gw = grads('float32', m[1], m[2])
      local gx64, gw64 = grads('float64', m[1], m[2])
      if m[1] then close(gx, gx64, 'input gradient') else assert.is_nil(gx) end
      if m[2] then close(gw, gw64, 'weight gradient') else assert.is_nil(gw) end
    end
  end)

  it('a wide image splits into several bands of tile rows per sample', function()
    against_float64(1, 8, 8, 70, 300, 1)       -- 75 tiles a row: one tile row per work item
  end)

  it('takes non-contiguous inputs (a transposed view)', function()
    local x, w, b = inputs(2, 8, 12, 12, 10)
    local xt = x:transpose(3, 4)                -- (2, 8, 10, 12), strided
    local y = F.conv2d(xt, w, b, {padding = 1})
    close(y, F.conv2d(xt:double(), w:double(), b:double(), {padding = 1}), 'output')
  end)

  it('conv_transpose2d with stride 1 (the input-gradient kernel as a forward)', function()
    local x = formula({2, 24, 9, 11}, 0.37, 0.1, 1, ag.sin)
    local w = formula({24, 10, 3, 3}, 0.91, 0, 0.2, ag.cos)
    local b = ag.arange(0, 10):float() * 0.1
    for _, p in ipairs({0, 1, 2}) do
      local y = F.conv_transpose2d(x, w, b, {padding = p})
      assert.are.same({2, 10, 11 - 2 * p, 13 - 2 * p}, y.shape)
      close(y, F.conv_transpose2d(x:double(), w:double(), b:double(), {padding = p}), 'padding ' .. p)
    end
  end)

  it('keeps float64 exact: the float64 result is not the float32 one', function()
    local x, w, b = inputs(1, 16, 16, 8, 8)
    local y64 = F.conv2d(x:double(), w:double(), b:double(), {padding = 1})
    local y32 = F.conv2d(x, w, b, {padding = 1})
    -- a float64 direct sum for one output: position (1, 3, 4, 5)
    local s = b[3]:item()
    for c = 1, 16 do
      for i = 1, 3 do
        for j = 1, 3 do
          local h, v = 4 + i - 2, 5 + j - 2
          s = s + x[1][c][h][v]:item() * w[3][c][i][j]:item()
        end
      end
    end
    assert.is_true(math.abs(y64[1][3][4][5]:item() - s) < 1e-12)
    assert.is_true(math.abs(y32[1][3][4][5]:item() - s) < 1e-4)
  end)
end)

describe('float32 3x3 stride-1 conv2d agrees with PyTorch (float64 fixtures)', function()
  local cases = dofile('tests/fixtures/conv_winograd_cases.lua')
  for _, c in ipairs(cases) do
    it(c.name .. ': output and gradients within 1e-4', function()
      local x, w, b = inputs(c.N, c.C, c.O, c.H, c.W)
      local gy = formula(c.y_shape, 0.53, 0, 1, ag.cos)
      local y, gx, gw, gb = run(x, w, b, gy, {padding = c.padding}, 'float32')
      close(y, ag.tensor(c.y, {dtype = 'float64'}):reshape(c.y_shape), 'output')
      close(gx, ag.tensor(c.gx, {dtype = 'float64'}):reshape(x.shape), 'input gradient')
      close(gw, ag.tensor(c.gw, {dtype = 'float64'}):reshape(w.shape), 'weight gradient')
      close(gb, ag.tensor(c.gb, {dtype = 'float64'}):reshape(b.shape), 'bias gradient')
    end)
  end
end)
