-- nn_functional_torch_spec.lua: the differential test of ag.nn.functional against PyTorch.
-- tests/fixtures/gen_nn_functional.py ran each case through PyTorch 1.13 and recorded the
-- inputs, the outputs and the gradients of sum(output * gout); here ag runs the same
-- expression on the same inputs and must agree: float64 within 1e-10, float32 within the
-- case's tolerance. Class labels in the fixture are already 1-based.
local ag = require 'ag'
local ffi = require 'ffi'
local core = require 'ag.core'
local F = ag.nn.functional
local cases = dofile('tests/fixtures/nn_functional_cases.lua')

local function make(v)
  local n = #v.data
  local buf = ffi.new('double[?]', math.max(n, 1))
  for i = 1, n do buf[i - 1] = v.data[i] end
  local sizes = ffi.new('int64_t[?]', math.max(#v.shape, 1), v.shape)
  local dt = ({float32 = 0, float64 = 1, int64 = 2})[v.dtype]
  return core.wrap(core.C.agt_from_doubles(buf, #v.shape, sizes, dt))
end

local function compare(got, want, tol, what)
  assert.are.same(want.shape, got.shape, what .. ': shape')
  assert.are.equal(want.dtype, got.dtype, what .. ': dtype')
  local vals = got:reshape(-1):totable()
  for i, w in ipairs(want.data) do
    local g = vals[i]
    local ok
    if w ~= w then ok = g ~= g
    elseif w == math.huge or w == -math.huge then ok = g == w
    else ok = math.abs(g - w) <= tol * (1 + math.abs(w)) end
    if not ok then
      error(string.format('%s: element %d is %.17g, PyTorch says %.17g (tolerance %g)', what, i, g, w, tol), 0)
    end
  end
end

describe('ag.nn.functional agrees with PyTorch 1.13 (fixture from tests/fixtures/gen_nn_functional.py)', function()
  for _, c in ipairs(cases) do
    it(c.name .. ': ' .. c.lua, function()
      local env = setmetatable({F = F, ag = ag}, {__index = _G})
      local leaves = {}
      for _, inp in ipairs(c.inputs) do
        local t = make(inp.value)
        if inp.kind == 'grad' then t:requires_grad_(); leaves[inp.name] = t end
        env[inp.name] = t
      end
      local fn = assert(loadstring('return ' .. c.lua, c.name))
      setfenv(fn, env)
      local outs = {fn()}
      assert.are.equal(#c.outputs, #outs, 'number of results')
      for k, want in ipairs(c.outputs) do compare(outs[k], want, c.tol, 'output ' .. k) end
      if next(c.grads) then
        local loss = (outs[1] * make(c.gout)):sum()
        loss:backward()
        for name, want in pairs(c.grads) do compare(leaves[name].grad, want, c.tol, 'grad of ' .. name) end
      end
    end)
  end
end)
