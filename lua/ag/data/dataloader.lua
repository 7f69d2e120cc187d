-- dataloader.lua: DataLoader(dataset, {batch_size, shuffle, generator, drop_last,
-- collate_fn}) iterated as `for x, y in loader:iter() do ... end`. A dataset that has
-- get_batch (TensorDataset) is batched by gathering rows; any other goes through
-- get(i) and the collate function. Shuffling draws from the loader's own Generator
-- when a seed is given (reproducible), else from the global one (ag.manual_seed).
local sampler = require 'ag.data.sampler'
local collate = require 'ag.data.collate'

local function pack(...) return {n = select('#', ...), ...} end

local DataLoader = {}
DataLoader.__index = DataLoader

local function opt_type(opts, key, ty)
  local v = opts[key]
  if v ~= nil and type(v) ~= ty then
    error(string.format("DataLoader: option %s must be a %s, got %s", key, ty, type(v)), 4)
  end
  return v
end

local function new(_, dataset, opts)
  if type(dataset) ~= 'table' or type(dataset.get) ~= 'function' or type(dataset.len) ~= 'function' then
    error("DataLoader: argument 1 must be a dataset (with len() and get(i))", 2)
  end
  opts = opts or {}
  local known = {batch_size = true, shuffle = true, generator = true, seed = true, drop_last = true,
                 collate_fn = true}
  for k in pairs(opts) do
    if not known[k] then error(string.format("DataLoader: unknown option '%s'", tostring(k)), 2) end
  end
  local bs = opt_type(opts, 'batch_size', 'number') or 1
  if bs < 1 or bs ~= math.floor(bs) then
    error("DataLoader: batch_size must be a positive integer, got " .. tostring(bs), 2)
  end
  local self = setmetatable({
    dataset = dataset,
    batch_size = bs,
    shuffle = opt_type(opts, 'shuffle', 'boolean') or false,
    drop_last = opt_type(opts, 'drop_last', 'boolean') or false,
    collate_fn = opt_type(opts, 'collate_fn', 'function'),
  }, DataLoader)
  local g = opts.generator or opts.seed
  if g ~= nil then
    self.generator = getmetatable(g) == sampler.Generator and g or sampler.Generator(g)
  end
  return self
end
setmetatable(DataLoader, {__call = new})

-- the number of batches per epoch
function DataLoader:len()
  local n = self.dataset:len()
  if self.drop_last then return math.floor(n / self.batch_size) end
  return math.ceil(n / self.batch_size)
end
DataLoader.__len = DataLoader.len

-- the loader's generator state, for checkpoints ({seed, offset}; nil without a generator)
function DataLoader:state_dict()
  return self.generator and self.generator:get_state() or {}
end
function DataLoader:load_state_dict(st)
  if st.seed ~= nil then self.generator = sampler.Generator(st) end
end

-- iter(): an iterator over one epoch's batches
function DataLoader:iter()
  local ds, bs = self.dataset, self.batch_size
  local n = ds:len()
  local order = self.shuffle and sampler.permutation(n, self.generator) or nil
  local nb = self:len()
  local fast = self.collate_fn == nil and ds.get_batch ~= nil
  local collate_fn = self.collate_fn or collate.default_collate
  local b = 0
  return function()
    b = b + 1
    if b > nb then return nil end
    local first = (b - 1) * bs
    local count = math.min(bs, n - first)
    local idx = {}
    if order then for k = 1, count do idx[k] = order[first + k] end
    else for k = 1, count do idx[k] = first + k end end
    if fast then return ds:get_batch(idx) end
    local samples = {}
    for k = 1, count do samples[k] = pack(ds:get(idx[k])) end
    return collate_fn(samples)
  end
end

return DataLoader
