-- dataset.lua: the Dataset base class (len() and get(i), 1-based), TensorDataset over
-- tensors that share their first dimension, Subset and random_split. TensorDataset also
-- answers get_batch(indices): rows are gathered with one memcpy each (one in all for a
-- run of consecutive indices), never with Lua loops over elements.
local ffi = require 'ffi'
local core = require 'ag.core'
local C = core.C

local D = {}

local function check_index(i, n, who)
  if type(i) ~= 'number' or i ~= math.floor(i) then
    error(string.format("%s: index must be an integer, got %s", who, tostring(i)), 3)
  end
  if i < 1 or i > n then
    error(string.format("%s: index %d is out of range for a dataset of %d samples (1-based)", who, i, n), 3)
  end
end
D.check_index = check_index

-- A tiny class system: Dataset:extend('Name') makes a subclass, Class(...) an instance
-- (init(...) is called). Metamethods are copied down, since Lua does not inherit them.
local function new_class(name, parent)
  local cls = {}
  cls.__index = cls
  cls.__name = name
  cls.__len = function(self) return self:len() end           -- #ds where Lua 5.2 rules hold
  cls.__tostring = function(self)
    local ok, n = pcall(self.len, self)
    return string.format('%s(%s)', name, ok and (n .. ' samples') or '?')
  end
  return setmetatable(cls, {__index = parent, __call = function(c, ...)
    local obj = setmetatable({}, c)
    obj:init(...)
    return obj
  end})
end

local Dataset = new_class('Dataset')
D.Dataset = Dataset
function Dataset:init() end
function Dataset:len()
  error(string.format("%s: a Dataset must define len()", getmetatable(self).__name), 2)
end
function Dataset:get()
  error(string.format("%s: a Dataset must define get(i)", getmetatable(self).__name), 2)
end
function Dataset:extend(name)
  if type(name) ~= 'string' then error("Dataset:extend: expected a class name", 2) end
  return new_class(name, self)
end

-- TensorDataset(t1, t2, ...): sample i is (t1[i], t2[i], ...)
local TensorDataset = Dataset:extend('TensorDataset')
D.TensorDataset = TensorDataset

function TensorDataset:init(...)
  local n = select('#', ...)
  if n == 0 then error("TensorDataset: expected at least one tensor", 3) end
  self.tensors = {}
  for k = 1, n do
    local t = select(k, ...)
    if not core.is_tensor(t) then
      error(string.format("TensorDataset: argument %d must be a Tensor, got %s", k, core.typename(t)), 3)
    end
    if t.p.ndim < 1 then error(string.format("TensorDataset: tensor %d is 0-d; it needs a first dimension", k), 3) end
    local size = tonumber(t.p.sizes[0])
    if k > 1 and size ~= self.n then
      error(string.format("TensorDataset: size mismatch between tensors: tensor 1 has %d rows, tensor %d has %d",
                          self.n, k, size), 3)
    end
    self.n = size
    -- detached and contiguous, so rows can be copied as raw bytes
    self.tensors[k] = core.wrap(C.agt_contiguous(core.wrap(C.aga_detach(t.p)).p))
  end
end

function TensorDataset:len() return self.n end

function TensorDataset:get(i)
  check_index(i, self.n, 'TensorDataset:get')
  local ts = self.tensors
  if #ts == 1 then return ts[1]:select(1, i) end
  if #ts == 2 then return ts[1]:select(1, i), ts[2]:select(1, i) end
  local out = {}
  for k = 1, #ts do out[k] = ts[k]:select(1, i) end
  return unpack(out, 1, #ts)
end

-- Rows idx[1..#idx] (1-based) of a contiguous tensor src, as a fresh tensor.
local function gather_rows(src, idx, n)
  local p = src.p
  local ndim = p.ndim
  local sizes = ffi.new('int64_t[?]', ndim)
  for d = 0, ndim - 1 do sizes[d] = p.sizes[d] end
  local rows = tonumber(p.sizes[0])
  sizes[0] = n
  local out = core.wrap(C.agt_empty(ndim, sizes, p.scalar_type))
  local row_bytes = (rows > 0 and tonumber(C.agt_numel(p)) / rows or 0) * C.agt_dtype_size(p.scalar_type)
  if n == 0 or row_bytes == 0 then return out end
  local s = ffi.cast('uint8_t *', C.agt_data_ptr(p))
  local d = ffi.cast('uint8_t *', C.agt_data_ptr(out.p))
  local first = idx[1]
  local run = true
  for k = 2, n do if idx[k] ~= first + k - 1 then run = false break end end
  if run then
    ffi.copy(d, s + (first - 1) * row_bytes, n * row_bytes)
  else
    for k = 1, n do ffi.copy(d + (k - 1) * row_bytes, s + (idx[k] - 1) * row_bytes, row_bytes) end
  end
  return out
end
D.gather_rows = gather_rows

-- get_batch(indices): the batch of samples indices[1..] (1-based), one tensor per column.
function TensorDataset:get_batch(idx)
  local n = #idx
  for k = 1, n do check_index(idx[k], self.n, 'TensorDataset:get_batch') end
  local ts = self.tensors
  if #ts == 2 then return gather_rows(ts[1], idx, n), gather_rows(ts[2], idx, n) end
  local out = {}
  for k = 1, #ts do out[k] = gather_rows(ts[k], idx, n) end
  return unpack(out, 1, #ts)
end

-- Subset(dataset, indices): the samples of dataset at indices (a list or a 1-D tensor, 1-based)
local Subset = Dataset:extend('Subset')
D.Subset = Subset

function Subset:init(dataset, indices)
  if type(dataset) ~= 'table' or type(dataset.get) ~= 'function' then
    error("Subset: expected a dataset as argument 1", 3)
  end
  if core.is_tensor(indices) then indices = indices:to('int64'):totable() end
  if type(indices) ~= 'table' then error("Subset: indices must be a list or a 1-D tensor", 3) end
  local n = dataset:len()
  for k = 1, #indices do check_index(indices[k], n, 'Subset') end
  self.dataset, self.indices = dataset, indices
end
function Subset:len() return #self.indices end
function Subset:get(i)
  check_index(i, #self.indices, 'Subset:get')
  return self.dataset:get(self.indices[i])
end
function Subset:get_batch(idx)
  local mapped = {}
  for k = 1, #idx do
    check_index(idx[k], #self.indices, 'Subset:get_batch')
    mapped[k] = self.indices[idx[k]]
  end
  return self.dataset:get_batch(mapped)
end
-- get_batch only where the wrapped dataset has it
Subset.__index = function(self, k)
  if k == 'get_batch' and not self.dataset.get_batch then return nil end
  return Subset[k]
end

-- random_split(dataset, lengths, {seed=}): lengths are counts or fractions summing to 1
function D.random_split(dataset, lengths, opts)
  local n = dataset:len()
  local counts, total = {}, 0
  local fractions = true
  for _, l in ipairs(lengths) do if l > 1 or l ~= l then fractions = false end end
  if fractions then
    for k, f in ipairs(lengths) do counts[k] = math.floor(n * f); total = total + counts[k] end
    for k = 1, n - total do local j = (k - 1) % #counts + 1; counts[j] = counts[j] + 1 end
    total = n
  else
    for k, l in ipairs(lengths) do counts[k] = l; total = total + l end
  end
  if total ~= n then
    error(string.format("random_split: the lengths sum to %d but the dataset has %d samples", total, n), 2)
  end
  local sampler = require 'ag.data.sampler'
  local perm = sampler.permutation(n, opts and opts.seed and sampler.Generator(opts.seed))
  local out, at = {}, 0
  for k, c in ipairs(counts) do
    local idx = {}
    for j = 1, c do idx[j] = perm[at + j] end
    at = at + c
    out[k] = Subset(dataset, idx)
  end
  return out
end

return D
