-- lstm_cell_spec.lua: the fused LSTM cell (ag.nn.functional_rnn.lstm_cell, one C op and one
-- LstmCellBackward node): values and gradients against PyTorch 1.13's torch._VF.lstm_cell
-- and against the composite path, float64 gradcheck and gradgradcheck over all seven
-- inputs, the nn modules that use it, and errors for misuse.
local ag = require 'ag'
local nn = require 'ag.nn'
local R = require 'ag.nn.functional_rnn'

local function close(t, want, tol)
  tol = tol or 1e-12
  local got = t:contiguous():view(-1)
  assert.are.equal(#want, got.shape[1])
  for i = 1, #want do
    local g = got[i]:item()
    if math.abs(g - want[i]) > tol * (1 + math.abs(want[i])) then
      error(string.format('element %d: got %.15g, want %.15g', i, g, want[i]), 2)
    end
  end
end

-- inputs sin(k * j), j = 1.. in row-major order, as the fixture script builds them
local function sins(k, ...)
  local shape = {...}
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  local v = {}
  for j = 1, n do v[j] = math.sin(k * j) end
  return ag.tensor(v, {dtype = 'float64'}):view(unpack(shape)):requires_grad_()
end

local B, I, H = 2, 3, 2
local function inputs()
  return {sins(0.7, B, I), sins(1.3, B, H), sins(2.1, B, H), sins(0.37, 4 * H, I), sins(0.53, 4 * H, H),
          sins(0.91, 4 * H), sins(1.17, 4 * H)}
end

local function rand_inputs(dtype, b, i, h, bias)
  ag.manual_seed(7)
  local function r(...) return ag.randn(...):to(dtype):requires_grad_() end
  local t = {r(b, i), r(b, h), r(b, h), r(4 * h, i), r(4 * h, h)}
  if bias ~= false then t[6], t[7] = r(4 * h), r(4 * h) end
  return t
end

describe('F.lstm_cell (fused)', function()
  it("matches PyTorch's lstm_cell values and gradients (float64)", function()
    local a = inputs()
    local h2, c2 = R.lstm_cell(unpack(a))
    -- /usr/bin/python3: torch._VF.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh), torch 1.13
    close(h2, {-0.3625013520047783, -0.32547102078699053, 0.05561203427094289, 0.12240469086925955})
    close(c2, {-0.3858410507823171, -0.3436341832659482, 0.2298796761117785, 0.4534997216425939})
    assert.are.equal('LstmCellBackward', h2.grad_fn:name())
    assert.are.equal('LstmCellBackward', c2.grad_fn:name())
    local loss = h2:sum() + c2:sum() * 2
    loss:backward()
    close(a[1].grad, {-0.6414599785012651, 0.09647592992552406, 0.8213542738259405, -1.1245282681980955,
                      -0.7930330644168513, -0.3542045556530689})
    close(a[2].grad, {-0.8831999988925433, 0.155879508562156, -1.1587013707978007, -0.6623482610572489})
    close(a[3].grad, {1.985570664815046, 0.034307925352308, 1.1305674089389772, 1.4551344882905946})
    close(a[4].grad, {0.07146407618844258, -0.13629887789763787, -0.27995833997974395, -0.04983180932492462,
                      0.04478855566717751, 0.11834416308851879, 0.3386837045372196, 0.509975828183038,
                      0.44141835124224704, 0.12646590842461203, -0.18147541802296493, -0.4040660197427146,
                      0.23168695738768352, -0.24156683503267048, -0.601207970351241, 1.908870019239763,
                      2.2213040765321783, 1.4890241177978816, 0.01069838527557152, -0.019822594589358596,
                      -0.04102069848232889, 0.025861578318654117, -0.035652956788665, -0.08039934922545786})
    close(a[5].grad, {-0.23137295718993, -0.2704640130926732, 0.09212853417884667, 0.1215579859423607,
                      0.49541026371897245, 0.2602040824560047, -0.3271945670826433, -0.3989523785613098,
                      -0.47423948259273485, -0.6096281212058021, 1.8929038420697748, 0.5954625203694148,
                      -0.03383603225799343, -0.039713216285593, -0.0649018537022998, -0.07963891593696915})
    local gb = {0.2475123076481436, -0.144645946548791, 0.530234718661463, 0.4047969841331168, 0.6910465430115499,
                3.3515911233885913, 0.03672983255018972, 0.08196812015169627}
    close(a[6].grad, gb)
    close(a[7].grad, gb)
  end)

  it('gives the two biases separate gradient tensors', function()
    local a = inputs()
    local h2 = R.lstm_cell(unpack(a))
    h2:sum():backward()
    a[6].grad:mul_(0)
    assert.is_true(a[7].grad:abs():sum():item() > 0)
  end)

  it('agrees with the composite path in float32, with and without biases', function()
    for _, bias in ipairs({true, false}) do
      local a = rand_inputs('float32', 5, 7, 6, bias)
      local h1, c1 = R.lstm_cell(unpack(a, 1, 7))
      local h2, c2 = R.lstm_cell_composite(unpack(a, 1, 7))
      assert.is_true(h1:allclose(h2, 1e-5, 1e-6))
      assert.is_true(c1:allclose(c2, 1e-5, 1e-6))
      local g1 = {ag.autograd.grad({(h1 * h1):sum() + c1:sum()}, a)}
      local g2 = {ag.autograd.grad({(h2 * h2):sum() + c2:sum()}, a)}
      for k = 1, #a do assert.is_true(g1[k]:allclose(g2[k], 1e-4, 1e-5), 'gradient ' .. k) end
    end
  end)

  it('gives float32 dx and dh (one paired product on AVX-512) as float64 does, at training sizes', function()
    -- batch 32 (one row block), 70 (two, the second partial), 130 (the two-GEMM path), partial tiles
    for _, sz in ipairs({{32, 128, 256}, {70, 13, 40}, {3, 29, 20}, {130, 20, 16}}) do
      local a = rand_inputs('float32', sz[1], sz[2], sz[3], true)
      local a64 = {}
      for k = 1, 7 do a64[k] = a[k]:detach():to('float64'):requires_grad_() end
      local h1, c1 = R.lstm_cell(unpack(a, 1, 7))
      local h2, c2 = R.lstm_cell(unpack(a64, 1, 7))
      local g1 = {ag.autograd.grad({(h1 * h1):sum() + c1:sum()}, {a[1], a[2]})}
      local g2 = {ag.autograd.grad({(h2 * h2):sum() + c2:sum()}, {a64[1], a64[2]})}
      for k = 1, 2 do
        local err = (g1[k]:to('float64') - g2[k]):abs():max():item()
        local scale = g2[k]:abs():max():item()
        assert.is_true(err <= 1e-5 * (1 + scale), string.format('size %d/%d/%d gradient %d: error %g', sz[1], sz[2], sz[3], k, err))
      end
    end
  end)

  it('computes tanh accurately in float32 (large, small and tiny pre-activations)', function()
    local x = ag.tensor({{40, -40, 1e-6, -3e-5}}, {dtype = 'float32'})
    local H = 1
    -- w_ih picks x[j] into gate g of hidden unit 1; everything else is 0: c' = sigmoid(0) * tanh(x)
    for j = 1, 4 do
      local w_ih = ag.zeros(4, 4)
      w_ih[3][j] = 1
      local _, c2 = R.lstm_cell(x, ag.zeros(1, H), ag.zeros(1, H), w_ih, ag.zeros(4, H))
      local want = 0.5 * math.tanh(x[1][j]:item())
      assert.is_true(math.abs(c2:item() - want) <= 1e-7 * math.abs(want) + 1e-12, tostring(c2:item()))
    end
  end)

  it('takes strided and expanded inputs (a time step of [batch, time, feature], a broadcast state)', function()
    local a = rand_inputs('float64', 3, 4, 5)
    local seq = ag.randn(3, 6, 4):double()
    local x = seq:select(2, 2)
    local h0 = ag.randn(1, 5):double():expand(3, 5)
    local xt = ag.randn(4, 3):double():t()
    for _, case in ipairs({{x, a[2]}, {a[1], h0}, {xt, h0}}) do
      local h1, c1 = R.lstm_cell(case[1], case[2], a[3], a[4], a[5], a[6], a[7])
      local h2, c2 = R.lstm_cell_composite(case[1]:contiguous(), case[2]:contiguous(), a[3], a[4], a[5], a[6], a[7])
      assert.is_true(h1:allclose(h2, 1e-12, 1e-12) and c1:allclose(c2, 1e-12, 1e-12))
    end
  end)

  it('takes unbatched inputs', function()
    local a = rand_inputs('float64', 1, 3, 4)
    local h1, c1 = R.lstm_cell(a[1][1], a[2][1], a[3][1], a[4], a[5], a[6], a[7])
    local h2, c2 = R.lstm_cell(unpack(a))
    assert.are.same({4}, h1.shape)
    assert.is_true(h1:allclose(h2[1], 1e-12, 1e-12) and c1:allclose(c2[1], 1e-12, 1e-12))
  end)

  it('passes gradcheck in float64 for all seven inputs', function()
    local a = rand_inputs('float64', 3, 4, 5)
    assert.is_true(ag.autograd.gradcheck(function(...)
      local h2, c2 = R.lstm_cell(...)
      return h2 * 3 + c2
    end, a))
    -- only one output used: the other's gradient arrives as none
    assert.is_true(ag.autograd.gradcheck(function(...) return (R.lstm_cell(...)) end, a))
    assert.is_true(ag.autograd.gradcheck(function(...) return select(2, R.lstm_cell(...)) end, a))
  end)

  it('passes gradcheck without biases', function()
    local a = rand_inputs('float64', 2, 3, 2, false)
    assert.is_true(ag.autograd.gradcheck(function(...)
      local h2, c2 = R.lstm_cell(...)
      return h2 + c2
    end, a))
  end)

  it('passes gradgradcheck (create_graph takes the differentiable formula)', function()
    local a = rand_inputs('float64', 2, 3, 2)
    assert.is_true(ag.autograd.gradgradcheck(function(...)
      local h2, c2 = R.lstm_cell(...)
      return h2 * 2 + c2
    end, a))
  end)

  it('chains over time steps like the composite cell', function()
    local a = rand_inputs('float64', 2, 3, 4)
    local function run(cell)
      local h, c = a[2], a[3]
      local s = 0
      for _ = 1, 5 do
        h, c = cell(a[1], h, c, a[4], a[5], a[6], a[7])
        s = s + h:sum()
      end
      return {ag.autograd.grad({s}, a)}
    end
    local g1, g2 = run(R.lstm_cell), run(R.lstm_cell_composite)
    for k = 1, 7 do assert.is_true(g1[k]:allclose(g2[k], 1e-10, 1e-12), 'gradient ' .. k) end
  end)

  it('defers leaf weights\' gradients to one sum per sequence: same as the per-step path', function()
    -- leaf weights take the deferred path (lazy_grad.c); weights behind a `* 1` do not
    local function run(dt, B, T, leaf, hooks)
      ag.manual_seed(5)
      local x = ag.randn(B, T, 6, {dtype = dt})
      local wi0, wh0 = ag.randn(16, 6, {dtype = dt}) * 0.3, ag.randn(16, 4, {dtype = dt}) * 0.3
      local bi, bh = ag.randn(16, {dtype = dt}):requires_grad_(), ag.randn(16, {dtype = dt}):requires_grad_()
      local wi, wh = wi0:clone():requires_grad_(), wh0:clone():requires_grad_()
      local seen = 0
      if hooks then wi:register_hook(function(g) seen = seen + 1; assert.are.same({16, 6}, g.shape) end) end
      local ui, uh = wi, wh
      if not leaf then ui, uh = wi * 1, wh * 1 end
      local h, c = ag.zeros(B, 4, {dtype = dt}), ag.zeros(B, 4, {dtype = dt})
      local s = 0
      for t = 1, T do
        h, c = R.lstm_cell(x:select(2, t), h, c, ui, uh, bi, bh)
        s = s + (h * h):sum()
      end
      s:backward()
      return wi.grad, wh.grad, bi.grad, seen, bh.grad
    end
    -- float64: exact to rounding; B * T = 4480 rows > the 4096 kept before folding (a long sequence)
    for _, case in ipairs({{'float64', 3, 7, 1e-12}, {'float64', 64, 70, 1e-10}, {'float32', 32, 40, 1e-4}}) do
      local a1, a2, a3, _, a5 = run(case[1], case[2], case[3], true)
      local b1, b2, b3, _, b5 = run(case[1], case[2], case[3], false)
      assert.is_true(a1:allclose(b1, case[4], case[4]), 'w_ih ' .. case[1])
      assert.is_true(a2:allclose(b2, case[4], case[4]), 'w_hh ' .. case[1])
      assert.is_true(a3:allclose(b3, case[4], case[4]), 'b_ih ' .. case[1])
      assert.is_true(a5:allclose(b5, case[4], case[4]), 'b_hh ' .. case[1])
      -- the two biases' gradients are equal values in separate tensors
      assert.is_true(a3:equal(a5))
      a3:zero_()
      assert.is_true(a5:abs():sum():item() > 0)
    end
    -- a hook on the leaf weight runs once, on the whole sum
    local _, _, _, seen = run('float64', 2, 5, true, true)
    assert.are.equal(1, seen)
  end)

  it('defers any subset of the four parameters (frozen weights, one weight, no biases) exactly', function()
    -- each subset of {w_ih, w_hh, b_ih, b_hh} requiring grad; the plain path (every parameter
    -- behind a `* 1`) gives the reference in float64
    ag.manual_seed(11)
    local x = ag.randn(3, 9, 5, {dtype = 'float64'})
    local p0 = {ag.randn(8, 5, {dtype = 'float64'}) * 0.4, ag.randn(8, 2, {dtype = 'float64'}) * 0.4,
                ag.randn(8, {dtype = 'float64'}), ag.randn(8, {dtype = 'float64'})}
    local function run(mask, plain)
      local p, u = {}, {}
      for k = 1, 4 do
        p[k] = p0[k]:clone()
        if mask[k] then p[k]:requires_grad_() end
        u[k] = (plain and mask[k]) and p[k] * 1 or p[k]
      end
      local h, c = ag.zeros(3, 2, {dtype = 'float64'}), ag.zeros(3, 2, {dtype = 'float64'})
      local s = 0
      for t = 1, 9 do
        h, c = R.lstm_cell(x:select(2, t), h, c, u[1], u[2], u[3], u[4])
        s = s + (h * c):sum()
      end
      s:backward()
      local g = {}
      for k = 1, 4 do g[k] = p[k].grad end
      return g
    end
    for _, mask in ipairs({{false, false, true, true}, {false, true, false, false}, {true, true, false, false},
                           {true, false, true, false}, {false, false, false, true}}) do
      local a, b = run(mask, false), run(mask, true)
      for k = 1, 4 do
        if mask[k] then
          assert.is_true(a[k]:allclose(b[k], 1e-12, 1e-12), 'parameter ' .. k)
        else
          assert.is_nil(a[k])
        end
      end
    end
  end)

  it('deferred weight gradients accumulate across backward calls and honour retain_graph', function()
    local a = rand_inputs('float64', 2, 3, 4)
    local wi, wh = a[4]:detach():requires_grad_(), a[5]:detach():requires_grad_()
    local h, c = a[2]:detach(), a[3]:detach()
    for _ = 1, 4 do h, c = R.lstm_cell(a[1]:detach(), h, c, wi, wh) end
    local s = h:sum()
    s:backward({retain_graph = true})
    local g1 = wi.grad:clone()
    s:backward()
    assert.is_true(wi.grad:allclose(g1 * 2, 1e-12, 1e-14))
    -- and autograd.grad (no accumulation into .grad) sees the same sum
    local h2, c2 = a[2]:detach(), a[3]:detach()
    for _ = 1, 4 do h2, c2 = R.lstm_cell(a[1]:detach(), h2, c2, wi, wh) end
    local gw = ag.autograd.grad({h2:sum()}, {wi})
    assert.is_true(gw:allclose(g1, 1e-12, 1e-14))
  end)

  it('records nothing under no_grad and for inputs that need no gradient', function()
    local a = rand_inputs('float64', 2, 3, 4)
    local plain = {}
    for k = 1, 7 do plain[k] = a[k]:detach() end
    local h2 = R.lstm_cell(unpack(plain))
    assert.is_nil(h2.grad_fn)
    ag.no_grad(function()
      local h3 = R.lstm_cell(unpack(a))
      assert.is_nil(h3.grad_fn)
    end)
  end)

  it('rejects mismatched shapes, dtypes and non-tensors with clear errors', function()
    local a = rand_inputs('float32', 2, 3, 4)
    local x, h, c, wi, wh, bi, bh = unpack(a)
    assert.has_error(function() R.lstm_cell(ag.zeros(2, 5), h, c, wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: expected w_ih of shape [16, 5], got [16, 3]')
    assert.has_error(function() R.lstm_cell(x, ag.zeros(3, 4), c, wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: expected h of shape [2, 4], got [3, 4]')
    assert.has_error(function() R.lstm_cell(x, h, ag.zeros(2, 5), wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: expected c of shape [2, 4], got [2, 5]')
    assert.has_error(function() R.lstm_cell(x, h, c, wi, ag.zeros(12, 4), bi, bh) end,
                     'ag.F.lstm_cell: expected w_hh of shape [16, 4], got [12, 4]')
    assert.has_error(function() R.lstm_cell(x, h, c, wi, wh, ag.zeros(15), bh) end,
                     'ag.F.lstm_cell: expected b_ih of shape [16], got [15]')
    assert.has_error(function() R.lstm_cell(x, h, c, wi, wh, bi, ag.zeros(4, 4)) end,
                     'ag.F.lstm_cell: expected b_hh of shape [16], got [4, 4]')
    assert.has_error(function() R.lstm_cell(x, h:double(), c, wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: h has dtype float64 but x has float32; convert it with :to(...)')
    assert.has_error(function() R.lstm_cell(ag.zeros(2, 3, 1), h, c, wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: expected x of shape [batch, input_size], got [2, 3, 1]')
    assert.has_error(function() R.lstm_cell(x:long(), h, c, wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: expected a float32 or float64 input, got int64')
    assert.has_error(function() R.lstm_cell(x, nil, c, wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: h (argument 2) must be a Tensor, got nil')
    assert.has_error(function() R.lstm_cell(x, h, c, wi, wh, 1, bh) end,
                     'ag.F.lstm_cell: b_ih (argument 6) must be a Tensor or nil, got number')
    assert.has_error(function() R.lstm_cell(x[1], h, c, wi, wh, bi, bh) end,
                     'ag.F.lstm_cell: for an unbatched x of shape [3], h and c must be 1-D, got [2, 4] and [2, 4]')
  end)
end)

describe('nn.LSTMCell and nn.LSTM on the fused cell', function()
  it('LSTMCell records one LstmCellBackward per step and matches fused = false', function()
    ag.manual_seed(3)
    local cell = nn.LSTMCell(3, 4, {dtype = 'float64'})
    local x = ag.randn(2, 3):double()
    local h, c = cell(x)
    assert.are.equal('LstmCellBackward', h.grad_fn:name())
    cell.fused = false
    local h2, c2 = cell(x)
    assert.are_not.equal('LstmCellBackward', h2.grad_fn:name())
    assert.is_true(h:allclose(h2, 1e-12, 1e-12) and c:allclose(c2, 1e-12, 1e-12))
  end)

  it('LSTM (2 layers, bidirectional, batch_first) gives the same outputs and gradients fused or not', function()
    ag.manual_seed(4)
    local lstm = nn.LSTM(3, 4, {num_layers = 2, bidirectional = true, batch_first = true, dtype = 'float64'})
    local x = ag.randn(2, 5, 3):double()
    local params = lstm:parameters()
    local function run()
      local out, hc = lstm(x)
      local loss = (out * out):sum() + hc[1]:sum() + hc[2]:sum()
      return out, {ag.autograd.grad({loss}, params)}
    end
    local o1, g1 = run()
    lstm.fused = false
    local o2, g2 = run()
    assert.is_true(o1:allclose(o2, 1e-12, 1e-12))
    for k = 1, #params do assert.is_true(g1[k]:allclose(g2[k], 1e-10, 1e-12), 'parameter ' .. k) end
  end)

  it('LSTMCell still passes gradgradcheck on its parameters path', function()
    ag.manual_seed(5)
    local cell = nn.LSTMCell(2, 2, {dtype = 'float64'})
    local x = ag.randn(2, 2):double():requires_grad_()
    assert.is_true(ag.autograd.gradgradcheck(function(xx) return (cell(xx)) end, {x}))
  end)
end)
