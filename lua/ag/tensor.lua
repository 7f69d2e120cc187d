-- tensor.lua: the Tensor metatable. Arithmetic metamethods, indexing (t[i] is a view,
-- 1-based), fields (shape, dtype, grad, ...), and every tensor method. Each op is one C
-- call; the same function serves as t:op(...) and ag.op(t, ...).
local ffi = require 'ffi'
local core = require 'ag.core'
local repr = require 'ag.repr'

local C, wrap, check, ok, raise, retry = core.C, core.wrap, core.check, core.ok, core.raise, core.retry
local check_dim = core.check_dim
local is_tensor, tonumber, type, select = core.is_tensor, tonumber, type, select
local dtype_id, dtype_names = core.dtype_id, core.dtype_names

local M = {}            -- methods, shared with ag.<op>
local T = {}            -- the module

-- binary ops
local OP = {add = C.AG_OP_ADD, sub = C.AG_OP_SUB, mul = C.AG_OP_MUL, div = C.AG_OP_DIV,
            pow = C.AG_OP_POW, maximum = C.AG_OP_MAXIMUM, minimum = C.AG_OP_MINIMUM,
            atan2 = C.AG_OP_ATAN2, eq = C.AG_OP_EQ, ne = C.AG_OP_NE, lt = C.AG_OP_LT, le = C.AG_OP_LE,
            gt = C.AG_OP_GT, ge = C.AG_OP_GE, logical_and = C.AG_OP_LOGICAL_AND,
            logical_or = C.AG_OP_LOGICAL_OR, remainder = C.AG_OP_REMAINDER}
for k, v in pairs(OP) do OP[k] = tonumber(v) end

local function scalar_tensor(v, like)
  return wrap(C.agt_full(0, nil, v, like and like.p.scalar_type or 0))
end
T.scalar_tensor = scalar_tensor

-- a op b, where either side may be a Lua number
local function binary(op, name, a, b)
  local r
  if type(b) == 'number' then
    local pa = check(a, name, 1)
    r = C.aga_binary_scalar(op, pa, b, 0)
    if r == nil then r = retry(C.aga_binary_scalar, op, pa, b, 0) end
  elseif type(a) == 'number' then
    local pb = check(b, name, 2)
    r = C.aga_binary_scalar(op, pb, a, 1)
    if r == nil then r = retry(C.aga_binary_scalar, op, pb, a, 1) end
  else
    local pa, pb = check(a, name, 1), check(b, name, 2)
    r = C.aga_binary(op, pa, pb)
    if r == nil then r = retry(C.aga_binary, op, pa, pb) end
  end
  return wrap(r)
end

local function def_binary(name)
  local op = OP[name]
  M[name] = function(a, b) return binary(op, name, a, b) end
end
for name in pairs(OP) do def_binary(name) end
M.mul, M.multiply, M.true_divide, M.divide = M.mul, M.mul, M.div, M.div
M.fmod = nil
M.greater, M.less, M.equal_elements = M.gt, M.lt, nil

-- add/sub with PyTorch's alpha: a + alpha * b
local add_plain, sub_plain = M.add, M.sub
local function scaled(b, alpha, name)
  if type(alpha) ~= 'number' then
    error(string.format("ag.%s: alpha must be a number, got %s", name, core.typename(alpha)), 3)
  end
  if type(b) == 'number' then return b * alpha end
  return M.mul(b, alpha)
end
T.scaled = scaled
function M.add(a, b, alpha)
  if alpha ~= nil and alpha ~= 1 then return add_plain(a, scaled(b, alpha, 'add')) end
  return add_plain(a, b)
end
function M.sub(a, b, alpha)
  if alpha ~= nil and alpha ~= 1 then return sub_plain(a, scaled(b, alpha, 'sub')) end
  return sub_plain(a, b)
end
function M.rsub(a, b) return binary(OP.sub, 'rsub', b, a) end

-- unary ops
local UOP = {neg = C.AG_UOP_NEG, abs = C.AG_UOP_ABS, relu = C.AG_UOP_RELU, sign = C.AG_UOP_SIGN,
             exp = C.AG_UOP_EXP, log = C.AG_UOP_LOG, sqrt = C.AG_UOP_SQRT, tanh = C.AG_UOP_TANH,
             sigmoid = C.AG_UOP_SIGMOID, sin = C.AG_UOP_SIN, cos = C.AG_UOP_COS, tan = C.AG_UOP_TAN,
             expm1 = C.AG_UOP_EXPM1, log1p = C.AG_UOP_LOG1P, log2 = C.AG_UOP_LOG2,
             rsqrt = C.AG_UOP_RSQRT, reciprocal = C.AG_UOP_RECIPROCAL, asin = C.AG_UOP_ASIN,
             acos = C.AG_UOP_ACOS, atan = C.AG_UOP_ATAN, sinh = C.AG_UOP_SINH, cosh = C.AG_UOP_COSH,
             erf = C.AG_UOP_ERF, floor = C.AG_UOP_FLOOR, ceil = C.AG_UOP_CEIL, round = C.AG_UOP_ROUND,
             trunc = C.AG_UOP_TRUNC, logical_not = C.AG_UOP_LOGICAL_NOT, isnan = C.AG_UOP_ISNAN,
             isinf = C.AG_UOP_ISINF}
local function def_unary(name, op)
  op = tonumber(op)
  M[name] = function(a)
    local p = check(a, name)
    local r = C.aga_unary(op, p)
    if r == nil then r = retry(C.aga_unary, op, p) end
    return wrap(r)
  end
  if op < tonumber(C.AG_UOP_LOGICAL_NOT) then
    M[name .. '_'] = function(a) ok(C.aga_unary_(op, check(a, name .. '_'))) return a end
  end
end
for name, op in pairs(UOP) do def_unary(name, op) end
M.negative, M.absolute, M.arcsin, M.arccos, M.arctan = M.neg, M.abs, M.asin, M.acos, M.atan
M.fix = M.trunc

function M.square(a) return binary(OP.pow, 'square', a, 2) end

local function check_bound(v, op)
  if v ~= nil and type(v) ~= 'number' and not is_tensor(v) then
    error(string.format("ag.%s: min and max must be numbers or tensors, got %s", op, core.typename(v)), 3)
  end
end

function M.clamp(a, lo, hi)
  local p = check(a, 'clamp')
  if type(lo) == 'table' then lo, hi = lo.min, lo.max end
  check_bound(lo, 'clamp'); check_bound(hi, 'clamp')
  if is_tensor(lo) or is_tensor(hi) then
    local r = a
    if lo ~= nil then r = M.maximum(r, lo) end
    if hi ~= nil then r = M.minimum(r, hi) end
    return r
  end
  if lo == nil and hi == nil then error("ag.clamp: at least one of 'min' or 'max' must not be nil", 2) end
  return wrap(C.aga_clamp(p, lo or -math.huge, hi or math.huge))
end
M.clip = M.clamp
function M.clamp_(a, lo, hi)
  local p = check(a, 'clamp_')
  if type(lo) == 'table' then lo, hi = lo.min, lo.max end
  if type(lo) ~= 'number' and lo ~= nil or type(hi) ~= 'number' and hi ~= nil then
    error(string.format("ag.clamp_: min and max must be numbers, got %s and %s", core.typename(lo),
          core.typename(hi)), 2)
  end
  if lo == nil and hi == nil then error("ag.clamp_: at least one of 'min' or 'max' must not be nil", 2) end
  ok(C.aga_clamp_(p, lo or -math.huge, hi or math.huge))
  return a
end

function M.where(cond, a, b)
  local pc = check(cond, 'where', 1)
  if type(a) == 'number' then a = scalar_tensor(a, is_tensor(b) and b or nil) end
  if type(b) == 'number' then b = scalar_tensor(b, a) end
  return wrap(C.aga_where(pc, check(a, 'where', 2), check(b, 'where', 3)))
end

-- in-place arithmetic
local function def_inplace(name, op)
  M[name .. '_'] = function(a, b, alpha)
    local p = check(a, name .. '_')
    if alpha ~= nil and alpha ~= 1 then b = scaled(b, alpha, name .. '_') end
    if type(b) == 'number' then ok(C.aga_binary_scalar_(op, p, b))
    else ok(C.aga_binary_(op, p, check(b, name .. '_', 2))) end
    return a
  end
end
for _, name in ipairs({'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'remainder', 'atan2'}) do
  def_inplace(name, OP[name])
end

function M.fill_(a, v)
  local p = check(a, 'fill_')
  if is_tensor(v) then v = M.item(v) end
  if type(v) == 'boolean' then v = v and 1 or 0 end
  if type(v) ~= 'number' then error("ag.fill_: value must be a number, got " .. core.typename(v), 2) end
  ok(C.aga_fill_(p, v))
  return a
end
function M.zero_(a) return M.fill_(a, 0) end
function M.copy_(a, src)
  local p = check(a, 'copy_')
  if type(src) == 'number' then return M.fill_(a, src) end
  ok(C.aga_copy_(p, check(src, 'copy_', 2)))
  return a
end

-- reductions
local RED = {sum = C.AG_RED_SUM, mean = C.AG_RED_MEAN, prod = C.AG_RED_PROD, amax = C.AG_RED_AMAX,
             amin = C.AG_RED_AMIN, all = C.AG_RED_ALL, any = C.AG_RED_ANY}
local function def_reduce(name, op)
  op = tonumber(op)
  M[name] = function(a, dim, keepdim)
    local p = check(a, name)
    if type(dim) == 'boolean' then dim, keepdim = nil, dim end
    if type(dim) == 'table' and dim.dim ~= nil then dim, keepdim = dim.dim, dim.keepdim end
    local n, dims = core.parse_dims(name, dim)
    local kd = keepdim and 1 or 0
    local r = C.aga_reduce(op, p, n, dims, kd)
    if r == nil then r = retry(C.aga_reduce, op, p, n, dims, kd) end
    return wrap(r)
  end
end
for name, op in pairs(RED) do def_reduce(name, op) end

local function var_like(name, take_sqrt)
  M[name] = function(a, dim, opts, keepdim)
    local p = check(a, name)
    local correction = 1
    if type(dim) == 'table' and (dim.dim ~= nil or dim.correction ~= nil or dim.unbiased ~= nil or dim.keepdim ~= nil) then
      opts, dim = dim, dim.dim
    end
    if type(opts) == 'boolean' then correction = opts and 1 or 0
    elseif type(opts) == 'table' then
      if opts.correction ~= nil then correction = opts.correction end
      if opts.unbiased ~= nil then correction = opts.unbiased and 1 or 0 end
      if opts.keepdim ~= nil then keepdim = opts.keepdim end
    end
    local n, dims = core.parse_dims(name, dim)
    return wrap(C.aga_var(p, n, dims, correction, keepdim and 1 or 0, take_sqrt and 1 or 0))
  end
end
var_like('var', false)
var_like('std', true)

local idx_out = ffi.new('ag_tensor *[1]')
local function max_like(name, is_min)
  M[name] = function(a, dim, keepdim)
    local p = check(a, name)
    if is_tensor(dim) then
      return is_min and M.minimum(a, dim) or M.maximum(a, dim)
    end
    if dim == nil then return wrap(C.aga_max_all(p, is_min and 1 or 0)) end
    check_dim(dim, name)
    local v = C.aga_max_dim(p, dim, keepdim and 1 or 0, is_min and 1 or 0, idx_out)
    if v == nil then raise() end
    local vals = wrap(v)
    return vals, wrap(idx_out[0])
  end
end
max_like('max', false)
max_like('min', true)

local function arg_like(name, is_min)
  M[name] = function(a, dim, keepdim)
    local p = check(a, name)
    if dim == nil then return wrap(C.agt_argmax(p, 1, 0, is_min and 1 or 0, 1)) end
    check_dim(dim, name)
    return wrap(C.agt_argmax(p, dim, keepdim and 1 or 0, is_min and 1 or 0, 0))
  end
end
arg_like('argmax', false)
arg_like('argmin', true)

function M.sum_to_size(a, ...)
  local n, sizes = core.parse_sizes('sum_to_size', ...)
  return wrap(C.aga_sum_to_size(check(a, 'sum_to_size'), n, sizes))
end

-- matrix products
local function product(f, name)
  return function(a, b)
    local pa, pb = check(a, name, 1), check(b, name, 2)
    local r = f(pa, pb)
    if r == nil then r = retry(f, pa, pb) end
    return wrap(r)
  end
end
M.matmul = product(C.aga_matmul, 'matmul')
M.mm = product(C.aga_mm, 'mm')
M.bmm = product(C.aga_bmm, 'bmm')
function M.dot(a, b)
  check(a, 'dot', 1); check(b, 'dot', 2)
  if a.ndim ~= 1 or b.ndim ~= 1 then
    error(string.format("ag.dot: 1D tensors expected, but got %dD and %dD tensors", a.ndim, b.ndim), 2)
  end
  return M.matmul(a, b)
end
function M.mv(a, b)
  check(a, 'mv', 1); check(b, 'mv', 2)
  if a.ndim ~= 2 or b.ndim ~= 1 then
    error(string.format("ag.mv: expected a 2-D matrix and a 1-D vector, got %dD and %dD", a.ndim, b.ndim), 2)
  end
  return M.matmul(a, b)
end

-- views
function M.view(a, ...)
  local p = check(a, 'view')
  local first = ...
  if type(first) == 'string' then
    error("ag.view: view(dtype) would reinterpret the bytes as another dtype, which ag does not support; " ..
          "use :to('" .. first .. "') to convert the values", 2)
  end
  local n, sizes = core.parse_shape('view', ...)
  return wrap(C.aga_view(p, n, sizes))
end
function M.reshape(a, ...)
  local n, sizes = core.parse_shape('reshape', ...)
  return wrap(C.aga_reshape(check(a, 'reshape'), n, sizes))
end
function M.view_as(a, b) return M.view(a, (check(b, 'view_as', 2) and b.shape)) end
function M.reshape_as(a, b) return M.reshape(a, (check(b, 'reshape_as', 2) and b.shape)) end
function M.transpose(a, d0, d1)
  local p = check(a, 'transpose')
  check_dim(d0, 'transpose', 'dim0'); check_dim(d1, 'transpose', 'dim1')
  return wrap(C.aga_transpose(p, d0, d1))
end
M.swapaxes, M.swapdims = M.transpose, M.transpose
function M.t(a) return wrap(C.aga_t(check(a, 't'))) end
function M.permute(a, ...)
  local p = check(a, 'permute')
  local n, dims = core.parse_dims('permute', select('#', ...) == 1 and ... or {...})
  return wrap(C.aga_permute(p, n, dims))
end
function M.narrow(a, dim, start, length)
  local p = check(a, 'narrow')
  check_dim(dim, 'narrow'); core.check_int(start, 'narrow', 'start')
  core.check_int(length, 'narrow', 'length')
  return wrap(C.aga_narrow(p, dim, start, length))
end
function M.select(a, dim, index)
  local p = check(a, 'select')
  check_dim(dim, 'select'); core.check_int(index, 'select', 'index')
  return wrap(C.aga_select(p, dim, index))
end
function M.squeeze(a, dim)
  local p = check(a, 'squeeze')
  if dim == nil then return wrap(C.aga_squeeze(p, 0, 1)) end
  check_dim(dim, 'squeeze')
  return wrap(C.aga_squeeze(p, dim, 0))
end
function M.unsqueeze(a, dim)
  local p = check(a, 'unsqueeze')
  check_dim(dim, 'unsqueeze')
  return wrap(C.aga_unsqueeze(p, dim))
end
function M.expand(a, ...)
  local p = check(a, 'expand')
  local n, sizes = core.parse_shape('expand', ...)
  return wrap(C.aga_expand(p, n, sizes))
end
function M.expand_as(a, b) return M.expand(a, (check(b, 'expand_as', 2) and b.shape)) end
M.broadcast_to = M.expand
-- unflatten(dim, sizes): dim becomes several dims (one of the sizes may be -1); a view
function M.unflatten(a, dim, sizes)
  check(a, 'unflatten')
  core.check_int(dim, 'unflatten', 'dim')
  if type(sizes) ~= 'table' or #sizes == 0 then
    error("ag.unflatten: sizes must be a non-empty table of sizes, got " .. core.typename(sizes), 2)
  end
  local shape, n = a.shape, #a.shape
  local d = dim < 0 and dim + n + 1 or dim
  if d < 1 or d > n then
    error(string.format("ag.unflatten: dimension out of range (expected to be in range of [%d, %d] but got %d)",
                        -n, n, dim), 2)
  end
  local new = {}
  for i = 1, d - 1 do new[#new + 1] = shape[i] end
  for _, v in ipairs(sizes) do new[#new + 1] = v end
  for i = d + 1, n do new[#new + 1] = shape[i] end
  local known, infer = 1, 0
  for _, v in ipairs(sizes) do if v == -1 then infer = infer + 1 else known = known * v end end
  if (infer == 0 and known ~= shape[d]) or (infer == 1 and (known == 0 or shape[d] % known ~= 0)) or infer > 1 then
    error(string.format("ag.unflatten: sizes {%s} don't multiply up to the size of dim %d (%d) of input [%s]",
                        table.concat(sizes, ', '), d, shape[d], table.concat(shape, ', ')), 2)
  end
  return M.view(a, new)
end

function M.flatten(a, s, e)
  local p = check(a, 'flatten')
  s, e = s or 1, e or -1
  check_dim(s, 'flatten', 'start_dim'); check_dim(e, 'flatten', 'end_dim')
  return wrap(C.aga_flatten(p, s, e))
end
M.contiguous = core.unary_op(C.aga_contiguous, 'contiguous')
M.clone = core.unary_op(C.aga_clone, 'clone')

-- conversion
function M.to(a, dtype)
  local p = check(a, 'to')
  if type(dtype) == 'table' then dtype = dtype.dtype end
  if dtype == nil or dtype == 'cpu' then return a end
  local id = dtype_id(dtype, 'to')
  local r = C.aga_to_dtype(p, id)
  if r == nil then r = retry(C.aga_to_dtype, p, id) end
  return wrap(r)
end
M.type_as = function(a, b) check(b, 'type_as', 2) return M.to(a, b.dtype) end
function M.float(a) return M.to(a, 'float32') end
function M.double(a) return M.to(a, 'float64') end
function M.long(a) return M.to(a, 'int64') end
function M.int(a) return M.to(a, 'int32') end
function M.byte(a) return M.to(a, 'uint8') end
M['bool'] = function(a) return M.to(a, 'bool') end

local dbl_buf = ffi.new('double[1]')
function M.item(a)
  local p = check(a, 'item')
  ok(C.agt_item(p, dbl_buf))
  local v = dbl_buf[0]
  if p.scalar_type == 5 then return v ~= 0 end
  return v
end

local function flat_values(a)
  local p = a.p
  local n = tonumber(C.agt_numel(p))
  if n > 2 ^ 27 then
    error(string.format("ag.totable: a tensor of %.0f elements is too large to turn into Lua tables", n), 3)
  end
  local buf = ffi.new('double[?]', math.max(n, 1))
  C.agt_to_doubles(p, buf)
  return buf, n
end

function M.totable(a)
  check(a, 'totable')
  local buf = flat_values(a)
  local nd, sizes = a.p.ndim, a.shape
  local is_bool = a.p.scalar_type == 5
  local pos = 0
  local function build(d)
    if d > nd then
      local v = buf[pos]; pos = pos + 1
      if is_bool then return v ~= 0 end
      return v
    end
    local t = {}
    for i = 1, sizes[d] do t[i] = build(d + 1) end
    return t
  end
  return build(1)
end
M.tolist = M.totable

-- info
function M.size(a, d)
  local p = check(a, 'size')
  if d == nil then return a.shape end
  local n = p.ndim
  check_dim(d, 'size')
  local i = d < 0 and d + n + 1 or d
  if i < 1 or i > n then
    error(string.format("ag.size: dimension out of range (expected to be in range of [%d, %d] but got %d)", -n, n, d), 2)
  end
  return tonumber(p.sizes[i - 1])
end
function M.stride(a, d)
  local p = check(a, 'stride')
  local n = p.ndim
  if d == nil then
    local t = {}
    for i = 1, n do t[i] = tonumber(p.strides[i - 1]) end
    return t
  end
  check_dim(d, 'stride')
  local i = d < 0 and d + n + 1 or d
  if i < 1 or i > n then
    error(string.format("ag.stride: dimension out of range (expected to be in range of [%d, %d] but got %d)", -n, n, d), 2)
  end
  return tonumber(p.strides[i - 1])
end
function M.dim(a) return check(a, 'dim').ndim end
M.ndimension = M.dim
function M.numel(a) return tonumber(C.agt_numel(check(a, 'numel'))) end
M.nelement = M.numel
function M.is_contiguous(a) return C.agt_is_contiguous(check(a, 'is_contiguous')) ~= 0 end
function M.storage_offset(a) return tonumber(check(a, 'storage_offset').offset) end
function M.is_floating_point(a) return check(a, 'is_floating_point').scalar_type <= 1 end
function M.element_size(a) return C.agt_dtype_size(check(a, 'element_size').scalar_type) end
function M.equal(a, b)
  check(a, 'equal'); check(b, 'equal', 2)
  local sa, sb = a.shape, b.shape
  if #sa ~= #sb then return false end
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  return M.item(M.all(M.eq(a, b)))
end
function M.allclose(a, b, rtol, atol)
  rtol, atol = rtol or 1e-5, atol or 1e-8
  local diff = M.abs(M.sub(a, b))
  local tol = M.add(M.mul(M.abs(b), rtol), atol)
  return M.item(M.all(M.le(diff, tol)))
end

-- fields read through t.<name>
local getters = {
  shape = function(a)
    local t = {}
    local p = a.p
    for i = 1, p.ndim do t[i] = tonumber(p.sizes[i - 1]) end
    return t
  end,
  dtype = function(a) return dtype_names[a.p.scalar_type] end,
  ndim = function(a) return a.p.ndim end,
  is_leaf = function(a) return C.aga_is_leaf(a.p) ~= 0 end,
  requires_grad = function(a) return C.aga_requires_grad(a.p) ~= 0 end,
  version = function(a) return tonumber(a.p.storage.version) end,
  _version = function(a) return tonumber(a.p.storage.version) end,
  retains_grad = function(a) return C.aga_retains_grad(a.p) ~= 0 end,
  data = function(a) return wrap(C.aga_detach(a.p)) end,
  T = function(a) return M.permute(a, (function() local p = {} for i = a.p.ndim, 1, -1 do p[#p + 1] = i end return p end)()) end,
  mT = function(a) return M.transpose(a, -2, -1) end,
  device = function() return 'cpu' end,
}
T.getters = getters
local setters = {}
T.setters = setters

-- the metatable
local mt = {}
T.mt = mt

mt.__index = function(a, k)
  local m = M[k]
  if m ~= nil then return m end
  if type(k) == 'number' then return M.select(a, 1, k) end
  local g = getters[k]
  if g then return g(a) end
  if type(k) == 'table' then return T.index(a, k) end
  return nil
end

-- t[...] = v: a plain write through the view, unless it must be recorded (grad mode on, and
-- v requires grad or t is a non-leaf that does): then t itself takes the new history
-- (CopySlices, lib/autograd/slice_assign.c), as in PyTorch, so gradients reach both.
function T.assign(a, view, v)
  local p = a.p
  if (is_tensor(v) and C.aga_requires_grad(v.p) ~= 0 or
      C.aga_requires_grad(p) ~= 0 and C.aga_is_leaf(p) == 0) and C.aga_is_grad_enabled() ~= 0 and
     (p.scalar_type == 0 or p.scalar_type == 1) and C.agt_is_contiguous(p) ~= 0 then
    if type(v) == 'number' or is_tensor(v) then
      local src = is_tensor(v) and v or scalar_tensor(v, a)
      ok(C.aga_slice_assign_(p, view.p, check(src, 'index_assign', 2)))
      return
    end
  end
  if is_tensor(v) then M.copy_(view, v) else M.fill_(view, v) end
end

mt.__newindex = function(a, k, v)
  if type(k) == 'number' then return T.assign(a, M.select(a, 1, k), v) end
  if type(k) == 'table' then return T.index_assign(a, k, v) end
  local s = setters[k]
  if s then return s(a, v) end
  error(string.format("ag: cannot set field '%s' of a Tensor", tostring(k)), 2)
end

mt.__add = function(a, b) return binary(OP.add, 'add', a, b) end
mt.__sub = function(a, b) return binary(OP.sub, 'sub', a, b) end
mt.__mul = function(a, b) return binary(OP.mul, 'mul', a, b) end
mt.__div = function(a, b) return binary(OP.div, 'div', a, b) end
mt.__pow = function(a, b) return binary(OP.pow, 'pow', a, b) end
mt.__mod = function(a, b) return binary(OP.remainder, 'remainder', a, b) end
mt.__unm = function(a) return wrap(C.aga_unary(UOP.neg, a.p)) end
mt.__len = function(a)
  local p = a.p
  if p.ndim == 0 then error("ag: len() of a 0-d tensor", 2) end
  return tonumber(p.sizes[0])
end
mt.__eq = nil   -- identity, as cdata; use t:eq(u) for elementwise

-- The elements repr asks for, read on demand by flat (row-major, 1-based) position, so
-- printing a summarized tensor reads only what it shows; int64 stays exact (boxed).
local elem_ptr = {[0] = ffi.typeof('float *'), ffi.typeof('double *'), ffi.typeof('int64_t *'),
                  ffi.typeof('int32_t *'), ffi.typeof('uint8_t *'), ffi.typeof('uint8_t *')}
local function element_reader(a)
  local p = a.p
  local nd, base = p.ndim, ffi.cast(elem_ptr[p.scalar_type], C.agt_data_ptr(p))
  local sizes, strides = {}, {}
  for d = 1, nd do sizes[d], strides[d] = tonumber(p.sizes[d - 1]), tonumber(p.strides[d - 1]) end
  local boxed = p.scalar_type == 2
  return setmetatable({}, {__index = function(_, i)
    local lin, off = i - 1, 0
    for d = nd, 1, -1 do
      off = off + (lin % sizes[d]) * strides[d]
      lin = math.floor(lin / sizes[d])
    end
    local v = base[off]
    if boxed or a == nil then return v end
    return tonumber(v)
  end})
end

function T.format(a, extra)
  local data = element_reader(a)
  local suffixes = {}
  local gf = C.aga_grad_fn(a.p)
  if gf ~= nil then
    suffixes[1] = 'grad_fn=<' .. ffi.string(C.aga_node_name(gf)) .. '>'
    C.aga_node_release(gf)
  elseif C.aga_requires_grad(a.p) ~= 0 then
    suffixes[1] = 'requires_grad=True'
  end
  return repr.format({shape = getters.shape(a), dtype = dtype_names[a.p.scalar_type], data = data,
                      suffixes = suffixes})
end
mt.__tostring = function(a) return T.format(a) end
mt.__concat = function(a, b)
  return (is_tensor(a) and T.format(a) or tostring(a)) .. (is_tensor(b) and T.format(b) or tostring(b))
end

T.methods = M
T.binary = binary
T.OP, T.UOP = OP, UOP
return T
