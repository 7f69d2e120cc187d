-- tensor_memory_spec.lua: memory is reference counted in C and the Lua GC is driven from
-- the C allocator's live byte count (lua/ag/core.lua): a loop that makes a ~1 MB temporary
-- per iteration stays bounded and ends near where it started with no collectgarbage() in
-- the loop; an allocation past the hard limit collects garbage and retries; views keep
-- their storage alive; and dropped tensors give every byte back.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')

local MB = 1024 * 1024

describe("memory", function()
  it("a loop of 1 MB temporaries returns near its starting byte count, with no collectgarbage()", function()
    local old = ag.set_memory_limit(16 * MB)      -- collect whenever 16 MB of tensors are live
    local start, peak = ag.memory_allocated(), 0
    local x = ag.ones(256 * 1024)                  -- 1 MB of float32
    for i = 1, 3000 do
      local t = (x * i + 1):sum()                  -- two 1 MB temporaries per iteration
      assert(t:item() == 262144 * (i + 1))
      peak = math.max(peak, ag.memory_allocated() - start)
    end
    x = nil
    local after = ag.memory_allocated() - start
    ag.set_memory_limit(old)
    -- 6 GB went through the loop; never more than about twice the limit was live
    assert.is_true(peak <= 2 * 16 * MB + 4 * MB, 'peak ' .. peak)
    assert.is_true(after <= 16 * MB + 4 * MB, 'left ' .. after)
  end)

  it("with the default limit a 1 MB-per-iteration loop stays under 300 MB", function()
    local start, peak = ag.memory_allocated(), 0
    for _ = 1, 2000 do
      local t = ag.empty(256 * 1024):fill_(1)
      peak = math.max(peak, ag.memory_allocated() - start)
      assert(t ~= nil)
    end
    assert.is_true(peak < 300 * MB, 'peak ' .. peak)
  end)

  it("an allocation past the hard limit collects garbage and retries instead of failing", function()
    local old_soft = ag.set_memory_limit(1e15)     -- the soft limit alone would never collect
    local base = ag.memory_allocated()
    local old_hard = ag.set_memory_hard_limit(base + 40 * MB)
    local ok, err = pcall(function()
      local x = ag.ones(256 * 1024)
      for i = 1, 300 do                            -- 300 MB of temporaries under a 40 MB cap
        local y = x + i
        assert(y[1]:item() == i + 1)
      end
    end)
    ag.set_memory_hard_limit(old_hard)
    ag.set_memory_limit(old_soft)
    assert.is_true(ok, tostring(err))
    assert.is_true(ag.memory_allocated() <= base + 40 * MB)
  end)

  it("the hard limit fails with an out-of-memory error naming the size when nothing can be freed", function()
    collectgarbage(); collectgarbage()           -- so that the retry finds nothing to free
    local base = ag.memory_allocated()
    local old = ag.set_memory_hard_limit(base + 8 * MB)
    local ok, err = pcall(ag.zeros, 4 * MB)          -- 16 MB of float32
    ag.set_memory_hard_limit(old)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find('out of memory allocating 16777216 bytes', 1, true))
  end)

  it("a view keeps its storage alive after the base is gone", function()
    local base = ag.arange(10):float()
    local v = base:narrow(1, 6, 5)
    base = nil
    collectgarbage(); collectgarbage()
    U.same(v, {5, 6, 7, 8, 9})
  end)

  it("gives every byte back once the tensors are unreachable", function()
    collectgarbage(); collectgarbage()
    local start = ag.memory_allocated()
    local a = ag.zeros(1000, 1000)
    local one = ag.memory_allocated() - start       -- 4 MB, rounded up to the allocator's size class
    assert.is_true(one >= 4000000 and one <= 4000000 * 1.25)
    local views = {a:t(), a[1], a:view(-1), a:narrow(1, 1, 10), a:expand(2, 1000, 1000)}
    assert.are.equal(start + one, ag.memory_allocated())   -- views allocate no data
    local b = a:t():contiguous()
    assert.are.equal(start + 2 * one, ag.memory_allocated())
    a, b, views = nil, nil, nil
    collectgarbage(); collectgarbage()
    assert.are.equal(start, ag.memory_allocated())
  end)
end)
