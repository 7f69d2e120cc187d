-- collate.lua: default_collate turns a list of samples into a batch. Each sample is the
-- packed list of values a dataset's get(i) returned ({n = k, v1, ..., vk}); the batch is
-- k values: tensors are stacked along a new first dim (one memcpy per sample), numbers
-- become an int64 (all integers) or float64 tensor, booleans a bool tensor, strings a list,
-- and tables are collated key by key.
local ffi = require 'ffi'
local core = require 'ag.core'
local C = core.C

local M = {}

local function shape_str(p)
  local s = {}
  for d = 0, p.ndim - 1 do s[#s + 1] = tostring(tonumber(p.sizes[d])) end
  return '[' .. table.concat(s, ', ') .. ']'
end

-- stack(list): tensors of one shape and dtype -> a tensor with a new first dim
function M.stack(list)
  local n = #list
  if n == 0 then error("ag.data.stack: expected a non-empty list of tensors", 2) end
  local p0 = list[1].p
  local ndim = p0.ndim
  if ndim >= 16 then error("ag.data.stack: at most 15 dimensions per sample", 2) end
  local sizes = ffi.new('int64_t[?]', ndim + 1)
  sizes[0] = n
  for d = 0, ndim - 1 do sizes[d + 1] = p0.sizes[d] end
  for k = 2, n do
    local t = list[k]
    if not core.is_tensor(t) then
      error(string.format("ag.data.stack: sample %d is a %s, sample 1 a Tensor", k, core.typename(t)), 2)
    end
    local p = t.p
    local same = p.ndim == ndim and p.scalar_type == p0.scalar_type
    for d = 0, ndim - 1 do if same and p.sizes[d] ~= p0.sizes[d] then same = false end end
    if not same then
      error(string.format("ag.data.stack: sample %d has shape %s and dtype %s, sample 1 has shape %s and dtype %s",
                          k, shape_str(p), core.dtype_names[p.scalar_type], shape_str(p0),
                          core.dtype_names[p0.scalar_type]), 2)
    end
  end
  local out = core.wrap(C.agt_empty(ndim + 1, sizes, p0.scalar_type))
  local bytes = tonumber(C.agt_numel(p0)) * C.agt_dtype_size(p0.scalar_type)
  if bytes == 0 then return out end
  local dst = ffi.cast('uint8_t *', C.agt_data_ptr(out.p))
  for k = 1, n do
    local p = list[k].p
    local src = p
    local tmp
    if C.agt_is_contiguous(p) == 0 then tmp = core.wrap(C.agt_contiguous(p)); src = tmp.p end
    ffi.copy(dst + (k - 1) * bytes, C.agt_data_ptr(src), bytes)
  end
  return out
end

local collate_values

local function collate_table(values)
  local first = values[1]
  local out = {}
  for key in pairs(first) do
    local col = {}
    for k = 1, #values do
      local v = values[k]
      if type(v) ~= 'table' or v[key] == nil then
        error(string.format("ag.data.default_collate: sample %d lacks the key %s that sample 1 has", k, tostring(key)), 0)
      end
      col[k] = v[key]
    end
    out[key] = collate_values(col)
  end
  return out
end

function collate_values(values)
  local first = values[1]
  if core.is_tensor(first) then return M.stack(values) end
  local ag = require 'ag'
  local ty = type(first)
  for k = 2, #values do
    if type(values[k]) ~= ty then
      error(string.format("ag.data.default_collate: sample %d is a %s, sample 1 a %s", k, type(values[k]), ty), 0)
    end
  end
  if ty == 'number' then
    local ints = true
    for k = 1, #values do local v = values[k]; if v ~= math.floor(v) or v ~= v then ints = false break end end
    return ag.tensor(values, {dtype = ints and 'int64' or 'float64'})
  elseif ty == 'boolean' then
    return ag.tensor(values, {dtype = 'bool'})
  elseif ty == 'string' then
    return values
  elseif ty == 'table' then
    return collate_table(values)
  end
  error(string.format("ag.data.default_collate: cannot batch values of type %s", ty), 0)
end
M.collate_values = collate_values

-- default_collate(samples) -> the batch, as several values
function M.default_collate(samples)
  local n = #samples
  if n == 0 then error("ag.data.default_collate: empty list of samples", 2) end
  local width = samples[1].n or #samples[1]
  local out = {}
  for j = 1, width do
    local col = {}
    for k = 1, n do col[k] = samples[k][j] end
    out[j] = collate_values(col)
  end
  return unpack(out, 1, width)
end

return M
