-- nn_layers_spec.lua: ag.nn's layers. Each layer of tests/fixtures/nn_layers_cases.lua
-- (written by gen_nn_layers.py from PyTorch 1.13) loads PyTorch's state_dict, runs on the
-- same inputs and must give the same outputs, running statistics and gradients. Then the
-- PyTorch-style initialisation (bounds and statistics), ag.nn.init, the containers,
-- dropout and mode switches, shape errors, the loss modules and ag.nn.utils.
local ag = require 'ag'
local nn = require 'ag.nn'
local cases = dofile('tests/fixtures/nn_layers_cases.lua')

local TOL = 1e-8

local function T(spec)
  local t = ag.tensor(spec.data, {dtype = 'float64'})
  if #spec.shape == 0 then t = t:reshape({}) else t = t:reshape(spec.shape) end
  if spec.dtype ~= 'float64' then t = t:to(spec.dtype) end
  return t
end

local function is_spec(v) return type(v) == 'table' and v.shape ~= nil and v.data ~= nil end

local function convert(v)
  if is_spec(v) then return T(v) end
  if type(v) == 'table' then
    local out = {}
    for k, x in pairs(v) do out[k] = convert(x) end
    return out
  end
  return v
end

local function flatten(results, out)
  out = out or {}
  for i = 1, results.n or #results do
    local v = results[i]
    if ag.is_tensor(v) then out[#out + 1] = v
    elseif type(v) == 'table' then flatten(v, out) end
  end
  return out
end

local function assert_close(t, spec, what)
  assert(ag.is_tensor(t), what .. ": expected a tensor, got " .. type(t))
  assert.are.same(spec.shape, t.shape, what .. ': shape')
  local got = t:double():reshape(-1):totable()
  for i, v in ipairs(spec.data) do
    local d = math.abs(got[i] - v)
    assert(d <= TOL * math.max(1, math.abs(v)),
           string.format("%s: element %d is %.17g, PyTorch says %.17g", what, i, got[i], v))
  end
end

-- functionals each layer needs that may still be missing from this build
local needs = {
  Embedding = {'embedding'}, RNN = {'stack', 'cat'}, LSTM = {'stack', 'cat'}, GRU = {'stack', 'cat'},
  LeakyReLU = {'leaky_relu'}, ELU = {'elu'}, GELU = {'gelu'}, SiLU = {'silu'}, Softplus = {'softplus'},
  Hardtanh = {'hardtanh'}, Softmax = {'softmax'}, LogSoftmax = {'log_softmax'},
  MultiheadAttention = {'softmax'}, TransformerEncoderLayer = {'softmax', 'layer_norm'},
  Conv1d = {'conv1d'}, Conv2d = {'conv2d'}, ConvTranspose2d = {'conv_transpose2d'}, MaxPool2d = {'max_pool2d'},
  AvgPool2d = {'avg_pool2d'}, AdaptiveAvgPool2d = {'adaptive_avg_pool2d'}, BatchNorm1d = {'batch_norm'},
  BatchNorm2d = {'batch_norm'}, LayerNorm = {'layer_norm'}, GroupNorm = {'group_norm'},
}
local function has(name)
  if ag.F and ag.F[name] then return true end
  if rawget(ag, name) then return true end
  local ok, conv = pcall(require, 'ag.nn.functional_conv')
  return ok and type(conv) == 'table' and conv[name] ~= nil
end
local function missing(c)
  for _, f in ipairs(needs[c.layer] or {}) do if not has(f) then return f end end
  if c.kwargs.activation == 'gelu' and not has('gelu') then return 'gelu' end
end

describe("ag.nn layers match PyTorch (outputs, running stats and gradients, float64)", function()
  for _, c in ipairs(cases) do
    local miss = missing(c)
    local test = miss and pending or it
    test(c.name .. (miss and (' (needs ag.nn.functional.' .. miss .. ')') or ''), function()
      local args = convert(c.args)
      local kwargs = convert(c.kwargs)
      local n = #args
      if next(kwargs) ~= nil then args[n + 1] = kwargs; n = n + 1 end
      local m = nn[c.layer](unpack(args, 1, n)):double()
      m:load_state_dict(convert(c.state))
      m:train(c.train)
      local inputs = {}
      for i, x in ipairs(c.inputs) do
        if x == 'same' then inputs[i] = nil
        else
          inputs[i] = convert(x)
          if ag.is_tensor(inputs[i]) and inputs[i]:is_floating_point() then inputs[i]:requires_grad_() end
          if type(inputs[i]) == 'table' then
            for _, t in ipairs(inputs[i]) do t:requires_grad_() end
          end
        end
      end
      local ninputs = #c.inputs
      if c.call_kwargs then inputs[ninputs + 1] = convert(c.call_kwargs); ninputs = ninputs + 1 end
      local results = {n = 0}
      do
        local r = {m(unpack(inputs, 1, ninputs))}
        results = r
        results.n = table.maxn(r)
      end
      local outs = flatten(results)
      assert.are.equal(#c.outputs, #outs, 'number of outputs')
      for i, spec in ipairs(c.outputs) do assert_close(outs[i], spec, 'output ' .. i) end
      local after = m:state_dict()
      for k, spec in pairs(c.after) do assert_close(after[k], spec, 'state ' .. k .. ' after the call') end
      if c.input_grads or c.param_grads then
        local loss
        for i, o in ipairs(outs) do
          local term = (o * T(c.r[i])):sum()
          loss = loss and loss + term or term
        end
        loss:backward()
        for i, spec in pairs(c.input_grads or {}) do
          local x = inputs[i]
          if ag.is_tensor(x) then assert_close(x.grad, spec, 'gradient of input ' .. i)
          else for j, s in ipairs(spec) do assert_close(x[j].grad, s, 'gradient of input ' .. i .. '.' .. j) end end
        end
        local params = m:named_parameters()
        for k, spec in pairs(c.param_grads or {}) do
          assert(params[k], 'no parameter named ' .. k)
          assert_close(params[k].grad, spec, 'gradient of ' .. k)
        end
      end
    end)
  end
end)

describe("Linear", function()
  it("computes x:matmul(w:t()) + b", function()
    local lin = nn.Linear(5, 3)
    local x = ag.randn(4, 5)
    local want = x:matmul(lin.weight:t()) + lin.bias
    assert.is_true(lin(x):allclose(want, 1e-6, 1e-6))
    local nb = nn.Linear(5, 3, {bias = false})
    assert.is_nil(nb.bias)
    assert.are.equal(1, #nb:parameters())
    assert.is_true(nb(x):allclose(x:matmul(nb.weight:t()), 1e-6, 1e-6))
  end)

  it("takes its options positionally or by name", function()
    assert.is_nil(nn.Linear(2, 2, false).bias)
    assert.are.equal('float64', nn.Linear(2, 2, {dtype = 'float64'}).weight.dtype)
    assert.has_error(function() nn.Linear(2, 2, {biass = false}) end,
                     "ag.nn.Linear: unknown option 'biass' (expected one of: in_features, out_features, bias, dtype, device)")
  end)

  it("says which input size it expected", function()
    assert.has_error(function() nn.Linear(5, 3)(ag.zeros(2, 4)) end,
                     "ag.nn.Linear: expected input with last dimension 5, got shape [2, 4]")
  end)
end)

describe("default initialisation (PyTorch's)", function()
  local function stats(t)
    local n = t:numel()
    local mean = t:sum():item() / n
    local var = ((t - mean) ^ 2):sum():item() / n
    return t:min():item(), t:max():item(), mean, var
  end

  it("Linear: weight and bias uniform in +-1/sqrt(fan_in) (kaiming_uniform_ with a = sqrt(5))", function()
    ag.manual_seed(0)
    local lin = nn.Linear(400, 300)
    local bound = 1 / math.sqrt(400)
    local lo, hi, mean, var = stats(lin.weight)
    assert.is_true(lo >= -bound and hi <= bound)
    assert.is_true(hi > 0.99 * bound and lo < -0.99 * bound)
    assert.is_true(math.abs(mean) < 0.01 * bound)
    assert.is_true(math.abs(var / (bound * bound / 3) - 1) < 0.02)      -- uniform: variance bound^2 / 3
    local blo, bhi = stats(lin.bias)
    assert.is_true(blo >= -bound and bhi <= bound)
  end)

  it("Conv2d: bound 1/sqrt(in_channels * kh * kw)", function()
    ag.manual_seed(0)
    local conv = nn.Conv2d(8, 64, 3)
    local bound = 1 / math.sqrt(8 * 9)
    local lo, hi, _, var = stats(conv.weight)
    assert.is_true(lo >= -bound and hi <= bound and hi > 0.98 * bound)
    assert.is_true(math.abs(var / (bound * bound / 3) - 1) < 0.05)
    local blo, bhi = stats(conv.bias)
    assert.is_true(blo >= -bound and bhi <= bound)
  end)

  it("RNN layers: every parameter uniform in +-1/sqrt(hidden_size)", function()
    local lstm = nn.LSTM(10, 25, {num_layers = 2})
    for name, p in lstm:named_parameters() do
      local lo, hi = stats(p)
      assert(lo >= -0.2 and hi <= 0.2 and hi > 0.15, name)
    end
  end)

  it("Embedding: standard normal, the padding row zero", function()
    ag.manual_seed(0)
    local e = nn.Embedding(1000, 50, {padding_idx = 4})
    local _, _, mean, var = stats(e.weight)
    assert.is_true(math.abs(mean) < 0.02 and math.abs(var - 1) < 0.03)
    assert.are.same({0, 0, 0}, e.weight[4]:narrow(1, 1, 3):totable())
  end)

  it("norms: weight ones, bias zeros; BatchNorm running stats zeros and ones", function()
    local bn = nn.BatchNorm2d(3)
    assert.are.same({1, 1, 1}, bn.weight:totable())
    assert.are.same({0, 0, 0}, bn.bias:totable())
    assert.are.same({0, 0, 0}, bn.running_mean:totable())
    assert.are.same({1, 1, 1}, bn.running_var:totable())
    assert.are.equal(0, bn.num_batches_tracked:item())
    local ln = nn.LayerNorm({2, 3})
    assert.are.same({{1, 1, 1}, {1, 1, 1}}, ln.weight:totable())
  end)
end)

describe("ag.nn.init", function()
  local init = nn.init

  it("calculate_gain as PyTorch", function()
    assert.are.equal(1, init.calculate_gain('linear'))
    assert.are.equal(1, init.calculate_gain('sigmoid'))
    assert.are.equal(5 / 3, init.calculate_gain('tanh'))
    assert.are.equal(math.sqrt(2), init.calculate_gain('relu'))
    assert.are.equal(math.sqrt(2 / (1 + 0.2 ^ 2)), init.calculate_gain('leaky_relu', 0.2))
    assert.are.equal(0.75, init.calculate_gain('selu'))
    assert.has_error(function() init.calculate_gain('swish') end,
                     "ag.nn.init.calculate_gain: unsupported nonlinearity swish")
  end)

  it("uniform_, normal_, constant_, zeros_, ones_ and eye_ fill in place and return the tensor", function()
    local t = ag.empty(200, 100)
    assert.is_true(rawequal(t, init.uniform_(t, -2, 3)))
    assert.is_true(t:min():item() >= -2 and t:max():item() <= 3)
    init.normal_(t, {mean = 5, std = 0.5})
    local mean = t:mean():item()
    assert.is_true(math.abs(mean - 5) < 0.02)
    assert.is_true(math.abs(t:std():item() - 0.5) < 0.02)
    assert.are.same({{7, 7}}, init.constant_(ag.empty(1, 2), 7):totable())
    assert.are.same({0, 0}, init.zeros_(ag.empty(2)):totable())
    assert.are.same({1, 1}, init.ones_(ag.empty(2)):totable())
    assert.are.same({{1, 0, 0}, {0, 1, 0}}, init.eye_(ag.empty(2, 3)):totable())
  end)

  it("writes into parameters without recording, bumping their version", function()
    local p = nn.Parameter(ag.zeros(3))
    local v = p.version
    init.constant_(p, 2)
    assert.is_true(p.is_leaf and p.requires_grad)
    assert.is_nil(p.grad_fn)
    assert.is_true(p.version > v)
  end)

  it("xavier_uniform_ / xavier_normal_ use gain * sqrt(2 / (fan_in + fan_out))", function()
    local t = ag.empty(300, 200)
    init.xavier_uniform_(t, 2)
    local bound = 2 * math.sqrt(6 / 500)
    assert.is_true(t:min():item() >= -bound and t:max():item() <= bound and t:max():item() > 0.99 * bound)
    init.xavier_normal_(t)
    assert.is_true(math.abs(t:std():item() / math.sqrt(2 / 500) - 1) < 0.02)
  end)

  it("kaiming_uniform_ / kaiming_normal_ with mode and nonlinearity", function()
    local t = ag.empty(256, 64, 3, 3)          -- fan_in 576, fan_out 2304
    init.kaiming_uniform_(t, {mode = 'fan_in', nonlinearity = 'relu'})
    local bound = math.sqrt(2) * math.sqrt(3 / 576)
    assert.is_true(t:max():item() <= bound and t:max():item() > 0.99 * bound)
    init.kaiming_normal_(t, 0, 'fan_out')
    assert.is_true(math.abs(t:std():item() / (math.sqrt(2) / math.sqrt(2304)) - 1) < 0.02)
    assert.has_error(function() init.kaiming_normal_(t, {mode = 'fan_avg'}) end,
                     "ag.nn.init.kaiming_normal_: mode fan_avg not supported, please use one of fan_in, fan_out")
  end)

  it("orthogonal_ gives orthonormal rows or columns, scaled by gain", function()
    local t = ag.empty(6, 4)
    init.orthogonal_(t)
    assert.is_true(t:t():matmul(t):allclose(ag.eye(4), 1e-5, 1e-5))
    local w = ag.empty(3, 2, 2, {dtype = 'float64'})      -- flattened to 3 x 4: orthonormal rows
    init.orthogonal_(w, 2)
    local m = w:reshape(3, 4)
    assert.is_true(m:matmul(m:t()):allclose(ag.eye(3, {dtype = 'float64'}) * 4, 1e-10, 1e-10))
  end)

  it("needs at least 2 dims for fans, and float tensors", function()
    assert.has_error(function() init.xavier_uniform_(ag.empty(5)) end,
                     "ag.nn.init.xavier_uniform_: fan in and fan out can not be computed for a tensor with " ..
                     "fewer than 2 dimensions (got shape [5])")
    assert.has_error(function() init.uniform_(ag.zeros(2, {dtype = 'int64'})) end,
                     "ag.nn.init.uniform_: expected a float32 or float64 tensor, got int64")
  end)
end)

describe("containers", function()
  it("Sequential runs its modules in order, indexes them 1-based and has a length", function()
    local s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert.are.equal(3, #s)
    assert.are.equal('ReLU', s[2]:type_name())
    local x = ag.randn(4, 2)
    assert.is_true(s(x):equal(s[3](s[2](s[1](x)))))
    assert.are.same({'1.weight', '1.bias', '3.weight', '3.bias'}, (function()
      local n = {}
      for name in s:named_parameters() do n[#n + 1] = name end
      return n
    end)())
  end)

  it("Sequential takes a list, or {name, module} pairs", function()
    local s = nn.Sequential({nn.Identity(), nn.Tanh()})
    assert.are.equal(2, #s)
    local named = nn.Sequential({{'conv', nn.Conv2d(1, 2, 3)}, {'act', nn.ReLU()}})
    assert.is_true(rawequal(named.conv, named[1]))
    assert.is_not_nil(named:state_dict()['conv.weight'])
  end)

  it("append, insert, set and pop keep names and order in step", function()
    local s = nn.Sequential(nn.Identity())
    s:append(nn.ReLU())
    s:insert(1, nn.Tanh())
    assert.are.same({'Tanh', 'Identity', 'ReLU'}, {s[1]:type_name(), s[2]:type_name(), s[3]:type_name()})
    s:set(2, nn.Sigmoid())
    assert.are.equal('Sigmoid', s['2']:type_name())
    local m = s:pop(1)
    assert.are.equal('Tanh', m:type_name())
    assert.are.equal(2, #s)
    assert.are.same({'1', '2'}, s._module_names)
    assert.has_error(function() s:get(5) end, "ag.nn.Sequential: index 5 is out of range for 2 modules")
  end)

  it("ModuleList registers its modules for parameters() and iterates with ipairs", function()
    local Net = nn.Module:extend('Stack')
    function Net:init() self.layers = nn.ModuleList({nn.Linear(3, 3), nn.Linear(3, 3)}) end
    function Net:forward(x)
      for _, l in ipairs(self.layers) do x = l(x) end
      return x
    end
    local net = Net()
    assert.are.equal(4, #net:parameters())
    net.layers:append(nn.Linear(3, 1))
    assert.are.same({2, 1}, net(ag.randn(2, 3)).shape)
    assert.is_not_nil(net:state_dict()['layers.3.weight'])
  end)

  it("ModuleDict keeps modules by name", function()
    local d = nn.ModuleDict({{'enc', nn.Linear(2, 2)}, {'dec', nn.Linear(2, 2)}})
    assert.are.same({'enc', 'dec'}, d:keys())
    assert.is_true(d:contains('dec'))
    assert.are.equal(4, #d:parameters())
    local sorted = nn.ModuleDict({b = nn.ReLU(), a = nn.Tanh()})
    assert.are.same({'a', 'b'}, sorted:keys())
    d:pop('enc')
    assert.are.equal(1, d:len())
  end)

  it("a container's class can still be extended", function()
    local MySeq = nn.Sequential:extend('MySeq')
    local s = MySeq(nn.Identity())
    assert.are.equal('MySeq', s:type_name())
    assert.are.equal(1, #s)
  end)

  it("reject what is not a module", function()
    assert.has_error(function() nn.Sequential(nn.ReLU(), 3) end,
                     "ag.nn.Sequential: number is not a Module (argument 2)")
  end)
end)

describe("shape layers", function()
  it("Flatten keeps the batch dim; Unflatten expands one dim; Identity passes through", function()
    local x = ag.randn(2, 3, 4, 5)
    assert.are.same({2, 60}, nn.Flatten()(x).shape)
    assert.are.same({6, 20}, nn.Flatten(1, 2)(x):reshape(6, 20).shape)
    assert.are.same({2, 3, 2, 10}, nn.Unflatten(3, {2, 10})(nn.Flatten(3)(x)).shape)
    assert.are.same({2, 1, 28, 28}, nn.Unflatten(2, {1, 28, 28})(ag.zeros(2, 784)).shape)
    assert.is_true(rawequal(x, nn.Identity()(x)))
    assert.has_error(function() nn.Unflatten(2, {3, 3})(ag.zeros(2, 10)) end,
                     "ag.nn.Unflatten: unflattened_size {3, 3} does not multiply to the size 10 of dim 2 of the input [2, 10]")
  end)
end)

describe("Dropout", function()
  it("zeroes about p of the elements and scales the rest in training, and is the identity in eval", function()
    ag.manual_seed(0)
    local d = nn.Dropout(0.3)
    local x = ag.ones(100000)
    local y = d(x)
    local zeros = y:eq(0):sum():item()
    assert.is_true(math.abs(zeros / 100000 - 0.3) < 0.01)
    assert.is_true(math.abs(y:max():item() - 1 / 0.7) < 1e-5)
    d:eval()
    assert.is_true(rawequal(x, d(x)))
    assert.has_error(function() nn.Dropout(1.5) end,
                     "ag.nn.Dropout: dropout probability has to be between 0 and 1, but got 1.5")
  end)
end)

describe("BatchNorm", function()
  it("counts batches, and with momentum = false keeps a cumulative average", function()
    local bn = nn.BatchNorm1d(2, {momentum = false})
    bn(ag.tensor({{1.0, 2.0}, {3.0, 6.0}}))
    bn(ag.tensor({{5.0, 0.0}, {7.0, 0.0}}))
    assert.are.equal(2, bn.num_batches_tracked:item())
    assert.is_true(bn.running_mean:allclose(ag.tensor({4.0, 2.0})))
  end)

  it("uses the running statistics in eval mode", function()
    local bn = nn.BatchNorm1d(2)
    bn:eval()
    ag.no_grad(function() bn.running_mean:copy_(ag.tensor({1.0, 2.0})); bn.running_var:fill_(4) end)
    local y = bn(ag.tensor({{3.0, 2.0}}))
    assert.is_true(y:allclose(ag.tensor({{2 / math.sqrt(4 + 1e-5), 0}})))
  end)

  it("names the expected input rank and channels", function()
    assert.has_error(function() nn.BatchNorm2d(3)(ag.zeros(2, 3, 4)) end,
                     "ag.nn.BatchNorm2d: expected 4D input (got 3D input of shape [2, 3, 4])")
    assert.has_error(function() nn.BatchNorm1d(3)(ag.zeros(2, 4)) end,
                     "ag.nn.BatchNorm1d: expected 3 features (channels) in dim 2, got shape [2, 4]")
  end)
end)

describe("layer errors", function()
  it("Conv2d names the channels it expected", function()
    assert.has_error(function() nn.Conv2d(3, 8, 3)(ag.zeros(1, 1, 8, 8)) end,
                     "ag.nn.Conv2d: expected input with 3 channels (dim 2), got 1 channels in shape [1, 1, 8, 8]")
    assert.has_error(function() nn.Conv2d(3, 8, 3)(ag.zeros(8, 8)) end,
                     "ag.nn.Conv2d: expected a 3D (unbatched) or 4D (batched) input, got shape [8, 8]")
    assert.has_error(function() nn.Conv2d(3, 8, 3, {groups = 2}) end,
                     "ag.nn.Conv2d: in_channels (3) must be divisible by groups (2)")
  end)

  it("LSTM checks the input size and the initial states", function()
    local lstm = nn.LSTM(3, 4)
    assert.has_error(function() lstm(ag.zeros(5, 2, 2)) end,
                     "ag.nn.LSTM: input.size(-1) must be equal to input_size. Expected 3, got 2")
    assert.has_error(function() lstm(ag.zeros(5, 2, 3), {ag.zeros(1, 3, 4), ag.zeros(1, 2, 4)}) end,
                     "ag.nn.LSTM: expected h_0 of shape [1, 2, 4], got [1, 3, 4]")
    assert.has_error(function() lstm(ag.zeros(5, 2, 3), ag.zeros(1, 2, 4)) end,
                     "ag.nn.LSTM: the initial state must be a table {h_0, c_0}, got Tensor")
  end)

  it("MultiheadAttention needs embed_dim divisible by num_heads", function()
    assert.has_error(function() nn.MultiheadAttention(10, 3) end,
                     "ag.nn.MultiheadAttention: embed_dim (10) must be divisible by num_heads (3)")
  end)

  it("Softmax wants its dim", function()
    assert.has_error(function() nn.Softmax() end,
                     "ag.nn.Softmax: give the dimension to normalise over, e.g. ag.nn.Softmax(-1) (dims are 1-based; -1 is the last)")
  end)
end)

describe("recurrent cells", function()
  it("LSTMCell returns h and c; looping it matches LSTM", function()
    ag.manual_seed(2)
    local lstm = nn.LSTM(3, 4):double()
    local cell = nn.LSTMCell(3, 4):double()
    cell.weight_ih = nn.Parameter(lstm.weight_ih_l0:detach():clone())
    cell.weight_hh = nn.Parameter(lstm.weight_hh_l0:detach():clone())
    cell.bias_ih = nn.Parameter(lstm.bias_ih_l0:detach():clone())
    cell.bias_hh = nn.Parameter(lstm.bias_hh_l0:detach():clone())
    local x = ag.randn(6, 2, 3, {dtype = 'float64'})
    local out, hc = lstm(x)
    local h, c
    for t = 1, 6 do h, c = cell(x[t], h and {h, c} or nil) end
    assert.is_true(h:allclose(hc[1][1], 1e-12, 1e-12))
    assert.is_true(c:allclose(hc[2][1], 1e-12, 1e-12))
    assert.is_true(out[6]:allclose(h, 1e-12, 1e-12))
  end)
end)

describe("loss modules", function()
  it("call the functional losses with their options", function()
    local F = ag.F
    local x = ag.tensor({{1.0, 2.0, 0.5}, {0.1, 0.2, 3.0}})
    local y = ag.tensor({2, 3}, {dtype = 'int64'})
    assert.is_true(nn.CrossEntropyLoss()(x, y):allclose(F.cross_entropy(x, y)))
    assert.is_true(nn.CrossEntropyLoss({reduction = 'sum', label_smoothing = 0.1})(x, y)
                   :allclose(F.cross_entropy(x, y, {reduction = 'sum', label_smoothing = 0.1})))
    local w = ag.tensor({1.0, 2.0, 3.0})
    local ce = nn.CrossEntropyLoss({weight = w})
    assert.are.same({'weight'}, (function() local n = {} for k in ce:named_buffers() do n[#n + 1] = k end return n end)())
    assert.is_true(ce(x, y):allclose(F.cross_entropy(x, y, {weight = w})))
    local a, b = ag.tensor({1.0, 2.0}), ag.tensor({2.0, 4.0})
    assert.are.equal(2.5, nn.MSELoss()(a, b):item())
    assert.are.equal(1.5, nn.L1Loss()(a, b):item())
    assert.are.equal(3, nn.L1Loss({reduction = 'sum'})(a, b):item())
    assert.is_true(math.abs(nn.SmoothL1Loss()(a, b):item() - 1.0) < 1e-6)        -- (0.5 + 1.5) / 2
    local p, t = ag.tensor({0.8, 0.3}), ag.tensor({1.0, 0.0})
    assert.is_true(math.abs(nn.BCELoss()(p, t):item() - (-(math.log(0.8) + math.log(0.7)) / 2)) < 1e-6)
    local z = ag.tensor({0.5, -1.0})
    local sig = function(v) return 1 / (1 + math.exp(-v)) end
    assert.is_true(math.abs(nn.BCEWithLogitsLoss()(z, t):item()
                            - (-(math.log(sig(0.5)) + math.log(1 - sig(-1))) / 2)) < 1e-6)
    local lp = ag.tensor({{math.log(0.5), math.log(0.5)}})
    local q = ag.tensor({{0.25, 0.75}})
    local kl = (0.25 * (math.log(0.25) - math.log(0.5)) + 0.75 * (math.log(0.75) - math.log(0.5)))
    assert.is_true(math.abs(nn.KLDivLoss({reduction = 'batchmean'})(lp, q):item() - kl) < 1e-6)
    assert.is_true(nn.NLLLoss()(x:log_softmax(2), y):allclose(F.cross_entropy(x, y)))
  end)

  it("reject an unknown reduction", function()
    assert.has_error(function() nn.MSELoss({reduction = 'avg'}) end,
                     "ag.nn.MSELoss: avg is not a valid value for reduction; use 'mean', 'sum' or 'none'")
  end)
end)

describe("ag.nn.utils", function()
  local utils = nn.utils

  it("clip_grad_norm_ scales all gradients together and returns the norm before clipping", function()
    local a = ag.zeros(2, {requires_grad = true})
    local b = ag.zeros(1, {requires_grad = true})
    a.grad = ag.tensor({3.0, 0.0})
    b.grad = ag.tensor({4.0})
    local norm = utils.clip_grad_norm_({a, b}, 1.0)
    assert.is_true(math.abs(norm:item() - 5) < 1e-6)
    local s = 1 / (5 + 1e-6)
    assert.is_true(a.grad:allclose(ag.tensor({3 * s, 0})))
    assert.is_true(b.grad:allclose(ag.tensor({4 * s})))
    -- under the limit nothing changes; the inf norm is the largest magnitude
    local n2 = utils.clip_grad_norm_({a, b}, 10, math.huge)
    assert.is_true(math.abs(n2:item() - 4 * s) < 1e-6)
    assert.is_true(b.grad:allclose(ag.tensor({4 * s})))
    local n1 = utils.clip_grad_norm_(a, 10, 1)
    assert.is_true(math.abs(n1:item() - 3 * s) < 1e-6)
  end)

  it("clip_grad_norm_ can refuse a non-finite norm", function()
    local a = ag.zeros(2, {requires_grad = true})
    a.grad = ag.tensor({math.huge, 1.0})
    assert.has_error(function() utils.clip_grad_norm_({a}, 1, 2, {error_if_nonfinite = true}) end)
  end)

  it("clip_grad_value_ clamps every element", function()
    local m = nn.Linear(2, 2)
    m(ag.tensor({{10.0, -10.0}})):sum():backward()
    utils.clip_grad_value_(m, 0.5)
    assert.are.same({{0.5, -0.5}, {0.5, -0.5}}, m.weight.grad:totable())
    assert.are.same({0.5, 0.5}, m.bias.grad:totable())
  end)

  it("parameters_to_vector and vector_to_parameters round-trip", function()
    local m = nn.Linear(3, 2)
    local v = utils.parameters_to_vector(m:parameters())
    assert.are.same({8}, v.shape)
    assert.is_true(v:narrow(1, 1, 6):equal(m.weight:detach():reshape(-1)))
    assert.is_true(v:narrow(1, 7, 2):equal(m.bias:detach()))
    utils.vector_to_parameters(ag.arange(8):float(), m:parameters())
    assert.are.same({{0, 1, 2}, {3, 4, 5}}, m.weight:totable())
    assert.are.same({6, 7}, m.bias:totable())
    assert.has_error(function() utils.vector_to_parameters(ag.zeros(7), m:parameters()) end,
                     "ag.nn.utils.vector_to_parameters: vec has 7 elements but the parameters have 8")
  end)
end)

describe("layer gradients pass gradcheck (float64, inputs and weights)", function()
  local gradcheck = ag.autograd.gradcheck
  local function check(name, m, inputs, extra)
    it(name, function()
      ag.manual_seed(5)
      m:double()
      local args = {}
      for i, x in ipairs(inputs) do args[i] = x:double():requires_grad_() end
      local n = #args
      for _, p in ipairs(extra or {}) do args[#args + 1] = p end
      assert.is_true(gradcheck(function(...)
        local r = m(unpack({...}, 1, n))
        return r
      end, args))
    end)
  end
  ag.manual_seed(5)
  local lin = nn.Linear(3, 2)
  check('Linear', lin, {ag.randn(2, 3)}, {lin:double().weight, lin.bias})
  local bil = nn.Bilinear(2, 3, 2):double()
  check('Bilinear', bil, {ag.randn(2, 2), ag.randn(2, 3)}, {bil.weight})
  local conv = nn.Conv2d(2, 2, 3, {padding = 1}):double()
  check('Conv2d', conv, {ag.randn(1, 2, 4, 4)}, {conv.weight, conv.bias})
  check('BatchNorm1d (training)', nn.BatchNorm1d(3), {ag.randn(4, 3)})
  check('LayerNorm', nn.LayerNorm(4), {ag.randn(2, 4)})
  local gru = nn.GRUCell(3, 2):double()
  check('GRUCell', gru, {ag.randn(2, 3), ag.randn(2, 2)}, {gru.weight_hh})
  local lstm = nn.LSTM(2, 3, {num_layers = 2}):double()
  check('LSTM (2 layers)', lstm, {ag.randn(3, 1, 2)}, {lstm.weight_ih_l1})
  check('MultiheadAttention', nn.MultiheadAttention(4, 2), {ag.randn(3, 1, 4)})
  check('TransformerEncoderLayer', nn.TransformerEncoderLayer(4, 2, {dim_feedforward = 6, dropout = 0}),
        {ag.randn(3, 1, 4)})
end)

describe("Sequential's ReLU -> MaxPool (run as MaxPool -> ReLU)", function()
  -- the output and every gradient must equal the layer-by-layer result exactly
  local function layer_by_layer(mods, x)
    for _, m in ipairs(mods) do x = m(x) end
    return x
  end
  it('gives the same values and gradients as running the layers one by one', function()
    ag.manual_seed(31)
    local cases = {
      {function() return {nn.ReLU(), nn.MaxPool2d(2)} end, {2, 3, 7, 9}},
      {function() return {nn.ReLU(), nn.MaxPool2d(3, {stride = 2, padding = 1, ceil_mode = true})} end, {2, 2, 8, 8}},
      {function() return {nn.ReLU(), nn.MaxPool1d(2)} end, {3, 4, 11}},
    }
    for _, c in ipairs(cases) do
      local mods = c[1]()
      -- integers in [-3, 2]: windows of all-negative values, zeros, ties; plus NaNs
      local x = (ag.rand(unpack(c[2])):double() * 6 - 3):floor()
      local flat = x:view(-1)
      flat[1], flat[8] = 0 / 0, 0 / 0
      local x1, x2 = x:clone():requires_grad_(), x:clone():requires_grad_()
      local y1 = nn.Sequential(unpack(mods))(x1)
      local y2 = layer_by_layer(mods, x2)
      local g = ag.randn(unpack(y1.shape)):double()
      y1:backward(g)
      y2:backward(g)
      local a, b = y1:detach():view(-1):totable(), y2:detach():view(-1):totable()
      for k = 1, #b do
        if b[k] ~= b[k] then assert.is_true(a[k] ~= a[k]) else assert.are.equal(b[k], a[k]) end
      end
      assert.are.same(x2.grad:totable(), x1.grad:totable())
    end
  end)

  it('keeps the order for an inplace ReLU or a pool returning indices', function()
    local function last(seq, x) return tostring(seq(x).grad_fn):match('<(.-)>') end
    local x = ag.tensor({{{-1, 2, -3, 4}}}):requires_grad_()
    assert.are.equal('ReluBackward0', last(nn.Sequential(nn.ReLU(), nn.MaxPool1d(2)), x))   -- swapped
    assert.are_not.equal('ReluBackward0', last(nn.Sequential(nn.ReLU(), nn.MaxPool1d(2, {return_indices = true})), x))
    assert.are_not.equal('ReluBackward0', last(nn.Sequential(nn.ReLU({inplace = true}), nn.MaxPool1d(2)), x * 1))
    assert.are.same({{{2, 4}}}, nn.Sequential(nn.ReLU({inplace = true}), nn.MaxPool1d(2))(x:detach():clone()):totable())
  end)
end)
