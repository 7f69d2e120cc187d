-- nn_module_spec.lua: ag.nn.Module: classes, registration of parameters, buffers and
-- submodules in assignment order, dotted names, traversal, train/eval, zero_grad, dtype
-- conversion, state_dict round trips and load_state_dict's errors, apply, and printing.
local ag = require 'ag'
local nn = require 'ag.nn'

local Net = nn.Module:extend('Net')
function Net:init(hidden)
  self.fc1 = nn.Linear(4, hidden)
  self.act = nn.ReLU()
  self.fc2 = nn.Linear(hidden, 2)
end
function Net:forward(x) return self.fc2(self.act(self.fc1(x))) end

local function names_of(list)
  local out = {}
  for _, e in ipairs(list) do out[#out + 1] = e[1] end
  return out
end

describe("a Module class", function()
  it("is made with extend; calling the class runs init, calling the module runs forward", function()
    local net = Net(3)
    assert.are.equal('Net', net:type_name())
    assert.are.equal(3, net.fc1.out_features)
    local x = ag.randn(5, 4)
    local y = net(x)
    assert.are.same({5, 2}, y.shape)
    assert.is_true(y:equal(net:forward(x)))
  end)

  it("can be extended again, calling the parent's init", function()
    local Wide = Net:extend('Wide')
    function Wide:init() Net.init(self, 8); self.extra = nn.Linear(2, 1) end
    function Wide:forward(x) return self.extra(Net.forward(self, x)) end
    local w = Wide()
    assert.are.same({3, 1}, w(ag.randn(3, 4)).shape)
    assert.is_true(w:is_instance(Net))
    assert.is_true(w:is_instance(nn.Module))
    assert.are.same({'fc1', 'act', 'fc2', 'extra'}, names_of(w:named_children()))
  end)

  it("without a forward says so", function()
    local Empty = nn.Module:extend('Empty')
    assert.has_error(function() Empty()(ag.zeros(1)) end,
                     "ag.nn.Empty: forward is not implemented; define Empty:forward(...)")
  end)
end)

describe("registration", function()
  it("keeps parameters and submodules in assignment order", function()
    local M = nn.Module:extend('M')
    function M:init()
      self.z = nn.Parameter(ag.zeros(1))
      self.b = nn.Linear(1, 1)
      self.a = nn.Parameter(ag.zeros(2))
      self.c = nn.Identity()
    end
    local m = M()
    assert.are.same({'z', 'a', 'b.weight', 'b.bias'}, names_of(m:named_parameters()))
    assert.are.same({'b', 'c'}, names_of(m:named_children()))
  end)

  it("names nested parameters with dots, own parameters first", function()
    local Outer = nn.Module:extend('Outer')
    function Outer:init()
      self.body = Net(3)
      self.scale = nn.Parameter(ag.ones(1))
    end
    local o = Outer()
    assert.are.same({'scale', 'body.fc1.weight', 'body.fc1.bias', 'body.fc2.weight', 'body.fc2.bias'},
                    names_of(o:named_parameters()))
    assert.are.same({'', 'body', 'body.fc1', 'body.act', 'body.fc2'}, names_of(o:named_modules()))
    assert.are.equal(5, #o:parameters())
    assert.are.equal(4, #o:modules() - 1)
    assert.are.equal(1, #o:children())
  end)

  it("iterates named_parameters as `for name, p in ...` and looks them up by name", function()
    local net = Net(3)
    local seen = {}
    for name, p in net:named_parameters() do seen[#seen + 1] = name .. ':' .. table.concat(p.shape, 'x') end
    assert.are.same({'fc1.weight:3x4', 'fc1.bias:3', 'fc2.weight:2x3', 'fc2.bias:2'}, seen)
    local w = net:named_parameters()['fc2.weight']
    assert.is_true(rawequal(w, net.fc2.weight))
  end)

  it("registers a leaf that requires grad as a parameter, but not a plain tensor", function()
    local m = nn.Module()
    m.w = ag.zeros(2, {requires_grad = true})
    m.t = ag.zeros(2)
    assert.are.same({'w'}, names_of(m:named_parameters()))
    assert.is_true(ag.is_tensor(m.t))
  end)

  it("replaces a parameter assigned again, keeping its place, and removes one assigned nil", function()
    local net = Net(3)
    local w = nn.Parameter(ag.zeros(3, 4))
    net.fc1.weight = w
    assert.are.same({'weight', 'bias'}, names_of(net.fc1:named_parameters()))
    assert.is_true(rawequal(w, net.fc1.weight))
    net.fc1.bias = nil
    assert.are.same({'weight'}, names_of(net.fc1:named_parameters()))
    assert.is_nil(net.fc1.bias)
  end)

  it("refuses a plain tensor over a parameter", function()
    local lin = nn.Linear(2, 2)
    assert.has_error(function() lin.weight = ag.zeros(2, 2) end,
                     "ag.nn.Module: cannot assign Tensor as parameter 'weight' (wrap it in ag.nn.Parameter, " ..
                     "or assign nil to remove it)")
  end)

  it("keeps buffers, persistent ones in the state_dict", function()
    local m = nn.Module()
    m:register_buffer('running', ag.zeros(3))
    m:register_buffer('scratch', ag.ones(2), false)
    assert.are.same({'running', 'scratch'}, names_of(m:named_buffers()))
    assert.is_nil(m.running.grad_fn)
    assert.is_nil(next(m:named_parameters()))
    local sd = m:state_dict()
    assert.is_not_nil(sd.running)
    assert.is_nil(sd.scratch)
    m.running = ag.ones(3)
    assert.are.same({1, 1, 1}, m:state_dict().running:totable())
    assert.has_error(function() m.running = 5 end,
                     "ag.nn.Module: cannot assign number as buffer 'running' (a Tensor or nil expected)")
  end)

  it("rejects bad names", function()
    local m = nn.Module()
    assert.has_error(function() m:register_buffer('a.b', ag.zeros(1)) end,
                     "ag.nn.Module: buffer name can't be empty or contain \".\", got \"a.b\"")
    assert.has_error(function() m:add_module('x', 3) end, "ag.nn.Module.add_module: number is not a Module")
  end)
end)

describe("modes and gradients", function()
  it("train() and eval() set .training on every module and return the module", function()
    local net = Net(3)
    assert.is_true(net.training and net.fc1.training)
    assert.is_true(rawequal(net, net:eval()))
    assert.is_false(net.training or net.fc1.training or net.act.training)
    net:train()
    assert.is_true(net.training and net.fc2.training)
    net:train(false)
    assert.is_false(net.fc2.training)
  end)

  it("zero_grad() sets every grad to nil; zero_grad(false) zeroes them", function()
    local net = Net(3)
    net(ag.randn(2, 4)):sum():backward()
    assert.is_not_nil(net.fc1.weight.grad)
    net:zero_grad(false)
    assert.are.equal(0, net.fc1.weight.grad:abs():sum():item())
    net:zero_grad()
    for _, p in ipairs(net:parameters()) do assert.is_nil(p.grad) end
  end)

  it("requires_grad_(false) freezes every parameter", function()
    local net = Net(3):requires_grad_(false)
    for _, p in ipairs(net:parameters()) do assert.is_false(p.requires_grad) end
    assert.are.equal(0, net:num_parameters({trainable = true}))
    assert.are.equal(23, net:num_parameters())
  end)

  it("to('float64') converts parameters and float buffers but not integer ones", function()
    local m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    m:to('float64')
    assert.are.equal('float64', m[1].weight.dtype)
    assert.are.equal('float64', m[2].running_mean.dtype)
    assert.are.equal('int64', m[2].num_batches_tracked.dtype)
    assert.is_true(m[1].weight.requires_grad and m[1].weight.is_leaf)
    assert.are.same({4, 3}, m(ag.randn(4, 2, {dtype = 'float64'})).shape)
    m:float()
    assert.are.equal('float32', m[1].bias.dtype)
    assert.has_error(function() m:to('int64') end,
                     "ag.nn.Module.to: only floating point dtypes are accepted (float32, float64), got int64")
  end)

  it("apply(fn) visits children before their parent", function()
    local net = Net(3)
    local order = {}
    net:apply(function(m) order[#order + 1] = m:type_name() end)
    assert.are.same({'Linear', 'ReLU', 'Linear', 'Net'}, order)
    net:apply(function(m) if m:type_name() == 'Linear' then nn.init.zeros_(m.bias) end end)
    assert.are.same({0, 0}, net.fc2.bias:totable())
  end)
end)

describe("state_dict", function()
  it("holds parameters and persistent buffers under dotted names", function()
    local m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    local keys = {}
    for k in pairs(m:state_dict()) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({'1.bias', '1.weight', '2.bias', '2.num_batches_tracked', '2.running_mean', '2.running_var',
                     '2.weight'}, keys)
    assert.are.same({'1.weight', '1.bias', '2.weight', '2.bias', '2.running_mean', '2.running_var',
                     '2.num_batches_tracked'}, m:state_dict_keys())
  end)

  it("round-trips: a fresh model loaded from another's state_dict computes the same", function()
    ag.manual_seed(1)
    local a, b = Net(5), Net(5)
    local x = ag.randn(3, 4)
    assert.is_false(a(x):equal(b(x)))
    local r = b:load_state_dict(a:state_dict())
    assert.are.same({}, r.missing_keys)
    assert.are.same({}, r.unexpected_keys)
    assert.is_true(a(x):equal(b(x)))
    -- loading copies: changing a afterwards leaves b alone
    ag.no_grad(function() a.fc1.weight:fill_(0) end)
    assert.is_false(a(x):equal(b(x)))
  end)

  it("survives ag.save and ag.load", function()
    local a, b = Net(4), Net(4)
    local path = os.tmpname()
    ag.save(path, a:state_dict())
    b:load_state_dict(ag.load(path))
    os.remove(path)
    local x = ag.randn(2, 4)
    assert.is_true(a(x):equal(b(x)))
  end)

  it("detaches its tensors but shares their storage", function()
    local lin = nn.Linear(2, 2)
    local sd = lin:state_dict()
    assert.is_false(sd.weight.requires_grad)
    ag.no_grad(function() lin.weight:fill_(7) end)
    assert.are.equal(7, sd.weight[1][1]:item())
  end)

  it("load_state_dict is strict by default and lists missing and unexpected keys", function()
    local net = Net(3)
    local sd = net:state_dict()
    sd['fc2.bias'] = nil
    sd['fc3.weight'] = ag.zeros(1)
    sd['extra'] = ag.zeros(1)
    local ok, err = pcall(net.load_state_dict, net, sd)
    assert.is_false(ok)
    assert.matches('Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: "fc2.bias".\n\t' ..
                   'Unexpected key(s) in state_dict: "extra", "fc3.weight".', err, 1, true)
  end)

  it("with {strict = false} loads what matches and returns the keys that did not", function()
    local a, b = Net(3), Net(3)
    local sd = a:state_dict()
    sd['fc2.bias'] = nil
    sd['bogus'] = ag.zeros(1)
    local r = b:load_state_dict(sd, {strict = false})
    assert.are.same({'fc2.bias'}, r.missing_keys)
    assert.are.same({'bogus'}, r.unexpected_keys)
    assert.is_true(a.fc1.weight:equal(b.fc1.weight))
  end)

  it("reports a shape mismatch even when not strict", function()
    local net = Net(3)
    local sd = Net(3):state_dict()
    sd['fc1.weight'] = ag.zeros(5, 4)
    local ok, err = pcall(net.load_state_dict, net, sd, {strict = false})
    assert.is_false(ok)
    assert.matches('size mismatch for fc1.weight: copying a param with shape [5, 4] from checkpoint, the shape ' ..
                   'in current model is [3, 4].', err, 1, true)
  end)

  it("converts dtypes on load", function()
    local a = Net(3):double()
    local b = Net(3)
    b:load_state_dict(a:state_dict())
    assert.are.equal('float32', b.fc1.weight.dtype)
    assert.is_true(b.fc1.weight:allclose(a.fc1.weight:float()))
  end)
end)

describe("printing", function()
  it("shows the module tree with each module's parameter count and the total", function()
    local net = Net(3)
    assert.are.equal(table.concat({
      'Net(  # 23 params',
      '  (fc1): Linear(in_features=4, out_features=3, bias=true)  # 15 params',
      '  (act): ReLU()',
      '  (fc2): Linear(in_features=3, out_features=2, bias=true)  # 8 params',
      ')',
      'Total parameters: 23 (trainable: 23)'}, '\n'), tostring(net))
  end)

  it("nests containers and groups digits", function()
    local m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.Flatten(), nn.Sequential(nn.Linear(21632, 128)))
    m[1]:requires_grad_(false)
    local s = tostring(m)
    assert.matches('(1): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))  # 320 params', s, 1, true)
    assert.matches('(3): Sequential(  # 2,769,024 params', s, 1, true)
    assert.matches('(1): Linear(in_features=21632, out_features=128, bias=true)  # 2,769,024 params', s, 1, true)
    assert.matches('Total parameters: 2,769,344 (trainable: 2,769,024)', s, 1, true)
  end)
end)

describe("ag.nn.Parameter", function()
  it("makes a leaf that requires grad, sharing storage with a detached tensor", function()
    local t = ag.ones(2) * 3
    local p = nn.Parameter(t)
    assert.is_true(p.requires_grad and p.is_leaf)
    assert.is_true(nn.is_parameter(p))
    local q = nn.Parameter(ag.zeros(2), false)
    assert.is_false(q.requires_grad)
    assert.is_true(nn.is_parameter(q))
    local m = nn.Module()
    m.frozen = q
    assert.are.equal(1, #m:parameters())
  end)

  it("refuses integer tensors", function()
    assert.has_error(function() nn.Parameter(ag.zeros(2, {dtype = 'int64'})) end,
                     "ag.nn.Parameter: only float tensors can require gradients, got int64")
  end)
end)
