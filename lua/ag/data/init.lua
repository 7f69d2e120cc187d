-- ag.data: datasets and batching (Dataset, TensorDataset, Subset, random_split,
-- DataLoader, default_collate) and the IDX reader. Loaded as require 'ag.data'.
local dataset = require 'ag.data.dataset'
local collate = require 'ag.data.collate'
local sampler = require 'ag.data.sampler'

return {
  Dataset = dataset.Dataset,
  TensorDataset = dataset.TensorDataset,
  Subset = dataset.Subset,
  random_split = dataset.random_split,
  DataLoader = require 'ag.data.dataloader',
  Generator = sampler.Generator,
  default_collate = collate.default_collate,
  read_idx = require('ag.data.idx').read,
  idx = require 'ag.data.idx',
}
