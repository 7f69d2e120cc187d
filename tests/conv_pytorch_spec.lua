-- conv_pytorch_spec.lua: convolution, pooling and interpolation against PyTorch 1.13:
-- forward values and the gradients of sum(y * gy) for every case in
-- tests/fixtures/conv_cases.lua (regenerate with /usr/bin/python3 tests/fixtures/gen_conv.py),
-- in float64 within 1e-10 and in float32 within float32 rounding.
local ag = require 'ag'
local F = require 'ag.nn.functional_conv'
local cases = dofile('tests/fixtures/conv_cases.lua')

local function make(spec, dtype)
  return ag.tensor(spec.data, {dtype = dtype}):reshape(spec.shape)
end

local function max_diff(a, b)
  return (a:double() - b:double()):abs():max():item()
end

local function scale(t) return math.max(1, t:double():abs():max():item()) end

local function run(case, dtype)
  local t = {}
  for _, k in ipairs(case.order) do t[k] = make(case.inputs[k], dtype):requires_grad_() end
  local y
  if case.op:match('^conv') then
    y = F[case.op](t.x, t.w, t.b, case.opts)
  elseif case.op == 'adaptive_avg_pool2d' then
    y = F.adaptive_avg_pool2d(t.x, case.opts.output_size)
  else
    y = F[case.op](t.x, case.opts)
  end
  (y * make(case.gy, dtype)):sum():backward()
  return t, y
end

-- ag names 1-d interpolation and 1x1 adaptive pooling after the 2-d kernels it runs
local own_name = {['interpolate linear 1-d'] = 'SqueezeBackward1', ['adaptive_avg_pool2d to 1x1'] = 'AdaptiveAvgPool2DBackward0'}

describe('spatial ops match PyTorch', function()
  for _, case in ipairs(cases) do
    describe(case.name, function()
      it('float64: output, grad_fn name and gradients within 1e-10', function()
        local t, y = run(case, 'float64')
        local expect = make(case.y, 'float64')
        assert.are.same(expect.shape, y.shape)
        assert.is_true(max_diff(y, expect) <= 1e-10 * scale(expect))
        assert.are.equal(own_name[case.name] or case.grad_fn, y.grad_fn:name())
        for _, k in ipairs(case.order) do
          local g = make(case.grads[k], 'float64')
          assert.is_true(max_diff(t[k].grad, g) <= 1e-10 * scale(g), k .. ' gradient')
        end
      end)
      it('float32: output and gradients within float32 rounding', function()
        local t, y = run(case, 'float32')
        assert.are.equal('float32', y.dtype)
        local expect = make(case.y, 'float64')
        assert.is_true(max_diff(y, expect) <= 2e-5 * scale(expect))
        for _, k in ipairs(case.order) do
          assert.are.equal('float32', t[k].grad.dtype)
          local g = make(case.grads[k], 'float64')
          assert.is_true(max_diff(t[k].grad, g) <= 2e-5 * scale(g), k .. ' gradient')
        end
      end)
    end)
  end
end)
