-- conv_pool_spec.lua: max_pool2d(conv2d(x, w, b)) as one node (ConvolutionMaxPoolBackward,
-- lib/autograd/conv_pool_grad.c), which nn.Sequential uses for Conv2d -> [ReLU ->] MaxPool2d
-- when x needs no gradient. Checked against the two separate ops on the same inputs (the
-- direct kernel's path for one input channel, the scatter path for others), float64
-- gradcheck and gradgradcheck (the create_graph formula), and the cases that must keep the
-- separate ops (x requiring grad, no_grad, return_indices).
local ag = require 'ag'
local nn = require 'ag.nn'
local F = require 'ag.nn.functional_conv'

local function maxdiff(a, b) return (a:double() - b:double()):abs():max():item() end
local function scale(a) return a:double():abs():max():item() end

-- values and parameter gradients of the fused node and of the two ops, for sum(y * gy)
local function both(dtype, N, C, O, H, W, conv_args, pool_args, bias)
  ag.manual_seed(3)
  local x = ag.randn(N, C, H, W):to(dtype)
  local w0, b0 = (ag.randn(O, C, 3, 3) * 0.3):to(dtype), bias ~= false and ag.randn(O):to(dtype) or nil
  local function run(fused)
    local w, b = w0:clone():requires_grad_(), b0 and b0:clone():requires_grad_() or nil
    local y
    if fused then y = F._conv2d_max_pool2d(x, w, b, conv_args, pool_args)
    else
      y = F.max_pool2d(F.conv2d(x, w, b, conv_args), pool_args)
    end
    ag.manual_seed(5)
    local gy = ag.randn(unpack(y.shape)):to(dtype)
    local name = y.grad_fn:name()
    ag.autograd.backward({(y * gy):sum()})
    return y, w.grad, b and b.grad, name
  end
  local y1, gw1, gb1, n1 = run(true)
  local y2, gw2, gb2, n2 = run(false)
  return {y1, gw1, gb1, n1}, {y2, gw2, gb2, n2}
end

describe('conv2d then max_pool2d as one node', function()
  local cases = {
    {'one channel (direct kernel, pooled in cache), 2x2 pool', 4, 1, 8, 10, 10, {}, {kernel_size = 2}},
    {'one channel, odd conv output (9x7) and 11 channels, 2x2 pool', 2, 1, 11, 11, 9, {}, {kernel_size = 2}},
    {'one channel, odd sizes, conv padding 1, pool 3 stride 2 (overlapping windows)', 3, 1, 9, 11, 9,
     {padding = 1}, {kernel_size = 3, stride = 2}},
    {'one channel, conv stride 2 and dilation 2, pool padding 1 and ceil_mode', 2, 1, 5, 13, 12,
     {stride = {2, 1}, dilation = 2, padding = 2}, {kernel_size = 2, padding = 1, ceil_mode = true}},
    {'three channels (the scatter path)', 2, 3, 6, 9, 8, {padding = 1}, {kernel_size = 2}},
  }
  for _, c in ipairs(cases) do
    it(c[1] .. ': the same values and gradients as the two ops', function()
      for _, dt in ipairs({'float32', 'float64'}) do
        for _, bias in ipairs({true, false}) do
          local f, s = both(dt, c[2], c[3], c[4], c[5], c[6], c[7], c[8], bias)
          assert.are.equal('ConvolutionMaxPoolBackward', f[4])
          assert.are.equal('MaxPool2DWithIndicesBackward0', s[4])
          assert.are.equal(0, maxdiff(f[1], s[1]))
          local tol = dt == 'float32' and 1e-5 or 1e-12
          assert.is_true(maxdiff(f[2], s[2]) <= tol * (1 + scale(s[2])), dt .. ' weight gradient')
          if bias then assert.is_true(maxdiff(f[3], s[3]) <= tol * (1 + scale(s[3])), dt .. ' bias gradient') end
        end
      end
    end)
  end

  it('passes gradcheck and gradgradcheck in float64 (weight and bias)', function()
    ag.manual_seed(11)
    local x = ag.randn(2, 1, 6, 7):double()
    local w, b = ag.randn(3, 1, 3, 3):double():requires_grad_(), ag.randn(3):double():requires_grad_()
    local function f(w, b) return F._conv2d_max_pool2d(x, w, b, {padding = 1}, {kernel_size = 2}) end
    assert.is_true(ag.autograd.gradcheck(f, {w, b}))
    assert.is_true(ag.autograd.gradgradcheck(f, {w, b}))
  end)

  it('nn.Sequential takes it for Conv2d -> ReLU -> MaxPool2d and Conv2d -> MaxPool2d on images', function()
    ag.manual_seed(2)
    local m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.MaxPool2d(2))
    local x = ag.rand(3, 1, 14, 14)
    local y = m(x)
    -- the first pair fuses (x needs no gradient); the second's input does, so it stays two ops
    -- y <- MaxPool2DWithIndicesBackward0 <- ConvolutionBackward0 <- ReluBackward0 <- ConvolutionMaxPoolBackward
    assert.are.equal('MaxPool2DWithIndicesBackward0', y.grad_fn:name())
    local conv2 = y.grad_fn.next_functions[1][1]
    local relu = conv2.next_functions[1][1]
    assert.are.equal('ReluBackward0', relu:name())
    assert.are.equal('ConvolutionMaxPoolBackward', relu.next_functions[1][1]:name())
    local ref = m[5](m[4](m[2](m[3](m[1](x)))))
    assert.are.equal(0, maxdiff(y, ref))
    y:sum():backward()
    local g1 = m[1].weight.grad:clone()
    m:zero_grad()
    ref:sum():backward()
    assert.is_true(maxdiff(g1, m[1].weight.grad) <= 1e-5 * (1 + scale(g1)))
  end)

  it('keeps the two ops when x needs a gradient, under no_grad and with return_indices', function()
    local conv = nn.Conv2d(1, 2, 3)
    local xg = ag.rand(1, 1, 6, 6):requires_grad_()
    local y = nn.Sequential(conv, nn.MaxPool2d(2))(xg)
    assert.are.equal('MaxPool2DWithIndicesBackward0', y.grad_fn:name())
    y:sum():backward()
    assert.is_not_nil(xg.grad)
    local x = ag.rand(1, 1, 6, 6)
    ag.no_grad(function()
      local z = nn.Sequential(conv, nn.MaxPool2d(2))(x)
      assert.is_nil(z.grad_fn)
    end)
    local z, idx = nn.Sequential(conv, nn.MaxPool2d(2, {return_indices = true}))(x)
    assert.are.equal('MaxPool2DWithIndicesBackward0', z.grad_fn:name())
  end)
end)
