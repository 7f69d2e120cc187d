-- init.lua: `local ag = require 'ag'`. Puts the pieces together: every tensor op as
-- ag.<op>(t, ...) as well as t:<op>(...), the factories, grad-mode scopes, ag.autograd,
-- threads and memory.
local ffi = require 'ffi'
local core = require 'ag.core'
local tensor = require 'ag.tensor'
require 'ag.indexing'
local autograd = require 'ag.autograd'
local creation = require 'ag.creation'
local grad_mode = require 'ag.grad_mode'
local C = core.C

local ag = {}
for k, f in pairs(tensor.methods) do ag[k] = f end
for k, f in pairs(creation) do ag[k] = f end
for k, f in pairs(grad_mode) do ag[k] = f end
ag.autograd = autograd
ag.scalar_tensor = tensor.scalar_tensor
ag.is_tensor = core.is_tensor
ag['repeat'] = nil

-- dtype names usable as values: ag.float32 == 'float32'
for _, name in ipairs({'float32', 'float64', 'int64', 'int32', 'uint8', 'bool'}) do ag[name] = name end
ag.float, ag.double, ag.long, ag.int = 'float32', 'float64', 'int64', 'int32'

function ag.set_num_threads(n)
  core.check_int(n, 'set_num_threads', 'n')
  if n < 1 or n >= 2 ^ 31 then error("ag.set_num_threads: expects a positive integer, got " .. n, 2) end
  C.ag_set_num_threads(n)
end
function ag.get_num_threads() return C.ag_get_num_threads() end

function ag.memory_allocated() return tonumber(C.ag_memory_allocated()) end
function ag.max_memory_allocated() return tonumber(core.stats.peak_bytes) end
function ag.empty_cache() C.ag_empty_cache() end
ag.set_memory_limit = core.set_memory_limit
-- A hard cap on live tensor bytes (0: none): an allocation past it first collects garbage
-- and retries, then fails with an out-of-memory error. Returns the previous cap.
function ag.set_memory_hard_limit(bytes)
  if type(bytes) ~= 'number' or bytes ~= bytes or bytes < 0 then
    error("ag.set_memory_hard_limit: expected a number of bytes >= 0, got " .. tostring(bytes), 2)
  end
  local old = tonumber(C.ag_memory_hard_limit())
  C.ag_set_memory_hard_limit(bytes)
  return old
end
ag.collect = core.collect

-- Op families live in their own modules; each adds its tensor methods to
-- tensor.methods and returns the functions it exports as ag.<name>.
local families = {'ag.ops.index', 'ag.ops.math', 'ag.ops.reduce', 'ag.ops.linalg', 'ag.nn.functional'}
for _, name in ipairs(families) do
  if package.searchpath(name, package.path) then
    for k, f in pairs(require(name)) do ag[k] = f end
  end
end
for k, f in pairs(tensor.methods) do if ag[k] == nil then ag[k] = f end end
ag.F = package.loaded['ag.nn.functional']
-- activations live in ag.ops.math (PyTorch has them in torch and F alike): F gets them too
if ag.F then
  for _, k in ipairs({'relu', 'relu6', 'leaky_relu', 'elu', 'selu', 'gelu', 'silu', 'mish', 'softplus',
                      'hardtanh', 'logsigmoid', 'sigmoid', 'tanh', 'one_hot', 'pad', 'embedding'}) do
    if ag.F[k] == nil then ag.F[k] = ag[k] end
  end
end
-- convolution, pooling and interpolation, and the fused recurrent cells join nn.functional
for _, name in ipairs({'ag.nn.functional_conv', 'ag.nn.functional_rnn'}) do
  if ag.F and package.searchpath(name, package.path) then
    for k, f in pairs(require(name)) do
      if ag.F[k] == nil then ag.F[k] = f end
    end
  end
end

-- checkpoints, and the higher layers loaded on first use (they require 'ag' themselves)
local serialization = require 'ag.serialization'
ag.save, ag.load = serialization.save, serialization.load
local lazy = {nn = 'ag.nn', optim = 'ag.optim', data = 'ag.data', datasets = 'ag.datasets', utils = 'ag.utils'}
setmetatable(ag, {__index = function(t, k)
  local name = lazy[k]
  if not name then return nil end
  local m = require(name)
  rawset(t, k, m)
  return m
end})

ffi.metatype('ag_ref', tensor.mt)
ag.Tensor = core.Tensor
return ag
