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
