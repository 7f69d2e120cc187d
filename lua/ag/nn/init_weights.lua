-- nn/init_weights.lua: ag.nn.init, PyTorch's weight initialisers. Each fills a tensor in
-- place without recording gradients (the RNG fills run in C) and returns it:
--   ag.nn.init.kaiming_uniform_(w, {a = math.sqrt(5)})   -- or kaiming_uniform_(w, math.sqrt(5))
local core = require 'ag.core'
local C = core.C

local I = {}

local function ag() return require 'ag' end

local function check(t, op)
  if not core.is_tensor(t) then
    error(string.format("ag.nn.init.%s: expected a Tensor, got %s", op, core.typename(t)), 3)
  end
  if not t:is_floating_point() then
    error(string.format("ag.nn.init.%s: expected a float32 or float64 tensor, got %s", op, t.dtype), 3)
  end
  return t.p
end

-- options: positional values in `names` order, or one trailing table of them
local function opts(names, ...)
  local first = ...
  local r = {}
  if type(first) == 'table' then
    for _, n in ipairs(names) do r[n] = first[n] end
  else
    local args = {...}
    for i, n in ipairs(names) do r[n] = args[i] end
  end
  return r
end

function I.calculate_gain(nonlinearity, param)
  local linear = {linear = 1, conv1d = 1, conv2d = 1, conv3d = 1, conv_transpose1d = 1,
                  conv_transpose2d = 1, conv_transpose3d = 1, sigmoid = 1}
  if linear[nonlinearity] then return 1 end
  if nonlinearity == 'tanh' then return 5 / 3 end
  if nonlinearity == 'relu' then return math.sqrt(2) end
  if nonlinearity == 'leaky_relu' then
    local slope = param
    if slope == nil then slope = 0.01 end
    if type(slope) ~= 'number' then
      error("ag.nn.init.calculate_gain: negative_slope " .. tostring(param) .. " not a valid number", 2)
    end
    return math.sqrt(2 / (1 + slope ^ 2))
  end
  if nonlinearity == 'selu' then return 3 / 4 end
  error("ag.nn.init.calculate_gain: unsupported nonlinearity " .. tostring(nonlinearity), 2)
end

-- fan_in = size(2) * receptive field, fan_out = size(1) * receptive field
function I._calculate_fan_in_and_fan_out(t, op)
  local s = t.shape
  if #s < 2 then
    error(string.format("ag.nn.init.%s: fan in and fan out can not be computed for a tensor with fewer " ..
                        "than 2 dimensions (got shape [%s])", op or 'calculate_fan', table.concat(s, ', ')), 3)
  end
  local rf = 1
  for i = 3, #s do rf = rf * s[i] end
  return s[2] * rf, s[1] * rf
end

local function fan(t, mode, op)
  local fin, fout = I._calculate_fan_in_and_fan_out(t, op)
  if mode == 'fan_in' then return fin end
  if mode == 'fan_out' then return fout end
  error(string.format("ag.nn.init.%s: mode %s not supported, please use one of fan_in, fan_out", op,
                      tostring(mode)), 3)
end

function I.uniform_(t, ...)
  local o = opts({'a', 'b'}, ...)
  local p = check(t, 'uniform_')
  core.ok(C.agt_uniform_(p, o.a or 0, o.b or 1))
  return t
end

function I.normal_(t, ...)
  local o = opts({'mean', 'std'}, ...)
  local p = check(t, 'normal_')
  core.ok(C.agt_normal_(p, o.mean or 0, o.std or 1))
  return t
end

function I.constant_(t, val)
  local p = check(t, 'constant_')
  if type(val) ~= 'number' then
    error("ag.nn.init.constant_: val must be a number, got " .. core.typename(val), 2)
  end
  core.ok(C.agt_fill_(p, val))
  C.agt_bump_version(p)
  return t
end
function I.zeros_(t) return I.constant_(t, 0) end
function I.ones_(t) return I.constant_(t, 1) end

function I.eye_(t)
  check(t, 'eye_')
  if t.ndim ~= 2 then error("ag.nn.init.eye_: only tensors with 2 dimensions are supported", 2) end
  local s = t.shape
  ag().no_grad(function() t:copy_(ag().eye(s[1], s[2], {dtype = t.dtype})) end)
  return t
end

function I.xavier_uniform_(t, gain)
  if type(gain) == 'table' then gain = gain.gain end
  check(t, 'xavier_uniform_')
  local fin, fout = I._calculate_fan_in_and_fan_out(t, 'xavier_uniform_')
  local std = (gain or 1) * math.sqrt(2 / (fin + fout))
  local a = math.sqrt(3) * std
  return I.uniform_(t, -a, a)
end

function I.xavier_normal_(t, gain)
  if type(gain) == 'table' then gain = gain.gain end
  check(t, 'xavier_normal_')
  local fin, fout = I._calculate_fan_in_and_fan_out(t, 'xavier_normal_')
  return I.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fin + fout)))
end

local function kaiming_std(t, op, ...)
  local o = opts({'a', 'mode', 'nonlinearity'}, ...)
  check(t, op)
  local f = fan(t, o.mode or 'fan_in', op)
  local gain = I.calculate_gain(o.nonlinearity or 'leaky_relu', o.a or 0)
  if f == 0 then return nil end
  return gain / math.sqrt(f)
end

function I.kaiming_uniform_(t, ...)
  local std = kaiming_std(t, 'kaiming_uniform_', ...)
  if not std then return t end        -- a zero-element tensor: nothing to fill
  local bound = math.sqrt(3) * std
  return I.uniform_(t, -bound, bound)
end

function I.kaiming_normal_(t, ...)
  local std = kaiming_std(t, 'kaiming_normal_', ...)
  if not std then return t end
  return I.normal_(t, 0, std)
end

-- A (semi-)orthogonal matrix from the QR of a normal one, the sign of R's diagonal folded
-- in (as PyTorch). Modified Gram-Schmidt in Lua: this runs once at initialisation.
function I.orthogonal_(t, gain)
  if type(gain) == 'table' then gain = gain.gain end
  check(t, 'orthogonal_')
  if t.ndim < 2 then error("ag.nn.init.orthogonal_: only tensors with 2 or more dimensions are supported", 2) end
  local rows = t.shape[1]
  local cols = t:numel() / rows
  if rows == 0 or cols == 0 then return t end
  local flat = ag().randn(rows, cols, {dtype = 'float64'})
  if rows < cols then flat = flat:t():contiguous() end
  local m, n = flat.shape[1], flat.shape[2]          -- m >= n: orthonormalise the n columns
  local a = flat:totable()
  local q = {}
  for i = 1, m do q[i] = {} end
  for j = 1, n do
    local v = {}
    for i = 1, m do v[i] = a[i][j] end
    for k = 1, j - 1 do
      local d = 0
      for i = 1, m do d = d + q[i][k] * v[i] end
      for i = 1, m do v[i] = v[i] - d * q[i][k] end
    end
    local norm = 0
    for i = 1, m do norm = norm + v[i] * v[i] end
    norm = math.sqrt(norm)
    -- r_jj = <q_j, a_j> = norm > 0: the sign correction is +1, nothing to fold in
    for i = 1, m do q[i][j] = norm > 0 and v[i] / norm or 0 end
  end
  local qt = ag().tensor(q, {dtype = 'float64'})
  if rows < cols then qt = qt:t() end
  qt = qt * (gain or 1)
  ag().no_grad(function() t:copy_(qt:reshape(t.shape)) end)
  return t
end

return I
