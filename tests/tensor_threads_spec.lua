-- tensor_threads_spec.lua: ag.set_num_threads / ag.get_num_threads, and that a large op
-- (100k elements, above the OpenMP threshold) gives the same answer on 1 and 2 threads.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')

describe("threads", function()
  local saved
  before_each(function() saved = ag.get_num_threads() end)
  after_each(function() ag.set_num_threads(saved) end)

  it("set_num_threads sets what get_num_threads reports", function()
    ag.set_num_threads(1)
    assert.are.equal(1, ag.get_num_threads())
    ag.set_num_threads(2)
    assert.are.equal(2, ag.get_num_threads())
  end)

  it("give equal results on 1 and 2 threads for a 100k-element op", function()
    local n = 100000
    local x = ag.linspace(-3, 3, n)
    local y = ag.arange(n):float():view(100, 1000):t():contiguous():view(n)   -- a permutation
    local function run()
      local e = ((x * 2 + y / n):tanh() + x:sigmoid()):exp()
      local r = x:view(1000, 100):t():sum(2)          -- strided reduction, 100 outputs
      local v = x:clone():add_(1):clamp_(-1, 1)
      return e:totable(), r:totable(), v:totable(), e:sum():item(), x:gt(0):sum():item()
    end
    ag.set_num_threads(1)
    local e1, r1, v1, s1, c1 = run()
    ag.set_num_threads(2)
    local e2, r2, v2, s2, c2 = run()
    assert.are.same(e1, e2)
    assert.are.same(r1, r2)
    assert.are.same(v1, v2)
    assert.are.equal(s1, s2)
    assert.are.equal(c1, c2)
    assert.are.equal(n / 2, c1)           -- linspace(-3, 3, even n) is symmetric about 0
    -- and the 2-thread answer is right, not just repeatable: spot-check three elements
    local xt, yt = x:totable(), y:totable()
    for _, i in ipairs({1, 50001, n}) do
      local want = math.exp(math.tanh(xt[i] * 2 + yt[i] / n) + 1 / (1 + math.exp(-xt[i])))
      U.close(e2[i], want, 1e-5)
    end
  end)

  it("rejects a thread count below 1", function()
    U.raises(function() ag.set_num_threads(0) end, 'ag.set_num_threads', 'positive integer')
  end)
end)
