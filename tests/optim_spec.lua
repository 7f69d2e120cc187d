-- optim_spec.lua: ag.optim against PyTorch. Each optimizer and its main options run 10
-- steps from the same weights and gradients as tests/fixtures/gen_optim.py ran in PyTorch,
-- and must agree within 1e-6 at every step; the schedulers must give PyTorch's lr
-- sequences. Then the common API: groups, zero_grad, state_dict, closures and errors.
local ag = require 'ag'
local optim = require 'ag.optim'
local fx = dofile('tests/fixtures/optim_cases.lua')
local U = dofile('tests/tensor_util.lua')

local function max_diff(t, expected)
  local flat = t:reshape(-1):totable()
  local m = 0
  for i, v in ipairs(expected) do m = math.max(m, math.abs(flat[i] - v)) end
  assert.are.equal(#expected, #flat)
  return m
end

local function make_params(dtype)
  local ps = {}
  for i, data in ipairs(fx.init) do
    ps[i] = ag.tensor(data, {dtype = 'float64'}):reshape(fx.shapes[i]):to(dtype):requires_grad_()
  end
  return ps
end

local function describe_case(c)
  local parts = {}
  local keys = {}
  for k in pairs(c.options) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = c.options[k]
    if type(v) == 'table' then v = '{' .. table.concat(v, ', ') .. '}' end
    parts[#parts + 1] = k .. '=' .. tostring(v)
  end
  return string.format('%s(%s) %s%s', c.optim, table.concat(parts, ', '), c.dtype,
                       c.groups and ' with parameter groups' or '')
end

describe("ag.optim matches PyTorch step for step (10 steps, within 1e-6)", function()
  for _, c in ipairs(fx.cases) do
    it(describe_case(c), function()
      local params = make_params(c.dtype)
      local arg = params
      if c.groups then
        arg = {}
        for gi, g in ipairs(c.groups) do
          local grp = {}
          for k, v in pairs(g) do grp[k] = v end
          grp.params = {}
          for _, i in ipairs(g.params) do grp.params[#grp.params + 1] = params[i] end
          arg[gi] = grp
        end
      end
      local opt = optim[c.optim](arg, c.options)
      for t = 1, fx.steps do
        for i, p in ipairs(params) do
          p.grad = ag.tensor(fx.grads[t][i], {dtype = 'float64'}):reshape(fx.shapes[i]):to(c.dtype)
        end
        opt:step()
        for i, p in ipairs(params) do
          local d = max_diff(p, c.expected[t][i])
          assert(d < 1e-6, string.format("step %d, parameter %d: differs from PyTorch by %g", t, i, d))
        end
      end
    end)
  end
end)

describe("ag.optim.lr_scheduler matches PyTorch's learning rates", function()
  local function make(s)
    local p = ag.zeros(2, {requires_grad = true})
    local opt = s.optim == 'SGD' and optim.SGD({p}, {lr = 0.1, momentum = 0.9}) or optim.Adam({p}, {lr = 0.01})
    local o = {}
    for k, v in pairs(s.options) do o[k] = v end
    local sched
    if s.scheduler == 'LambdaLR' then
      sched = optim.lr_scheduler.LambdaLR(opt, function(e) return 0.95 ^ e end)
    elseif s.scheduler == 'StepLR' then
      sched = optim.lr_scheduler.StepLR(opt, o.step_size, {gamma = o.gamma})
    elseif s.scheduler == 'MultiStepLR' then
      sched = optim.lr_scheduler.MultiStepLR(opt, o.milestones, {gamma = o.gamma})
    elseif s.scheduler == 'ExponentialLR' then
      sched = optim.lr_scheduler.ExponentialLR(opt, o.gamma)
    elseif s.scheduler == 'CosineAnnealingLR' then
      sched = optim.lr_scheduler.CosineAnnealingLR(opt, o.T_max, {eta_min = o.eta_min})
    elseif s.scheduler == 'OneCycleLR' then
      local max_lr = o.max_lr
      o.max_lr = nil
      sched = optim.lr_scheduler.OneCycleLR(opt, max_lr, o)
    else
      sched = optim.lr_scheduler.ReduceLROnPlateau(opt, o)
    end
    return opt, sched, p
  end

  for _, s in ipairs(fx.schedulers) do
    local keys = {}
    for k, v in pairs(s.options) do
      keys[#keys + 1] = k .. '=' .. (type(v) == 'table' and '{' .. table.concat(v, ',') .. '}' or tostring(v))
    end
    table.sort(keys)
    it(string.format('%s(%s) over %d epochs', s.scheduler, table.concat(keys, ', '), #s.lrs - 1), function()
      local opt, sched = make(s)
      local g = opt.param_groups[1]
      local function check(e)
        local lr = g.lr
        assert(math.abs(lr - s.lrs[e + 1]) <= 1e-12 * math.max(1, math.abs(s.lrs[e + 1])),
               string.format("epoch %d: lr %.17g, PyTorch %.17g", e, lr, s.lrs[e + 1]))
        assert.are.equal(lr, sched:get_last_lr()[1])
        if #s.momentum > 0 then
          local m = s.optim == 'SGD' and g.momentum or g.betas[1]
          assert(math.abs(m - s.momentum[e + 1]) < 1e-12,
                 string.format("epoch %d: momentum %.17g, PyTorch %.17g", e, m, s.momentum[e + 1]))
        end
      end
      check(0)
      for e = 1, #s.lrs - 1 do
        opt:step()
        if s.scheduler == 'ReduceLROnPlateau' then sched:step(fx.plateau_metrics[e]) else sched:step() end
        check(e)
      end
    end)
  end

  it("a scheduler's state_dict resumes the same sequence", function()
    local p = ag.zeros(2, {requires_grad = true})
    local opt = optim.SGD({p}, {lr = 0.1})
    local s = optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    for _ = 1, 4 do s:step() end
    local saved_sd, saved_opt = s:state_dict(), opt:state_dict()
    for _ = 1, 3 do s:step() end
    local want = opt.param_groups[1].lr
    local p2 = ag.zeros(2, {requires_grad = true})
    local opt2 = optim.SGD({p2}, {lr = 0.1})
    opt2:load_state_dict(saved_opt)
    local s2 = optim.lr_scheduler.CosineAnnealingLR(opt2, 10)
    s2:load_state_dict(saved_sd)
    opt2.param_groups[1].lr = saved_opt.param_groups[1].lr
    for _ = 1, 3 do s2:step() end
    assert.are.equal(want, opt2.param_groups[1].lr)
  end)

  it("OneCycleLR refuses to step past total_steps", function()
    local p = ag.zeros(2, {requires_grad = true})
    local opt = optim.SGD({p}, {lr = 0.1, momentum = 0.9})
    local s = optim.lr_scheduler.OneCycleLR(opt, 0.1, {total_steps = 3})
    s:step(); s:step(); s:step()
    assert.has_error(function() s:step() end,
                     "ag.optim.lr_scheduler.OneCycleLR: Tried to step 5 times. The specified number of total steps is 3")
  end)

  it("OneCycleLR needs momentum in the optimizer when cycle_momentum is on", function()
    local p = ag.zeros(2, {requires_grad = true})
    local opt = optim.Adagrad({p})
    assert.has_error(function() optim.lr_scheduler.OneCycleLR(opt, 0.1, {total_steps = 3}) end)
    local ok = pcall(optim.lr_scheduler.OneCycleLR, opt, 0.1, {total_steps = 3, cycle_momentum = false})
    assert.is_true(ok)
  end)
end)

describe("an optimizer", function()
  local function quad_setup()
    local w = ag.tensor({1.0, -2.0, 3.0}, {requires_grad = true})
    return w, function() return (w * w):sum() end
  end

  it("updates each parameter in place and bumps its version", function()
    local w = ag.tensor({1.0, 2.0}, {requires_grad = true})
    local opt = optim.SGD({w}, {lr = 0.5})
    w.grad = ag.tensor({1.0, -1.0})
    local v = w.version
    opt:step()
    assert.are.same({0.5, 2.5}, w:totable())
    assert.is_true(w.version > v)
    assert.is_true(w.is_leaf and w.requires_grad)
  end)

  it("skips parameters without a gradient", function()
    local a = ag.tensor({1.0}, {requires_grad = true})
    local b = ag.tensor({1.0}, {requires_grad = true})
    local opt = optim.Adam({a, b}, {lr = 0.1})
    a.grad = ag.tensor({1.0})
    opt:step()
    assert.are.same({1.0}, b:totable())
    assert.is_true(math.abs(a:item() - 0.9) < 1e-6)
    assert.is_nil(opt.state[b])
    assert.are.equal(1, opt.state[a].step)
  end)

  it("minimises a quadratic", function()
    for _, make in ipairs({
      function(ps) return optim.SGD(ps, {lr = 0.1, momentum = 0.9}) end,
      function(ps) return optim.Adam(ps, {lr = 0.1}) end,
      function(ps) return optim.AdamW(ps, {lr = 0.1}) end,
      function(ps) return optim.RMSprop(ps, {lr = 0.05}) end,
      function(ps) return optim.Adagrad(ps, {lr = 0.5}) end,
    }) do
      local w, f = quad_setup()
      local opt = make({w})
      for _ = 1, 200 do
        opt:zero_grad()
        f():backward()
        opt:step()
      end
      assert(f():item() < 1e-2, opt.__name .. " did not converge: " .. f():item())
    end
  end)

  it("step(closure) evaluates the closure with grad enabled and returns its loss", function()
    local w, f = quad_setup()
    local opt = optim.SGD({w}, {lr = 0.1})
    local loss = ag.no_grad(function()
      return opt:step(function()
        opt:zero_grad()
        local l = f()
        l:backward()
        return l
      end)
    end)
    assert.are.equal(14, loss:item())
    assert.is_true(math.abs(w:totable()[1] - 0.8) < 1e-6)
  end)

  it("zero_grad sets grads to nil by default, or to zeros with zero_grad(false)", function()
    local w, f = quad_setup()
    local opt = optim.SGD({w}, {lr = 0.1})
    f():backward()
    opt:zero_grad(false)
    assert.are.same({0, 0, 0}, w.grad:totable())
    opt:zero_grad()
    assert.is_nil(w.grad)
  end)

  it("takes a module's parameters directly", function()
    local nn = require 'ag.nn'
    local m = nn.Linear(3, 2)
    local opt = optim.SGD(m, {lr = 0.1})
    assert.are.equal(2, #opt.param_groups[1].params)
  end)

  it("keeps per-group options and fills the rest from the defaults", function()
    local a = ag.zeros(2, {requires_grad = true})
    local b = ag.zeros(2, {requires_grad = true})
    local opt = optim.SGD({{params = {a}}, {params = {b}, lr = 0.01}}, {lr = 0.1, momentum = 0.9})
    assert.are.equal(0.1, opt.param_groups[1].lr)
    assert.are.equal(0.01, opt.param_groups[2].lr)
    assert.are.equal(0.9, opt.param_groups[2].momentum)
    local c = ag.zeros(1, {requires_grad = true})
    opt:add_param_group({params = {c}, momentum = 0})
    assert.are.equal(3, #opt.param_groups)
    assert.are.equal(0, opt.param_groups[3].momentum)
  end)

  it("gives the same update on a large tensor (the OpenMP path) as on each slice of it", function()
    ag.manual_seed(3)
    local n = 100000
    local big = ag.randn(n):requires_grad_()
    local g = ag.randn(n)
    local small = big:detach():narrow(1, 50001, 100):clone():requires_grad_()
    local ob = optim.Adam({big}, {lr = 0.1, amsgrad = true, weight_decay = 0.01})
    local os = optim.Adam({small}, {lr = 0.1, amsgrad = true, weight_decay = 0.01})
    for _ = 1, 3 do
      big.grad = g
      small.grad = g:narrow(1, 50001, 100):clone()
      ob:step(); os:step()
    end
    assert.are.same(small:totable(), big:detach():narrow(1, 50001, 100):totable())
  end)

  it("flushes state decaying into the subnormal range to zero, and leaves the caller's mode alone", function()
    -- a momentum buffer under a zero gradient decays by 0.9 a step; 1.2e-38 * 0.9 is below
    -- float32's smallest normal (1.18e-38), so it becomes 0 (PyTorch keeps the subnormal,
    -- and every later op on it is ~100x slower)
    local p = ag.ones(4):requires_grad_()
    local opt = ag.optim.SGD({p}, {lr = 0.1, momentum = 0.9})
    p.grad = ag.zeros(4)
    opt:step()
    opt.state[p].momentum_buffer:fill_(1.2e-38)
    p.grad = ag.zeros(4)
    opt:step()
    assert.are.same({0, 0, 0, 0}, opt.state[p].momentum_buffer:totable())
    assert.are.same({1, 1, 1, 1}, p:detach():totable())
    -- a normal value decays normally
    opt.state[p].momentum_buffer:fill_(1e-30)
    p.grad = ag.zeros(4)
    opt:step()
    U.close(opt.state[p].momentum_buffer:totable()[1], 9e-31, 1e-6)
    -- the calling thread still computes subnormals (float32 multiply on the main thread)
    local tiny = ag.tensor({1e-38}) * 0.5
    assert.is_true(tiny:item() > 0, 'subnormal result flushed after an optimizer step')
    U.close(tiny:item(), 5e-39, 1e-6)
  end)

  it("works on a non-contiguous parameter", function()
    local base = ag.tensor({{1.0, 2.0}, {3.0, 4.0}})
    local w = base:t()
    w:requires_grad_()
    local opt = optim.SGD({w}, {lr = 1})
    w.grad = ag.tensor({{1.0, 1.0}, {1.0, 1.0}}):t()
    opt:step()
    assert.are.same({{0, 2}, {1, 3}}, w:totable())
  end)

  it("state_dict/load_state_dict resumes exactly like an uninterrupted run", function()
    for _, make in ipairs({
      function(ps) return optim.SGD(ps, {lr = 0.1, momentum = 0.9, nesterov = true}) end,
      function(ps) return optim.Adam(ps, {lr = 0.05, amsgrad = true}) end,
      function(ps) return optim.RMSprop(ps, {lr = 0.01, centered = true, momentum = 0.3}) end,
      function(ps) return optim.Adagrad(ps, {lr = 0.1}) end,
    }) do
      local function grads(t) return ag.tensor({math.sin(t), math.cos(t), t / 10}) end
      local w1 = ag.tensor({1.0, 2.0, 3.0}, {requires_grad = true})
      local o1 = make({w1})
      for t = 1, 6 do w1.grad = grads(t); o1:step() end
      -- interrupted: 3 steps, save, new optimizer, load, 3 more
      local w2 = ag.tensor({1.0, 2.0, 3.0}, {requires_grad = true})
      local o2 = make({w2})
      for t = 1, 3 do w2.grad = grads(t); o2:step() end
      local sd = o2:state_dict()
      local w3 = w2:detach():clone():requires_grad_()
      local o3 = make({w3})
      o3:load_state_dict(sd)
      for t = 4, 6 do w3.grad = grads(t); o3:step() end
      assert.are.same(w1:totable(), w3:totable())
    end
  end)

  it("state_dict names parameters by 1-based ids and keeps the options", function()
    local a = ag.zeros(2, {requires_grad = true})
    local b = ag.zeros(3, {requires_grad = true})
    local opt = optim.Adam({{params = {a}}, {params = {b}, lr = 0.5}})
    a.grad = ag.ones(2); b.grad = ag.ones(3)
    opt:step()
    local sd = opt:state_dict()
    assert.are.same({1}, sd.param_groups[1].params)
    assert.are.same({2}, sd.param_groups[2].params)
    assert.are.equal(0.5, sd.param_groups[2].lr)
    assert.are.equal(1, sd.state[1].step)
    assert.are.same({3}, sd.state[2].exp_avg.shape)
  end)

  it("load_state_dict rejects a state dict for other groups", function()
    local a = ag.zeros(2, {requires_grad = true})
    local b = ag.zeros(2, {requires_grad = true})
    local sd = optim.SGD({a, b}, {lr = 0.1}):state_dict()
    local opt = optim.SGD({{params = {a}}, {params = {b}}}, {lr = 0.1})
    assert.has_error(function() opt:load_state_dict(sd) end,
                     "ag.optim.SGD.load_state_dict: loaded state dict has a different number of parameter groups " ..
                     "(1, this optimizer has 2)")
    local opt2 = optim.SGD({a}, {lr = 0.1})
    local ok, err = pcall(opt2.load_state_dict, opt2, sd)
    assert.is_false(ok)
    assert.matches("doesn't match the size of optimizer's group", err, 1, true)
  end)
end)

describe("optimizer errors", function()
  local w = ag.zeros(2, {requires_grad = true})
  local function err_of(f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok)
    return e
  end

  it("SGD without a learning rate", function()
    assert.matches("the learning rate is required", err_of(optim.SGD, {w}), 1, true)
  end)
  it("a negative learning rate", function()
    assert.matches("ag.optim.Adam: Invalid learning rate: -1", err_of(optim.Adam, {w}, {lr = -1}), 1, true)
  end)
  it("an unknown option names the valid ones", function()
    assert.matches("ag.optim.SGD: unknown option 'lrate' (expected one of: dampening, lr, maximize, momentum",
                   err_of(optim.SGD, {w}, {lrate = 0.1}), 1, true)
  end)
  it("Nesterov without momentum", function()
    assert.matches("Nesterov momentum requires a momentum and zero dampening",
                   err_of(optim.SGD, {w}, {lr = 0.1, nesterov = true}), 1, true)
  end)
  it("a beta outside [0, 1)", function()
    assert.matches("ag.optim.Adam: Invalid beta parameter at index 2: 1",
                   err_of(optim.Adam, {w}, {betas = {0.9, 1.0}}), 1, true)
  end)
  it("a single tensor instead of a list", function()
    assert.matches("should be a list of tensors", err_of(optim.SGD, w, {lr = 0.1}), 1, true)
  end)
  it("an empty parameter list", function()
    assert.matches("got an empty parameter list", err_of(optim.SGD, {}, {lr = 0.1}), 1, true)
  end)
  it("a non-leaf tensor", function()
    assert.matches("can't optimize a non-leaf Tensor", err_of(optim.SGD, {w * 2}, {lr = 0.1}), 1, true)
  end)
  it("an integer tensor", function()
    assert.matches("can only optimize float32 or float64 tensors, parameter 1 is int64",
                   err_of(optim.SGD, {ag.zeros(2, {dtype = 'int64'})}, {lr = 0.1}), 1, true)
  end)
  it("a parameter in two groups", function()
    assert.matches("some parameters appear in more than one parameter group",
                   err_of(optim.SGD, {{params = {w}}, {params = {w}}}, {lr = 0.1}), 1, true)
  end)
  it("state of the wrong shape (a state_dict from another model), from the fused kernel", function()
    local q = ag.zeros(3, {requires_grad = true})
    local o1 = optim.Adam({q})
    q.grad = ag.ones(3)
    o1:step()
    local p = ag.zeros(2, 3, {requires_grad = true})
    local opt = optim.Adam({p})
    opt:load_state_dict(o1:state_dict())
    p.grad = ag.ones(2, 3)
    assert.matches("ag.optim.Adam: state 'exp_avg' has shape [3] but the parameter has shape [2, 3]",
                   err_of(opt.step, opt), 1, true)
  end)
end)
