-- math_activation_spec.lua: the fused activations of the math family (ag.logsigmoid,
-- relu6, leaky_relu, elu, selu, gelu (erf and tanh forms), silu, mish, softplus, hardtanh):
-- values and gradients against PyTorch 1.13's answers, float32 values, PyTorch's node names,
-- float64 gradcheck and gradgradcheck, large inputs, non-contiguous inputs and errors.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local xs = {-3, -1.5, -0.5, 0, 0.25, 1, 2.5, 30}
local function x64() return ag.tensor(xs, {dtype = 'float64', requires_grad = true}) end

-- PyTorch 1.13: y = f(x), g = d sum(y) / dx on x = xs (float64), y32 = f(x) in float32
local torch = {
  logsigmoid = {y = {-3.048587351573742, -1.7014132779827524, -0.9740769841801067, -0.6931471805599453, -0.5759394198788436, -0.31326168751822286, -0.07888973429254963, -9.357622968839737e-14},
    g = {0.9525741268224333, 0.8175744761936437, 0.6224593312018545, 0.5, 0.4378234991142019, 0.2689414213699951, 0.07585818002124356, 9.3576229688393e-14},
    y32 = {-3.0485873222351074, -1.7014132738113403, -0.9740769863128662, -0.6931471824645996, -0.575939416885376, -0.3132616877555847, -0.07888973504304886, -9.357622912219837e-14}},
  relu6 = {y = {0.0, 0.0, 0.0, 0.0, 0.25, 1.0, 2.5, 6.0},
    g = {0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0},
    y32 = {0.0, 0.0, 0.0, 0.0, 0.25, 1.0, 2.5, 6.0}},
  leaky_relu = {y = {-0.6000000000000001, -0.30000000000000004, -0.1, 0.0, 0.25, 1.0, 2.5, 30.0},
    g = {0.2, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0, 1.0},
    y32 = {-0.6000000238418579, -0.30000001192092896, -0.10000000149011612, 0.0, 0.25, 1.0, 2.5, 30.0}},
  elu = {y = {-0.6651490521424952, -0.5438088878960992, -0.2754285382011566, 0.0, 0.25, 1.0, 2.5, 30.0},
    g = {0.03485094785750476, 0.15619111210390085, 0.42457146179884336, 0.7, 1.0, 1.0, 1.0, 1.0},
    y32 = {-0.6651490330696106, -0.5438088774681091, -0.27542853355407715, 0.0, 0.25, 1.0, 2.5, 30.0}},
  selu = {y = {-1.6705687287671118, -1.3658143533672527, -0.6917581878028713, 0.0, 0.2626752468388701, 1.0507009873554805, 2.626752468388701, 31.521029620664414},
    g = {0.08753061208026487, 0.392284987480124, 1.0663411530445053, 1.7580993408473766, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805},
    y32 = {-1.6705687046051025, -1.3658143281936646, -0.6917581558227539, 0.0, 0.2626752555370331, 1.0507010221481323, 2.6267526149749756, 31.52103042602539}},
  gelu = {y = {-0.00404969409489031, -0.10021080190328704, -0.15426876936299344, 0.0, 0.14967658142073093, 0.841344746068543, 2.4844758366855597, 30.0},
    g = {-0.01194564720418392, -0.1274691922299796, 0.13250487534383712, 0.5, 0.695373354883636, 1.0833154705876864, 1.037611085908145, 1.0},
    y32 = {-0.004049867391586304, -0.10021086037158966, -0.1542687863111496, 0.0, 0.14967656135559082, 0.8413447141647339, 2.48447585105896, 30.0}},
  gelu_tanh = {y = {-0.0036373920817729943, -0.10042842301976707, -0.15428599017485606, 0.0, 0.149675350701685, 0.8411919906082768, 2.484915733910001, 30.0},
    g = {-0.011584166630969648, -0.12771079315143308, 0.13263009646535764, 0.5, 0.6953540951510604, 1.0829640838457826, 1.037951576212666, 1.0},
    y32 = {-0.0036374330520629883, -0.10042843222618103, -0.1542859971523285, 0.0, 0.14967535436153412, 0.8411920070648193, 2.4849157333374023, 30.0}},
  silu = {y = {-0.14227761953270035, -0.2736382857095345, -0.1887703343990727, 0.0, 0.14054412522144952, 0.7310585786300049, 2.3103545499468914, 29.999999999997197},
    g = {-0.08810410601516962, -0.041294154299142946, 0.2600388126973482, 0.5, 0.6237100215701977, 0.9276705118714869, 1.0994011113415267, 1.000000000002711},
    y32 = {-0.14227761328220367, -0.2736382782459259, -0.1887703388929367, 0.0, 0.140544131398201, 0.7310585975646973, 2.310354471206665, 30.0}},
  mish = {y = {-0.1456474612756246, -0.2980997421668068, -0.22074377465173, 0.0, 0.1695724096638176, 0.8650983882673103, 2.471392304557881, 30.0},
    g = {-0.09339311453232084, -0.06409781589225866, 0.28951067791351226, 0.6, 0.7541726677205928, 1.0490362200997922, 1.041129530131353, 1.0},
    y32 = {-0.14564746618270874, -0.2980997562408447, -0.22074376046657562, 0.0, 0.1695723980665207, 0.8650983572006226, 2.4713923931121826, 30.0}},
  softplus = {y = {0.0012378425688652247, 0.02429367578687103, 0.15663084375911143, 0.34657359027997264, 0.48703849209005334, 1.0634640055214863, 2.503357674244559, 30.0},
    g = {0.0024726231566347748, 0.04742587317756679, 0.2689414213699951, 0.5, 0.6224593312018546, 0.8807970779778824, 0.9933071490757152, 1.0},
    y32 = {0.0012378426035866141, 0.024293676018714905, 0.15663084387779236, 0.3465735912322998, 0.4870384931564331, 1.0634640455245972, 2.5033576488494873, 30.0}},
  hardtanh = {y = {-2.0, -1.5, -0.5, 0.0, 0.25, 1.0, 1.5, 1.5},
    g = {0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0},
    y32 = {-2.0, -1.5, -0.5, 0.0, 0.25, 1.0, 1.5, 1.5}},
}

-- how each case is called in ag (PyTorch's: leaky_relu(x, 0.2), elu(x, 0.7),
-- softplus(x, 2, 5), hardtanh(x, -2, 1.5), gelu(x, approximate='tanh')), and its node
local cases = {
  {'logsigmoid', function(x) return ag.logsigmoid(x) end, 'LogSigmoidBackward0'},
  {'relu6', function(x) return ag.relu6(x) end, 'HardtanhBackward0'},
  {'leaky_relu', function(x) return ag.leaky_relu(x, 0.2) end, 'LeakyReluBackward0'},
  {'elu', function(x) return ag.elu(x, {alpha = 0.7}) end, 'EluBackward0'},
  {'selu', function(x) return ag.selu(x) end, 'EluBackward0'},
  {'gelu', function(x) return ag.gelu(x) end, 'GeluBackward0'},
  {'gelu_tanh', function(x) return ag.gelu(x, {approximate = 'tanh'}) end, 'GeluBackward0'},
  {'silu', function(x) return ag.silu(x) end, 'SiluBackward0'},
  {'mish', function(x) return ag.mish(x) end, 'MishBackward0'},
  {'softplus', function(x) return ag.softplus(x, {beta = 2, threshold = 5}) end, 'SoftplusBackward0'},
  {'hardtanh', function(x) return ag.hardtanh(x, -2, 1.5) end, 'HardtanhBackward0'},
}

describe("activations agree with PyTorch", function()
  for _, c in ipairs(cases) do
    local name, f, node = c[1], c[2], c[3]
    it(name .. ": float64 values and gradient within 1e-12, node " .. node, function()
      local x = x64()
      local y = f(x)
      U.close(y, torch[name].y, 1e-12, name)
      assert.are.equal(node, tostring(y.grad_fn):match('<(.-)>'))
      y:sum():backward()
      U.close(x.grad, torch[name].g, 1e-12, name .. ' grad')
    end)
    it(name .. ": float32 values within 1e-6, float32 result", function()
      local y = f(ag.tensor(xs))
      assert.are.equal('float32', y.dtype)
      U.close(y, torch[name].y32, 1e-6, name)
    end)
  end

  it("take parameters positionally or in an options table", function()
    local x = ag.tensor({-1.0, 2.0}, {dtype = 'float64'})
    U.close(ag.leaky_relu(x, {negative_slope = 0.5}), {-0.5, 2})
    U.close(ag.leaky_relu(x), {-0.01, 2})
    U.close(ag.elu(x, 2), {2 * (math.exp(-1) - 1), 2})
    U.close(ag.hardtanh(x, {min_val = -0.5, max_val = 1}), {-0.5, 1})
    U.close(ag.hardtanh(x), {-1, 1})
    U.close(ag.softplus(x, 1, 1), {math.log(1 + math.exp(-1)), 2})   -- 2 > threshold 1: linear
    U.close(ag.gelu(x, 'none'), ag.gelu(x):totable(), 0)
  end)
end)

describe("activations are numerically stable", function()
  -- PyTorch 1.13 on {-1000, -100, 100, 1000}
  local big = {-1000, -100, 100, 1000}
  local want = {
    logsigmoid = {{-1000.0, -100.0, -3.720075976020836e-44, 0.0}, {1.0, 1.0, 3.720075976020836e-44, 0.0}},
    softplus = {{0.0, 3.720075976020836e-44, 100.0, 1000.0}, {0.0, 3.720075976020836e-44, 1.0, 1.0}},
    silu = {{0, -3.720075976020836e-42, 100.0, 1000.0}, {0, -3.682875216260627e-42, 1.0, 1.0}},
    mish = {{0, -3.7200759760208363e-42, 100.0, 1000.0}, {0.0, -3.682875216260627e-42, 1.0, 1.0}},
    gelu = {{0, 0, 100.0, 1000.0}, {0.0, 0.0, 1.0, 1.0}},
    elu = {{-1.0, -1.0, 100.0, 1000.0}, {0.0, 3.720075976020836e-44, 1.0, 1.0}},
  }
  for name, w in pairs(want) do
    it(name .. " of +-1000 and +-100 is finite, with finite gradients (float64 and float32)", function()
      local x = ag.tensor(big, {dtype = 'float64', requires_grad = true})
      local y = ag[name](x)
      U.close(y, w[1], 1e-12)
      y:sum():backward()
      U.close(x.grad, w[2], 1e-12)
      local x32 = ag.tensor(big, {requires_grad = true})
      local y32 = ag[name](x32)
      y32:sum():backward()
      for _, v in ipairs(y32:totable()) do assert.is_true(v == v and math.abs(v) < math.huge) end
      for _, v in ipairs(x32.grad:totable()) do assert.is_true(v == v and math.abs(v) < math.huge) end
    end)
  end

  it("softplus stays finite where beta * x is past a large threshold (PyTorch overflows to inf)", function()
    local y = ag.softplus(ag.tensor({1000.0}, {dtype = 'float64'}), {threshold = 2000})
    U.close(y, {1000})
  end)
end)

describe("activation gradients", function()
  -- inputs away from the kinks, where finite differences are exact enough
  local function input() return ag.tensor({{-2.5, -0.7, 0.3}, {0.9, 1.7, 4.2}}, {dtype = 'float64', requires_grad = true}) end
  for _, c in ipairs(cases) do
    it(c[1] .. " passes gradcheck and gradgradcheck", function()
      assert.is_true(gradcheck(c[2], {input()}))
      assert.is_true(gradgradcheck(c[2], {input()}))
    end)
  end

  it("leaky_relu, elu and hardtanh second derivatives are exact (third order too)", function()
    local x = ag.tensor({-0.6, 0.8}, {dtype = 'float64', requires_grad = true})
    local y = ag.elu(x, 0.7):sum()
    local g1 = ag.autograd.grad(y, x, {create_graph = true})
    local g2 = ag.autograd.grad(g1:sum(), x, {create_graph = true})
    U.close(g2, {0.7 * math.exp(-0.6), 0}, 1e-12)
    local g3 = ag.autograd.grad(g2:sum(), x)
    U.close(g3, {0.7 * math.exp(-0.6), 0}, 1e-12)
  end)

  it("work on non-contiguous inputs (transposed and expanded)", function()
    local base = ag.tensor({{-1.0, 0.5}, {2.0, -3.0}}, {dtype = 'float64'})
    local t = base:t()
    U.close(ag.silu(t), ag.silu(t:contiguous()):totable(), 0)
    local e = ag.tensor({-1.0, 2.0}, {dtype = 'float64', requires_grad = true})
    assert.is_true(gradcheck(function(v) return ag.gelu(v:expand(3, 2)) end, {e}))
    assert.is_true(gradcheck(function(v) return ag.mish(v:t()) end, {ag.randn(2, 3):double():requires_grad_()}))
  end)

  it("keep empty and 0-dim shapes", function()
    assert.are.same({0, 3}, ag.gelu(ag.zeros(0, 3)).shape)
    assert.are.same({}, ag.softplus(ag.tensor(1.0)).shape)
  end)
end)

describe("activation errors", function()
  it("refuse integer tensors, naming the op and the fix", function()
    U.raises(function() ag.gelu(ag.tensor({1, 2}, {dtype = 'int64'})) end, 'ag.gelu', 'floating-point', 'int64')
    U.raises(function() ag.silu(ag.tensor({true})) end, 'ag.silu', 'bool')
  end)
  it("refuse bad parameters", function()
    U.raises(function() ag.hardtanh(ag.ones(2), 1, -1) end, 'ag.hardtanh', 'min_val')
    U.raises(function() ag.gelu(ag.ones(2), 'fast') end, "ag.gelu: approximate must be 'none' or 'tanh'")
    U.raises(function() ag.softplus(ag.ones(2), 0) end, 'ag.softplus: beta must not be 0')
    U.raises(function() ag.leaky_relu(ag.ones(2), 'x') end, 'ag.leaky_relu: negative_slope must be a number')
    U.raises(function() ag.elu(ag.ones(2), {alpah = 1}) end, "ag.elu: unknown option 'alpah'")
  end)
  it("refuse a non-tensor input", function()
    U.raises(function() ag.mish({1, 2}) end, 'ag.mish: expected a Tensor as argument 1')
  end)
end)
