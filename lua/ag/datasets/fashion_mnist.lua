-- fashion_mnist.lua: ag.datasets.fashion_mnist{split='train'|'test', root=...} loads
-- Fashion-MNIST from the IDX files of Debian's dataset-fashion-mnist (plain or .gz) as a
-- TensorDataset: images float32 N x 1 x 28 x 28 in [0, 1], labels int64 1..10.
local idx = require 'ag.data.idx'
local TensorDataset = require('ag.data.dataset').TensorDataset

local DEFAULT_ROOT = '/usr/share/datasets/fashion-mnist'
local CLASSES = {'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                 'Sneaker', 'Bag', 'Ankle boot'}
local PREFIX = {train = 'train', test = 't10k'}

local function readable(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

local function find(root, name)
  for _, cand in ipairs({root .. '/' .. name, root .. '/' .. name .. '.gz'}) do
    if readable(cand) then return cand end
  end
  error(string.format("ag.datasets.fashion_mnist: %s(.gz) not found in %s. Install the dataset with " ..
                      "`sudo apt-get install dataset-fashion-mnist`, or pass root= the folder holding the IDX files",
                      name, root), 0)
end

local function shape_str(t) return '[' .. table.concat(t.shape, ', ') .. ']' end

-- opts: split ('train' default, or 'test'), root, limit (keep the first `limit` samples)
return function(opts)
  require 'ag'   -- the Tensor methods used below (when only ag.datasets was required)
  opts = opts or {}
  local split = opts.split or 'train'
  if not PREFIX[split] then
    error(string.format("ag.datasets.fashion_mnist: split must be 'train' or 'test', got %s", tostring(split)), 2)
  end
  local root = opts.root or DEFAULT_ROOT
  local ok, x, y = pcall(function()
    local ipath = find(root, PREFIX[split] .. '-images-idx3-ubyte')
    local lpath = find(root, PREFIX[split] .. '-labels-idx1-ubyte')
    local images, labels = idx.read(ipath), idx.read(lpath)
    if images.dtype ~= 'uint8' or images.ndim ~= 3 or images.shape[2] ~= 28 or images.shape[3] ~= 28 then
      error(string.format("ag.datasets.fashion_mnist: %s holds %s %s, expected uint8 N x 28 x 28",
                          ipath, images.dtype, shape_str(images)), 0)
    end
    if labels.dtype ~= 'uint8' or labels.ndim ~= 1 or labels.shape[1] ~= images.shape[1] then
      error(string.format("ag.datasets.fashion_mnist: %s holds %s %s, expected uint8 [%d] to match the images",
                          lpath, labels.dtype, shape_str(labels), images.shape[1]), 0)
    end
    if labels:numel() > 0 and labels:amax():item() > 9 then
      error(string.format("ag.datasets.fashion_mnist: %s has a label above 9; the file is corrupt", lpath), 0)
    end
    local n = images.shape[1]
    if opts.limit and opts.limit < n then
      n = opts.limit
      images, labels = images:narrow(1, 1, n), labels:narrow(1, 1, n)
    end
    local x = images:to('float32'):div_(255):view(n, 1, 28, 28)
    local y = labels:to('int64'):add_(1)
    return x, y
  end)
  if not ok then error(x, 2) end
  local ds = TensorDataset(x, y)
  ds.images, ds.labels = ds.tensors[1], ds.tensors[2]
  ds.classes, ds.split, ds.root = CLASSES, split, root
  return ds
end
