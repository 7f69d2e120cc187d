-- autograd_engine_spec.lua: the engine's semantics: retain_graph, inputs=, autograd.grad,
-- version counters, in-place rules, hooks, retain_grad, and the error texts PyTorch uses.
local ag = require 'ag'

local function errmsg(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end
local function has(s, sub) assert.truthy(s:find(sub, 1, true), "message was: " .. s) end

describe("the autograd engine", function()
  it("frees saved tensors after backward and says how to keep them", function()
    local b = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local c = (b * b):sum()
    c:backward()
    local err = errmsg(function() c:backward() end)
    has(err, "Trying to backward through the graph a second time")
    has(err, "retain_graph=true")
  end)

  it("keeps the graph with retain_graph", function()
    local b = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local c = (b * b):sum()
    c:backward(nil, {retain_graph = true})
    c:backward()
    assert.are.same({4, 8}, b.grad:totable())
  end)

  it("sums gradients that reach one input along several paths", function()
    local x = ag.tensor({3.0}, {requires_grad = true})
    local y = x * x + x * 2 + x   -- dy/dx = 2x + 3 = 9
    y:sum():backward()
    assert.are.same({9}, x.grad:totable())
  end)

  it("reduces broadcast gradients to the input's shape", function()
    local a = ag.ones(2, 3, {requires_grad = true})
    local b = ag.tensor({1.0, 2.0, 3.0}, {requires_grad = true})
    local s = ag.tensor({{10.0}, {20.0}}, {requires_grad = true})
    local out = (a * b + s) * 2
    out:sum():backward()
    assert.are.same({4, 4, 4}, b.grad:totable())
    assert.are.same({{6}, {6}}, s.grad:totable())
    assert.are.same({{2, 4, 6}, {2, 4, 6}}, a.grad:totable())
  end)

  it("computes gradients without touching .grad in autograd.grad", function()
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local y = ag.tensor({3.0, 4.0}, {requires_grad = true})
    local gx, gy = ag.autograd.grad((x * y):sum(), {x, y})
    assert.are.same({3, 4}, gx:totable())
    assert.are.same({1, 2}, gy:totable())
    assert.is_nil(x.grad)
  end)

  it("accepts grad_outputs", function()
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local g = ag.autograd.grad(x * 3, x, {grad_outputs = ag.tensor({1.0, 10.0})})
    assert.are.same({3, 30}, g:totable())
  end)

  it("raises on unused inputs unless allow_unused", function()
    local x = ag.tensor({1.0}, {requires_grad = true})
    local u = ag.tensor({1.0}, {requires_grad = true})
    local y = (x * 2):sum()
    has(errmsg(function() ag.autograd.grad(y, {x, u}, {retain_graph = true}) end),
        "One of the differentiated Tensors appears to not have been used in the graph")
    local gx, gu = ag.autograd.grad(y, {x, u}, {allow_unused = true, retain_graph = true})
    assert.are.same({2}, gx:totable())
    assert.is_nil(gu)
    local _, gz = ag.autograd.grad(y, {x, u}, {materialize_grads = true})
    assert.are.same({0}, gz:totable())
  end)

  it("limits accumulation to backward's inputs", function()
    local x = ag.tensor({1.0}, {requires_grad = true})
    local y = ag.tensor({2.0}, {requires_grad = true})
    local p = x * y
    p:sum():backward(nil, {inputs = {x}})
    assert.are.same({2}, x.grad:totable())
    assert.is_nil(y.grad)
  end)

  it("raises PyTorch's version-counter error for a modified saved tensor", function()
    local d = ag.tensor({1.0, 2.0, 3.0}, {requires_grad = true})
    local e = d * 2
    local f = e * e
    e:add_(1)
    local err = errmsg(function() f:sum():backward() end)
    has(err, "one of the variables needed for gradient computation has been modified by an inplace operation: "
          .. "[ag.FloatTensor [3]], which is output 0 of MulBackward0, is at version 1; expected version 0 instead.")
  end)

  it("bumps the version on every in-place op", function()
    local t = ag.zeros(3)
    assert.are.equal(0, t.version)
    t:add_(1); t:mul_(2); t:zero_()
    assert.are.equal(3, t.version)
  end)

  it("refuses in-place ops on leaves that require grad, except under no_grad", function()
    local w = ag.tensor({1.0, 2.0}, {requires_grad = true})
    has(errmsg(function() w:add_(1) end), "a leaf Variable that requires grad is being used in an in-place operation.")
    has(errmsg(function() w:narrow(1, 1, 1):mul_(2) end), "a view of a leaf Variable that requires grad is being used in an in-place operation.")
    ag.no_grad(function() w:sub_(1) end)
    assert.are.same({0, 1}, w:totable())
  end)

  it("differentiates through in-place ops on non-leaves", function()
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local y = x * 3
    y:mul_(2)
    assert.are.equal("MulBackward0", y.grad_fn:name())
    y:exp_()             -- y = exp(6x); PyTorch: x.grad = [2420.5728, 976528.75]
    assert.are.equal("ExpBackward0", y.grad_fn:name())
    y:sum():backward()
    assert.is_true(math.abs(x.grad[1]:item() - 2420.5728) < 1e-3)
    assert.is_true(math.abs(x.grad[2]:item() - 976528.75) < 0.1)
  end)

  it("lets only leaves change requires_grad", function()
    local x = ag.tensor({1.0}, {requires_grad = true})
    has(errmsg(function() (x * 2).requires_grad = false end), "you can only change requires_grad flags of leaf variables")
    has(errmsg(function() ag.tensor({1, 2}, {dtype = 'int64'}):requires_grad_() end),
        "only Tensors of floating point dtype can require gradients")
  end)

  it("sets and clears .grad", function()
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    x.grad = ag.tensor({5.0, 5.0})
    ;(x * 1):sum():backward()
    assert.are.same({6, 6}, x.grad:totable())
    x.grad = nil
    assert.is_nil(x.grad)
    has(errmsg(function() x.grad = ag.zeros(3) end), "assigned grad has data of a different size")
  end)

  it("lists next_functions with AccumulateGrad for leaves", function()
    local x = ag.tensor({1.0}, {requires_grad = true})
    local y = ag.tensor({2.0})
    local z = x * y
    local nf = z.grad_fn.next_functions
    assert.are.equal(2, #nf)
    assert.are.equal("AccumulateGrad", nf[1][1]:name())
    assert.are.equal(0, nf[1][2])
    assert.is_nil(nf[2][1])
    assert.are.same({1}, nf[1][1].variable:totable())
  end)

  it("names nodes as PyTorch does", function()
    local x = ag.tensor({{1.0, 2.0}, {3.0, 4.0}}, {requires_grad = true})
    local names = {
      {x - 1, "SubBackward0"}, {2 - x, "RsubBackward1"}, {x / 2, "DivBackward0"}, {x ^ 2, "PowBackward0"},
      {x:sum(), "SumBackward0"}, {x:sum(1), "SumBackward1"}, {x:mean(), "MeanBackward0"},
      {x:max(), "MaxBackward1"}, {(x:max(1)), "MaxBackward0"}, {x:mm(x), "MmBackward0"},
      {x:t(), "TBackward0"}, {x:transpose(1, 2), "TransposeBackward0"}, {x:view(4), "ViewBackward0"},
      {x:narrow(1, 1, 1), "SliceBackward0"}, {x[1], "SelectBackward0"}, {x:unsqueeze(1), "UnsqueezeBackward0"},
      {x:exp(), "ExpBackward0"}, {x:tanh(), "TanhBackward0"}, {x:relu(), "ReluBackward0"},
      {x:clamp(0, 1), "ClampBackward1"}, {ag.where(x:gt(2), x, x * 0), "WhereBackward0"},
      {x:var(), "VarBackward0"}, {x:std(1), "StdBackward0"}, {x:double(), "ToCopyBackward0"},
      {x:t():contiguous(), "CloneBackward0"}, {x:prod(), "ProdBackward0"},
    }
    for _, case in ipairs(names) do assert.are.equal(case[2], case[1].grad_fn:name()) end
  end)
end)

describe("hooks", function()
  it("replace a leaf's gradient and can be removed", function()
    local h = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local handle = h:register_hook(function(g) return g * 10 end)
    ;(h * h):sum():backward()
    assert.are.same({20, 40}, h.grad:totable())
    handle:remove()
    h.grad = nil
    ;(h * h):sum():backward()
    assert.are.same({2, 4}, h.grad:totable())
  end)

  it("see a non-leaf's gradient", function()
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local m = x * 3
    local seen
    m:register_hook(function(g) seen = g:totable() end)
    local mm = m * m
    mm:sum():backward()
    assert.are.same({6, 12}, seen)
    assert.are.same({18, 36}, x.grad:totable())
  end)

  it("run after accumulation on leaves", function()
    local x = ag.tensor({1.0}, {requires_grad = true})
    local after
    x:register_post_accumulate_grad_hook(function(t) after = t.grad:item() end)
    local x5 = x * 5
    x5:sum():backward()
    assert.are.equal(5, after)
  end)

  it("retain_grad keeps a non-leaf's gradient", function()
    local x = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local m = x * 3
    m:retain_grad()
    assert.is_true(m.retains_grad)
    local mm = m * m
    mm:sum():backward()
    assert.are.same({6, 12}, m.grad:totable())
  end)
end)

describe("select and narrow gradients add into the input's pending gradient", function()
  -- a loop over time steps of a [B, T, E] tensor, as an RNN consumes an embedding; the
  -- engine adds each step's gradient into its slice in place (engine.c) instead of summing
  -- T zero-filled copies. The sum must be the same, whatever mixes with it.
  it('gives the same gradient as the hand-computed one, mixed with a full-size contribution', function()
    for _, dt in ipairs({'float64', 'float32'}) do
      local e = ag.randn(3, 5, 4, {dtype = dt}):requires_grad_()
      local h = e * 1                                  -- a non-leaf: its pending buffer is the engine's
      local s = (h * 2):sum()                          -- full-size contribution: 2 everywhere
      for t = 1, 5 do s = s + h:select(2, t):sum() * t end        -- + t in column t
      s = s + (h:narrow(3, 2, 2) * 10):sum()          -- + 10 in features 2..3
      s:backward()
      local want = {}
      for b = 1, 3 do
        want[b] = {}
        for t = 1, 5 do
          want[b][t] = {}
          for f = 1, 4 do want[b][t][f] = 2 + t + ((f == 2 or f == 3) and 10 or 0) end
        end
      end
      assert.are.same(want, e.grad:totable())
    end
  end)

  it('a leaf selected row by row gets one gradient, and hooks and retain_grad see the whole sum', function()
    local x = ag.zeros(4, 3, {dtype = 'float64'}):requires_grad_()
    local y = x + 0
    y:retain_grad()
    local calls = 0
    y:register_hook(function(g) calls = calls + 1 end)
    local s = 0
    for i = 1, 4 do s = s + y:select(1, i):sum() * i end
    s:backward()
    assert.are.equal(1, calls)
    assert.are.same({{1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, 4}}, y.grad:totable())
    assert.are.same({{1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, 4}}, x.grad:totable())
  end)
end)

describe("relu's backward reuses only the engine's own gradient buffer", function()
  it('leaves a gradient passed to backward, a retained grad and a hooked grad untouched', function()
    local x = ag.tensor({-1, 2, -3, 4}, {dtype = 'float64'}):requires_grad_()
    local g = ag.tensor({10, 20, 30, 40}, {dtype = 'float64'})
    local y = ag.relu(x)
    y:retain_grad()
    local seen
    y:register_hook(function(t) seen = t end)
    y:backward(g)
    assert.are.same({10, 20, 30, 40}, g:totable())
    assert.are.same({10, 20, 30, 40}, y.grad:totable())
    assert.are.same({10, 20, 30, 40}, seen:totable())
    assert.are.same({0, 20, 0, 40}, x.grad:totable())
    -- and through an intermediate op, where the buffer is the engine's own: same values
    local x2 = ag.tensor({-1, 2, -3, 4}, {dtype = 'float64'}):requires_grad_()
    ag.relu(x2 * 3):sum():backward()
    assert.are.same({0, 3, 0, 3}, x2.grad:totable())
  end)
end)

describe("in-place writes to a view of a non-leaf tensor", function()
  local function errmsg(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
  local function has(msg, sub) assert.truthy(msg:find(sub, 1, true), msg) end

  it("give the view its own history: its gradient is right", function()
    local h = ag.tensor({1, 2, 3}, {dtype = 'float64'}):requires_grad_()
    local v = (h * 1):narrow(1, 1, 2)
    v:mul_(10)
    v:sum():backward()
    assert.are.same({10, 10, 0}, h.grad:totable())
  end)

  it("give the base a CopySlices history (PyTorch's gradient), and refuse views taken before the write", function()
    local h = ag.tensor({1, 2, 3}, {dtype = 'float64'}):requires_grad_()
    local base = h * 1
    base:narrow(1, 1, 2):mul_(10)
    assert.are.equal('CopySlices', tostring(base.grad_fn):match('<(.-)>'))
    base:sum():backward()
    assert.are.same({10, 10, 1}, h.grad:totable())          -- PyTorch's answer
    -- another view of that base, taken before the write, is stale
    local h2 = ag.tensor({1, 2, 3}, {dtype = 'float64'}):requires_grad_()
    local b2 = h2 * 1
    local other = b2:narrow(1, 2, 2)
    b2:select(1, 1):add_(1)
    has(errmsg(function() return other * 2 end), "take the view again after the write")
    -- and so is one taken before a write to the base itself (ag used to answer {1, 1, 0} here)
    local h4 = ag.tensor({1, 2, 3}, {dtype = 'float64'}):requires_grad_()
    local y4 = h4 * 1
    local before = y4:narrow(1, 1, 2)
    y4:mul_(10)
    has(errmsg(function() return before:sum() end), "take the view again after the write")
    y4:narrow(1, 1, 2):sum():backward()
    assert.are.same({10, 10, 0}, h4.grad:totable())
    local again = b2:narrow(1, 2, 2)                             -- a fresh view is fine
    ;(again * 2):sum():backward()
    assert.are.same({0, 2, 2}, h2.grad:totable())
    -- a write through a view, then a setter, then everything used together
    local h3 = ag.tensor({1, 2, 3}, {dtype = 'float64'}):requires_grad_()
    local y = h3 * 1
    y[1] = 5
    y:narrow(1, 2, 2):mul_(3)
    ;(y * y):sum():backward()
    assert.are.same({0, 36, 54}, h3.grad:totable())
    -- under no_grad nothing is recorded or marked
    local b3 = h2 * 1
    ag.no_grad(function() b3:narrow(1, 1, 1):mul_(2) end)
    h2.grad = nil
    b3:sum():backward()
    assert.are.same({1, 1, 1}, h2.grad:totable())
  end)

  it("send a write through a view of a view to the contiguous root, and refuse the outer view", function()
    local h = ag.tensor({{1, 2}, {3, 4}}, {dtype = 'float64'}):requires_grad_()
    local y = h * 1
    local yt = y:t()                              -- a non-contiguous view of y
    yt:select(1, 1):mul_(10)                      -- column 1 of y
    has(errmsg(function() return yt:sum() end), "take the view again after the write")
    y:sum():backward()
    assert.are.same({{10, 1}, {10, 1}}, h.grad:totable())
  end)

  it("pass gradcheck through in-place ops on views of non-leaves", function()
    local function f(a, b)
      local y = a * 2
      y:narrow(2, 1, 2):mul_(b)
      y:select(1, 2):add_(a:select(1, 1):sin())
      return y
    end
    assert.is_true(ag.autograd.gradcheck(f, {ag.randn(3, 4, {dtype = 'float64'}):requires_grad_(),
                                             ag.randn(3, 2, {dtype = 'float64'}):requires_grad_()}))
  end)

  it("refuse an in-place op writing a value that requires grad into a slice of a tensor that does not", function()
    local h = ag.tensor({1, 2, 3}, {dtype = 'float64'}):requires_grad_()
    local out = ag.zeros(2, 3, {dtype = 'float64'})
    has(errmsg(function() out:narrow(2, 1, 2):add_(h:narrow(1, 1, 2)) end), "use ag.stack / ag.cat")
    has(errmsg(function() out:select(1, 1):copy_(h) end), "PyTorch's CopySlices")
    assert.are.same({{0, 0, 0}, {0, 0, 0}}, out:totable())          -- untouched
    -- the whole tensor is fine (it takes the history), and so is anything under no_grad
    local full = ag.zeros(3, {dtype = 'float64'})
    full:copy_(h * 2)
    full:sum():backward()
    assert.are.same({2, 2, 2}, h.grad:totable())
    ag.no_grad(function() out:select(1, 1):copy_(h * 2) end)
    assert.are.same({2, 4, 6}, out[1]:totable())
  end)
end)

describe("t[...] = v records CopySlices: t takes the history, as in PyTorch", function()
  local function errmsg(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
  local function has(msg, sub) assert.truthy(msg:find(sub, 1, true), msg) end
  local F64 = {dtype = 'float64'}

  it("builds a tensor slice by slice (Torch7's out[{{}, t}] = h): the same gradients as ag.stack", function()
    ag.manual_seed(41)
    local x = ag.randn(4, 3, F64):requires_grad_()
    local w = ag.randn(3, 3, F64):requires_grad_()
    local function steps()
      local hs, h = {}, ag.zeros(4, 3, F64)
      for t = 1, 5 do h = (x * t + h:mm(w)):tanh(); hs[t] = h end
      return hs
    end
    local hs = steps()
    local out = ag.zeros(4, 5, 3, F64)
    for t = 1, 5 do out[{{}, t}] = hs[t] end
    assert.are.equal('CopySlices', tostring(out.grad_fn):match('<(.-)>'))
    local gx1, gw1 = ag.autograd.grad({(out * out):sum()}, {x, w})
    local gx2, gw2 = ag.autograd.grad({(ag.stack(steps(), 2) ^ 2):sum()}, {x, w})
    assert.is_true(gx1:allclose(gx2, 1e-12, 1e-12), 'x')
    assert.is_true(gw1:allclose(gw2, 1e-12, 1e-12), 'w')
  end)

  it("sends nothing to an overwritten value, and the region's gradient to the source (summed when broadcast)", function()
    local a = ag.tensor({1, 2, 3}, F64):requires_grad_()
    local b = ag.tensor(7, F64):requires_grad_()
    local y = a * 1
    y[2] = 0                        -- a number: a[2] gets no gradient
    y[{{3, 3}}] = b * 2             -- a 0-d source broadcast into a region
    assert.are.same({1, 0, 14}, y:detach():totable())
    local g = ag.tensor({10, 20, 30}, F64)
    y:backward(g)
    assert.are.same({10, 0, 0}, a.grad:totable())
    assert.are.equal(60, b.grad:item())
    -- written twice: only the last write's source gets the region's gradient
    local p, q = ag.tensor({1, 1}, F64):requires_grad_(), ag.tensor({2, 2}, F64):requires_grad_()
    local z = ag.zeros(2, 2, F64)
    z[1] = p
    z[1] = q
    z:sum():backward()
    assert.are.same({0, 0}, p.grad:totable())
    assert.are.same({1, 1}, q.grad:totable())
  end)

  it("passes gradcheck in float64", function()
    local function f(a, b)
      local out = a * 1
      out[{{}, {2, 3}}] = b:tanh()
      out[1] = out[1] * 3
      return out
    end
    assert.is_true(ag.autograd.gradcheck(f, {ag.randn(3, 4, F64):requires_grad_(), ag.randn(3, 2, F64):requires_grad_()}))
  end)

  it("keeps PyTorch's refusal for a leaf that requires grad, and refuses a second derivative", function()
    local w = ag.zeros(2, 2, F64):requires_grad_()
    has(errmsg(function() w[1] = ag.ones(2, F64) end), "a view of a leaf Variable that requires grad")
    local a = ag.ones(2, F64):requires_grad_()
    local out = ag.zeros(2, 2, F64)
    out[1] = a * a
    has(errmsg(function() return ag.autograd.grad({out:sum()}, {a}, {create_graph = true}) end),
        "a second derivative through t[...] = v (CopySlices) is not supported")
  end)
end)
