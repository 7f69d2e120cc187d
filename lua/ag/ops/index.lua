-- ops/index.lua: the shape and indexing op family: index_select, gather, scatter(_add),
-- index_add, masked_fill/select/scatter, cat, stack, split, chunk, unbind, flip, roll,
-- tril/triu, diag, diagonal, repeat (t['repeat'](t, ...) or t:repeat_tensor(...)) as tensor
-- methods, and cat, stack, one_hot, pad and embedding as ag.<name>.
--
-- Each op is one C call (lib/tensor/index_ops.c, shape_ops.c; gradients in
-- lib/autograd/index_grad.c). Dims, positions and index values are 1-based and negative
-- dims count from the end; index tensors are int64 (or int32), and a Lua table of numbers
-- is taken as one. Ops with several results (split, chunk, unbind) return several values.
local ffi = require 'ffi'
local core = require 'ag.core'
local tensor = require 'ag.tensor'
local grad_mode = require 'ag.grad_mode'

local C, wrap, check, ok, retry = core.C, core.wrap, core.check, core.ok, core.retry
local check_dim, check_int, is_tensor, typename = core.check_dim, core.check_int, core.is_tensor, core.typename
local M = tensor.methods
local type, select, error, fmt, unpack = type, select, error, string.format, unpack

local E = {}            -- functions that are ag.<name> but not tensor methods

-- ---------------------------------------------------------------- argument helpers
local new_tensor        -- ag.tensor, loaded on first use (creation requires nothing of ours)
local function index_arg(x, op, pos, what)
  if is_tensor(x) then return x end
  if type(x) == 'table' or type(x) == 'number' then
    new_tensor = new_tensor or require('ag.creation').tensor
    return new_tensor(x, {dtype = 'int64'})
  end
  error(fmt("ag.%s: expected %s (argument %d) to be an int64 Tensor or a table of indices, got %s", op,
            what or 'index', pos, typename(x)), 3)
end

local function is_float_tensor(t) return t.p.scalar_type <= 1 end

-- a number, boolean or 0-dim tensor as a Lua number
local function scalar_arg(v, op, what)
  if type(v) == 'number' then return v end
  if type(v) == 'boolean' then return v and 1 or 0 end
  if is_tensor(v) and v.p.ndim == 0 then
    local x = M.item(v)
    if type(x) == 'boolean' then return x and 1 or 0 end
    return x
  end
  error(fmt("ag.%s: %s must be a number, got %s", op, what, typename(v)), 3)
end

-- int64_t[n] from a Lua sequence of integers
local function int64_array(list, n, op, what)
  local a = ffi.new('int64_t[?]', math.max(n, 1))
  for i = 1, n do a[i - 1] = check_int(list[i], op, what, 1) end
  return a
end

-- a reusable ag_tensor *[n] for list arguments
local ptr_buf, ptr_cap = nil, 0
local function ptr_array(n)
  if n > ptr_cap then
    ptr_cap = math.max(n, 2 * ptr_cap, 16)
    ptr_buf = ffi.new('ag_tensor *[?]', ptr_cap)
  end
  return ptr_buf
end

-- Wrap outs[0..n-1] and return them as n values.
local function wrap_all(outs, n)
  local list = {}
  for i = 1, n do list[i] = wrap(outs[i - 1]) end
  return unpack(list, 1, n)
end

-- ---------------------------------------------------------------- by index tensors
function M.index_select(a, dim, index)
  local p = check(a, 'index_select')
  check_dim(dim, 'index_select')
  local i = index_arg(index, 'index_select', 3)
  local r = C.aga_index_select(p, dim, i.p)
  if r == nil then r = retry(C.aga_index_select, p, dim, i.p) end
  return wrap(r)
end

function M.gather(a, dim, index)
  local p = check(a, 'gather')
  check_dim(dim, 'gather')
  local i = index_arg(index, 'gather', 3)
  local r = C.aga_gather(p, dim, i.p)
  if r == nil then r = retry(C.aga_gather, p, dim, i.p) end
  return wrap(r)
end

local REDUCE = {add = 1, sum = 1, multiply = 2, prod = 2}
local function reduce_arg(op, r)
  if type(r) == 'table' and not is_tensor(r) then r = r.reduce end
  if r == nil then return 0 end
  local v = REDUCE[r]
  if v == nil then
    error(fmt("ag.%s: reduce must be 'add' or 'multiply', got %s", op, type(r) == 'string' and ("'" .. r .. "'")
              or typename(r)), 3)
  end
  return v
end

-- scatter(dim, index, src) or scatter(dim, index, value), with an optional reduce
local function scatter_like(name, inplace, fixed_reduce)
  M[name] = function(a, dim, index, src, opts)
    local p = check(a, name)
    check_dim(dim, name)
    local i = index_arg(index, name, 3)
    local reduce = fixed_reduce or reduce_arg(name, opts)
    local ps, value = nil, 0
    if is_tensor(src) then ps = src.p
    elseif type(src) == 'number' or type(src) == 'boolean' then value = scalar_arg(src, name, 'value')
    else error(fmt("ag.%s: expected src (argument 4) to be a Tensor or a number, got %s", name, typename(src)), 2) end
    if inplace then
      ok(C.aga_scatter_(p, dim, i.p, ps, value, reduce))
      return a
    end
    local r = C.aga_scatter(p, dim, i.p, ps, value, reduce)
    if r == nil then r = retry(C.aga_scatter, p, dim, i.p, ps, value, reduce) end
    return wrap(r)
  end
end
scatter_like('scatter', false)
scatter_like('scatter_', true)
scatter_like('scatter_add', false, 1)
scatter_like('scatter_add_', true, 1)

local function alpha_arg(op, alpha)
  if type(alpha) == 'table' and not is_tensor(alpha) then alpha = alpha.alpha end
  if alpha == nil then return 1 end
  return scalar_arg(alpha, op, 'alpha')
end

function M.index_add(a, dim, index, source, alpha)
  local p = check(a, 'index_add')
  check_dim(dim, 'index_add')
  local i = index_arg(index, 'index_add', 3)
  local ps = check(source, 'index_add', 4)
  local al = alpha_arg('index_add', alpha)
  local r = C.aga_index_add(p, dim, i.p, ps, al)
  if r == nil then r = retry(C.aga_index_add, p, dim, i.p, ps, al) end
  return wrap(r)
end

function M.index_add_(a, dim, index, source, alpha)
  local p = check(a, 'index_add_')
  check_dim(dim, 'index_add_')
  local i = index_arg(index, 'index_add_', 3)
  ok(C.aga_index_add_(p, dim, i.p, check(source, 'index_add_', 4), alpha_arg('index_add_', alpha)))
  return a
end

-- ---------------------------------------------------------------- masks
local function value_tensor(op, v)
  if v.p.ndim ~= 0 then
    error(fmt("ag.%s: only supports a 0-dimension value tensor, but got a tensor with %d dimensions", op,
              v.p.ndim), 3)
  end
  return v
end

function M.masked_fill(a, mask, value)
  local p = check(a, 'masked_fill')
  local pm = check(mask, 'masked_fill', 2)
  if is_tensor(value) then                  -- differentiable in the value too
    value_tensor('masked_fill', value)
    if value.requires_grad then return M.where(mask, M.to(value, a.dtype), a) end
    value = M.item(value)
  end
  value = scalar_arg(value, 'masked_fill', 'value')
  local r = C.aga_masked_fill(p, pm, value)
  if r == nil then r = retry(C.aga_masked_fill, p, pm, value) end
  return wrap(r)
end

function M.masked_fill_(a, mask, value)
  local p = check(a, 'masked_fill_')
  local pm = check(mask, 'masked_fill_', 2)
  if is_tensor(value) then
    value_tensor('masked_fill_', value)
    if value.requires_grad then return M.copy_(a, M.where(mask, M.to(value, a.dtype), a)) end
    value = M.item(value)
  end
  ok(C.aga_masked_fill_(p, pm, scalar_arg(value, 'masked_fill_', 'value')))
  return a
end

function M.masked_select(a, mask)
  local p, pm = check(a, 'masked_select'), check(mask, 'masked_select', 2)
  local r = C.aga_masked_select(p, pm)
  if r == nil then r = retry(C.aga_masked_select, p, pm) end
  return wrap(r)
end

function M.masked_scatter(a, mask, source)
  local p, pm, ps = check(a, 'masked_scatter'), check(mask, 'masked_scatter', 2), check(source, 'masked_scatter', 3)
  local r = C.aga_masked_scatter(p, pm, ps)
  if r == nil then r = retry(C.aga_masked_scatter, p, pm, ps) end
  return wrap(r)
end

function M.masked_scatter_(a, mask, source)
  check(a, 'masked_scatter_')
  local r = M.masked_scatter(a, mask, source)
  local sa, sr = a.shape, r.shape
  if #sa ~= #sr or table.concat(sa, ',') ~= table.concat(sr, ',') then
    error(fmt("ag.masked_scatter_: a mask of shape [%s] does not broadcast to the tensor's shape [%s]",
              table.concat(mask.shape, ', '), table.concat(sa, ', ')), 2)
  end
  return M.copy_(a, r)
end

-- ---------------------------------------------------------------- joining
-- The tensors of cat/stack: a table of tensors, or (Torch7's form) tensors as arguments
-- with the dim after them. Returns n, ag_tensor *[n], dim.
local function tensor_list(op, first, ...)
  local list, dim
  if is_tensor(first) then
    list = {first}
    local n = select('#', ...)
    for k = 1, n do
      local v = select(k, ...)
      if is_tensor(v) then list[#list + 1] = v
      else dim = v; break end
    end
  elseif type(first) == 'table' then
    list, dim = first, ...
  else
    error(fmt("ag.%s: expected a table of tensors, got %s", op, typename(first)), 3)
  end
  local n = #list
  local ptrs = ptr_array(n)
  for k = 1, n do
    local t = list[k]
    if not is_tensor(t) then
      error(fmt("ag.%s: expected a Tensor at position %d of the list, got %s", op, k, typename(t)), 3)
    end
    ptrs[k - 1] = t.p
  end
  if type(dim) == 'table' then dim = dim.dim end
  dim = dim or 1
  check_dim(dim, op, 'dim', 1)
  return n, ptrs, dim, list
end

function E.cat(...)
  local n, ptrs, dim, list = tensor_list('cat', ...)
  local r = C.aga_cat(n, ptrs, dim)
  if r == nil then
    tensor_list('cat', list, dim)           -- a collection may have reused the buffer
    r = retry(C.aga_cat, n, ptr_buf, dim)
  end
  return wrap(r)
end
E.concat, E.concatenate = E.cat, E.cat

function E.stack(...)
  local n, ptrs, dim, list = tensor_list('stack', ...)
  local r = C.aga_stack(n, ptrs, dim)
  if r == nil then
    tensor_list('stack', list, dim)
    r = retry(C.aga_stack, n, ptr_buf, dim)
  end
  return wrap(r)
end

-- ---------------------------------------------------------------- splitting
local function dim_size(a, dim, op)
  local nd = a.p.ndim
  if nd == 0 then error(fmt("ag.%s: cannot split a 0-dim tensor", op), 3) end
  local d = dim < 0 and dim + nd + 1 or dim
  if dim == 0 then
    error(fmt("ag.%s: dimension 0 is invalid: ag counts dimensions from 1 (use 1..%d, or -1 for the last)", op, nd), 3)
  end
  if d < 1 or d > nd then
    error(fmt("ag.%s: dimension out of range (expected to be in range of [%d, %d] but got %d)", op, -nd, nd, dim), 3)
  end
  return tonumber(a.p.sizes[d - 1])
end

local function split_sizes(a, sizes, n, dim, uniform)
  local outs = ffi.new('ag_tensor *[?]', math.max(n, 1))
  ok(C.aga_split_with_sizes(a.p, dim, n, sizes, outs, uniform))
  return wrap_all(outs, n)
end

-- split(split_size) or split({sizes...}), along dim (default 1)
function M.split(a, size, dim)
  check(a, 'split')
  if type(dim) == 'table' then dim = dim.dim end
  dim = dim or 1
  check_dim(dim, 'split')
  local len = dim_size(a, dim, 'split')
  if type(size) == 'table' then
    local n = #size
    return split_sizes(a, int64_array(size, n, 'split', 'split size'), n, dim, 0)
  end
  check_int(size, 'split', 'split_size')
  if size < 0 then error(fmt("ag.split: split_size must be >= 0, got %d", size), 2) end
  if size == 0 and len > 0 then
    error(fmt("ag.split: split_size can only be 0 if the dimension size is 0, but got dimension size %d", len), 2)
  end
  local n = size == 0 and 1 or math.max(1, math.ceil(len / size))
  local sizes = ffi.new('int64_t[?]', n)
  for k = 0, n - 1 do sizes[k] = math.min(size, len - k * size) end
  return split_sizes(a, sizes, n, dim, 1)
end
M.split_with_sizes = function(a, sizes, dim)
  if type(sizes) ~= 'table' then error("ag.split_with_sizes: expected a table of sizes, got " .. typename(sizes), 2) end
  return M.split(a, sizes, dim)
end

function M.chunk(a, chunks, dim)
  check(a, 'chunk')
  if type(dim) == 'table' then dim = dim.dim end
  dim = dim or 1
  check_dim(dim, 'chunk')
  check_int(chunks, 'chunk', 'chunks')
  if chunks < 1 then error(fmt("ag.chunk: chunks must be at least 1, got %d", chunks), 2) end
  local len = dim_size(a, dim, 'chunk')
  if len == 0 then                          -- PyTorch gives `chunks` empty pieces
    local sizes = ffi.new('int64_t[?]', chunks)
    return split_sizes(a, sizes, chunks, dim, 1)
  end
  return M.split(a, math.ceil(len / chunks), dim)
end

function M.unbind(a, dim)
  check(a, 'unbind')
  dim = dim or 1
  check_dim(dim, 'unbind')
  local nd = a.p.ndim
  if nd == 0 then error("ag.unbind: cannot unbind a 0-dim tensor", 2) end
  local n = (dim >= 1 and dim <= nd or dim <= -1 and dim >= -nd) and tonumber(a.p.sizes[dim > 0 and dim - 1 or dim + nd]) or 0
  local outs = ffi.new('ag_tensor *[?]', math.max(n, 1))
  ok(C.aga_unbind(a.p, dim, outs))
  return wrap_all(outs, n)
end

-- ---------------------------------------------------------------- rearranging
-- dims as one table or as several numbers
local function dims_arg(op, first, ...)
  local list = first
  if type(first) == 'number' then list = {first, ...}
  elseif type(first) ~= 'table' then
    error(fmt("ag.%s: expected dims as a number or a table of numbers, got %s", op, typename(first)), 3)
  end
  local n = #list
  for k = 1, n do check_dim(list[k], op, 'dim', 1) end
  return n, int64_array(list, n, op, 'dim')
end

function M.flip(a, ...)
  local p = check(a, 'flip')
  local n, dims = dims_arg('flip', ...)
  return wrap(C.aga_flip(p, n, dims))
end
function M.fliplr(a) return M.flip(a, 2) end
function M.flipud(a) return M.flip(a, 1) end

function M.roll(a, shifts, dims)
  local p = check(a, 'roll')
  if type(dims) == 'table' and dims.dims ~= nil then dims = dims.dims end
  local ns, sh
  if type(shifts) == 'table' then ns, sh = #shifts, int64_array(shifts, #shifts, 'roll', 'shift')
  else ns, sh = 1, int64_array({shifts}, 1, 'roll', 'shift') end
  local nd, ds = 0, nil
  if dims ~= nil then nd, ds = dims_arg('roll', dims) end
  return wrap(C.aga_roll(p, ns, sh, nd, ds))
end

local function repeat_(a, ...)
  local p = check(a, 'repeat')
  local n, sizes = core.parse_sizes('repeat', ...)
  local r = C.aga_repeat(p, n, sizes)
  if r == nil then r = retry(C.aga_repeat, p, n, sizes) end
  return wrap(r)
end
M['repeat'] = repeat_
M.repeat_tensor = repeat_

-- ---------------------------------------------------------------- triangles and diagonals
local function tri(name, upper)
  M[name] = function(a, k)
    local p = check(a, name)
    if type(k) == 'table' then k = k.diagonal end
    k = k or 0
    check_int(k, name, 'diagonal')
    return wrap(C.aga_tril(p, k, upper))
  end
  M[name .. '_'] = function(a, k) return M.copy_(a, M[name](a, k)) end
end
tri('tril', 0)
tri('triu', 1)

function M.diag(a, k)
  local p = check(a, 'diag')
  if type(k) == 'table' then k = k.diagonal end
  k = k or 0
  check_int(k, 'diag', 'diagonal')
  return wrap(C.aga_diag(p, k))
end

function M.diagonal(a, offset, dim1, dim2)
  local p = check(a, 'diagonal')
  if type(offset) == 'table' then offset, dim1, dim2 = offset.offset, offset.dim1, offset.dim2 end
  offset, dim1, dim2 = offset or 0, dim1 or 1, dim2 or 2
  check_int(offset, 'diagonal', 'offset')
  check_dim(dim1, 'diagonal', 'dim1'); check_dim(dim2, 'diagonal', 'dim2')
  return wrap(C.aga_diagonal(p, offset, dim1, dim2))
end

-- ---------------------------------------------------------------- one_hot, pad, embedding
function E.one_hot(index, num_classes)
  local i = index_arg(index, 'one_hot', 1, 'the class tensor')
  if type(num_classes) == 'table' then num_classes = num_classes.num_classes end
  num_classes = num_classes or -1
  check_int(num_classes, 'one_hot', 'num_classes')
  return wrap(C.agt_one_hot(i.p, num_classes))
end

local PAD_MODE = {constant = 0, reflect = 1, replicate = 2, circular = 3}
-- pad(x, pads, mode, value) or pad(x, pads, {mode = ..., value = ...})
function E.pad(x, pads, mode, value)
  local p = check(x, 'pad')
  if type(mode) == 'table' then mode, value = mode.mode, mode.value end
  if type(pads) ~= 'table' then
    error(fmt("ag.pad: expected the padding as a table {left, right, top, bottom, ...}, got %s", typename(pads)), 2)
  end
  mode = mode or 'constant'
  local m = PAD_MODE[mode]
  if m == nil then
    error(fmt("ag.pad: unknown mode %s; expected 'constant', 'reflect', 'replicate' or 'circular'",
              type(mode) == 'string' and ("'" .. mode .. "'") or typename(mode)), 2)
  end
  if value ~= nil and m ~= 0 then
    error(fmt("ag.pad: a padding value is only used in 'constant' mode, not '%s'", mode), 2)
  end
  value = value == nil and 0 or scalar_arg(value, 'pad', 'value')
  local n = #pads
  local arr = int64_array(pads, n, 'pad', 'padding')
  local r = C.aga_pad(p, n, arr, m, value)
  if r == nil then r = retry(C.aga_pad, p, n, arr, m, value) end
  return wrap(r)
end

local EMB_OPTS = {'padding_idx', 'max_norm', 'norm_type', 'scale_grad_by_freq', 'sparse'}
-- Rows of weight whose norm passes max_norm, rescaled in place (as PyTorch's embedding_renorm_).
local function renorm(weight, flat, max_norm, norm_type)
  grad_mode.no_grad(function()
    local rows = M.index_select(weight, 1, flat)
    local norms
    if norm_type == 2 then norms = M.sqrt(M.sum(rows * rows, 2, true))
    else norms = M.pow(M.sum(M.pow(M.abs(rows), norm_type), 2, true), 1 / norm_type) end
    local scale = M.where(M.gt(norms, max_norm), M.mul(M.reciprocal(M.add(norms, 1e-7)), max_norm), 1)
    local n, d = rows.shape[1], rows.shape[2]
    local idx = M.expand(M.reshape(flat, n, 1), n, d)
    M.scatter_(weight, 1, idx, rows * scale)
  end)
end

-- embedding(weight, indices, {padding_idx =, max_norm =, norm_type =, scale_grad_by_freq =}).
-- PyTorch's F.embedding(input, weight, ...) order works too (told apart by the dtypes).
local function embedding_options(...)
  local o = {}
  local nargs = select('#', ...)
  local last = nargs > 0 and select(nargs, ...) or nil
  if type(last) == 'table' and not is_tensor(last) then
    for k, v in pairs(last) do
      local known = false
      for _, name in ipairs(EMB_OPTS) do if name == k then known = true end end
      if not known then
        error(fmt("ag.embedding: unknown option '%s' (expected one of: %s)", tostring(k), table.concat(EMB_OPTS, ', ')), 3)
      end
      o[k] = v
    end
    nargs = nargs - 1
  end
  for k = 1, nargs do
    local v = select(k, ...)
    if v ~= nil then o[EMB_OPTS[k]] = v end
  end
  return o
end

function E.embedding(weight, indices, opt, ...)
  if is_tensor(weight) and is_tensor(indices) and not is_float_tensor(weight) and is_float_tensor(indices) then
    weight, indices = indices, weight
  end
  local pw = check(weight, 'embedding', 1)
  local i = index_arg(indices, 'embedding', 2, 'indices')
  local pad, scale = 0, 0
  if opt ~= nil or select('#', ...) > 0 then
    local o = embedding_options(opt, ...)
    if o.sparse then error("ag.embedding: sparse gradients are not supported; use sparse = false", 2) end
    pad = o.padding_idx or 0
    check_int(pad, 'embedding', 'padding_idx')
    if o.max_norm ~= nil then
      local n = M.numel(i)
      renorm(weight, M.reshape(i, n), scalar_arg(o.max_norm, 'embedding', 'max_norm'), o.norm_type or 2)
    end
    scale = o.scale_grad_by_freq and 1 or 0
  end
  local r = C.aga_embedding(pw, i.p, pad, scale)
  if r == nil then r = retry(C.aga_embedding, pw, i.p, pad, scale) end
  return wrap(r)
end

return E
