-- ops/reduce.lua: the math op family's reductions and scans: logsumexp, norm (p-norms and
-- 'fro'), cumsum, cumprod, sort, argsort and topk (values and 1-based int64 indices), as
-- tensor methods and ag.<op>. Dims are 1-based, negative from the end, a number or a table.
-- (sum/mean/prod/amax/amin/all/any/var/std live in ag.tensor.)
local ffi = require 'ffi'
local core = require 'ag.core'
local tensor = require 'ag.tensor'

local C, check, wrap, retry, raise = core.C, core.check, core.wrap, core.retry, core.raise
local is_options, typename, check_dim = core.is_options, core.typename, core.check_dim
local M = tensor.methods
local E = {}

-- f(x, dim, keepdim) or f(x, {dim =, keepdim =}); returns n, dims, keepdim (0/1)
local function dims_keepdim(op, dim, keepdim)
  if type(dim) == 'boolean' then dim, keepdim = nil, dim end
  if type(dim) == 'table' and is_options(dim) then dim, keepdim = dim.dim, dim.keepdim end
  if type(keepdim) == 'table' then keepdim = keepdim.keepdim end
  local n, dims = core.parse_dims(op, dim)
  return n, dims, keepdim and 1 or 0
end

function E.logsumexp(x, dim, keepdim)
  local p = check(x, 'logsumexp')
  local n, dims, kd = dims_keepdim('logsumexp', dim, keepdim)
  local r = C.aga_logsumexp(p, n, dims, kd)
  if r == nil then r = retry(C.aga_logsumexp, p, n, dims, kd) end
  return wrap(r)
end

-- p as a number, math.huge / -math.huge, 'inf' / '-inf', or 'fro' (the 2-norm of all the
-- elements, or over the given dims)
local function norm_p(op, p)
  if p == nil or p == 'fro' then return 2 end
  if p == 'inf' then return math.huge end
  if p == '-inf' then return -math.huge end
  if type(p) == 'number' and p == p then return p end
  if p == 'nuc' then
    error(string.format("ag.%s: the nuclear norm ('nuc') is not supported; use p = 'fro', 1, 2, inf or a number", op), 3)
  end
  error(string.format("ag.%s: p must be a number, math.huge, -math.huge, 'inf' or 'fro', got %s", op,
                      type(p) == 'number' and tostring(p) or typename(p)), 3)
end

local function norm(op, linalg_name, x, p, dim, keepdim)
  local px = check(x, op)
  if type(p) == 'table' and is_options(p) then
    p, dim, keepdim = p.p or p.ord, p.dim, p.keepdim
  elseif type(dim) == 'table' and is_options(dim) then
    dim, keepdim = dim.dim, dim.keepdim
  end
  local pv = norm_p(op, p)
  local n, dims = core.parse_dims(op, dim)
  local kd = keepdim and 1 or 0
  local r = C.aga_norm(px, pv, n, dims, kd, linalg_name)
  if r == nil then r = retry(C.aga_norm, px, pv, n, dims, kd, linalg_name) end
  return wrap(r)
end
function E.norm(x, p, dim, keepdim) return norm('norm', 0, x, p, dim, keepdim) end
-- ag.linalg.vector_norm(x, ord = 2, dim = nil, keepdim = false), exported by ops/linalg.lua:
-- reachable as a field of this module but not copied into ag by init.lua's pairs()
local internal = {}
function internal.vector_norm(x, ord, dim, keepdim) return norm('linalg.vector_norm', 1, x, ord, dim, keepdim) end

local function scan(f, op)
  return function(x, dim, reverse)
    local p = check(x, op)
    if type(dim) == 'table' and is_options(dim) then dim = dim.dim end
    if dim == nil then
      error(string.format("ag.%s: missing the required argument 'dim' (the dimension to scan along, "
                          .. "1-based; -1 for the last)", op), 2)
    end
    check_dim(dim, op)
    local r = f(p, dim)
    if r == nil then r = retry(f, p, dim) end
    return wrap(r)
  end
end
E.cumsum = scan(function(p, dim) return C.aga_cumsum(p, dim, 0) end, 'cumsum')
E.cumprod = scan(C.aga_cumprod, 'cumprod')

local idx_out = ffi.new('ag_tensor *[1]')

-- sort(x, dim = -1, descending = false) or sort(x, {dim =, descending =, stable =});
-- always stable. Returns values, indices.
function E.sort(x, dim, descending)
  local p = check(x, 'sort')
  if type(dim) == 'boolean' then dim, descending = nil, dim end
  if type(dim) == 'table' and is_options(dim) then dim, descending = dim.dim, dim.descending end
  if type(descending) == 'table' then descending = descending.descending end
  dim = dim or -1
  check_dim(dim, 'sort')
  local v = C.aga_sort(p, dim, descending and 1 or 0, idx_out)
  if v == nil then raise() end
  local vals = wrap(v)
  return vals, wrap(idx_out[0])
end

function E.argsort(x, dim, descending)
  local _, idx = E.sort(x, dim, descending)
  return idx
end

-- topk(x, k, dim = -1, largest = true, sorted = true) or topk(x, k, {dim =, largest =, sorted =})
function E.topk(x, k, dim, largest, sorted)
  local p = check(x, 'topk')
  if type(dim) == 'table' and is_options(dim) then
    dim, largest = dim.dim, dim.largest
  end
  core.check_int(k, 'topk', 'k')
  dim = dim or -1
  check_dim(dim, 'topk')
  if largest == nil then largest = true end
  local v = C.aga_topk(p, k, dim, largest and 1 or 0, idx_out)
  if v == nil then raise() end
  local vals = wrap(v)
  return vals, wrap(idx_out[0])
end

for _, name in ipairs({'logsumexp', 'norm', 'cumsum', 'cumprod', 'sort', 'argsort', 'topk'}) do
  M[name] = E[name]
end
return setmetatable(E, {__index = internal})
