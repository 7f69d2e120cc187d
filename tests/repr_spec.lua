-- Checks ag.repr.format against PyTorch 1.13's repr(tensor) on the cases in
-- tests/fixtures/repr_cases.lua (regenerate with tests/fixtures/gen_repr.py).
local repr = require 'ag.repr'

local here = debug.getinfo(1, 'S').source:match('^@(.*)/') or '.'
local cases = dofile(here .. '/fixtures/repr_cases.lua')

describe('ag.repr.format', function()
  for _, case in ipairs(cases) do
    it(case.name, function()
      assert.are.equal(case.expected, repr.format(case))
    end)
  end
end)
