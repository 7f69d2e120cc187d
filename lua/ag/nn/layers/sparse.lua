-- nn/layers/sparse.lua: Embedding, a lookup table of num_embeddings vectors indexed by
-- 1-based int64 indices (ag.nn.functional.embedding). padding_idx (1-based) is a row
-- that starts at zero and gets no gradient.
local core = require 'ag.core'
local L = require 'ag.nn.layers.common'
local init = require 'ag.nn.init_weights'
local Module = L.Module

local M = {}

local Embedding = Module:extend('Embedding')
M.Embedding = Embedding

function Embedding:init(...)
  local a = L.args('Embedding', {'num_embeddings', 'embedding_dim', 'padding_idx', 'max_norm', 'norm_type',
                                 'scale_grad_by_freq', 'sparse', '_weight', 'dtype', 'device'},
                   {norm_type = 2, scale_grad_by_freq = false, sparse = false}, ...)
  self.num_embeddings = L.positive_int('Embedding', 'num_embeddings', a.num_embeddings)
  self.embedding_dim = L.positive_int('Embedding', 'embedding_dim', a.embedding_dim)
  local pi = a.padding_idx
  if pi ~= nil then
    if type(pi) ~= 'number' or pi ~= math.floor(pi) or pi == 0 or pi > self.num_embeddings
       or pi < -self.num_embeddings then
      error(string.format("ag.nn.Embedding: padding_idx must be within num_embeddings (1..%d, or negative " ..
                          "from the end), got %s", self.num_embeddings, tostring(pi)), 3)
    end
    if pi < 0 then pi = pi + self.num_embeddings + 1 end
  end
  self.padding_idx = pi
  self.max_norm, self.norm_type = a.max_norm, a.norm_type
  self.scale_grad_by_freq, self.sparse = a.scale_grad_by_freq, a.sparse
  if a._weight ~= nil then
    local s = core.is_tensor(a._weight) and a._weight.shape or {}
    if s[1] ~= self.num_embeddings or s[2] ~= self.embedding_dim or #s ~= 2 then
      error(string.format("ag.nn.Embedding: _weight must have shape [%d, %d]", self.num_embeddings,
                          self.embedding_dim), 3)
    end
    self.weight = L.Parameter(a._weight)
  else
    self.weight = L.param(a.dtype, self.num_embeddings, self.embedding_dim)
    self:reset_parameters()
  end
end

function Embedding:reset_parameters()
  init.normal_(self.weight)
  if self.padding_idx then
    local w = self.weight
    local row = self.padding_idx
    L.ag().no_grad(function() w:select(1, row):fill_(0) end)
  end
end

function Embedding:forward(input)
  L.check_input('Embedding', input)
  local f = L.fn('embedding', 'Embedding')
  if self.max_norm or self.scale_grad_by_freq then
    return f(input, self.weight, {padding_idx = self.padding_idx, max_norm = self.max_norm,
                                  norm_type = self.norm_type, scale_grad_by_freq = self.scale_grad_by_freq})
  end
  return f(input, self.weight, self.padding_idx)
end

function Embedding:extra_repr()
  local s = string.format('%d, %d', self.num_embeddings, self.embedding_dim)
  if self.padding_idx then s = s .. ', padding_idx=' .. self.padding_idx end
  return s
end

-- Embedding.from_pretrained(weights, {freeze = true, padding_idx = ...})
function Embedding.from_pretrained(embeddings, opts)
  opts = opts or {}
  if not core.is_tensor(embeddings) or embeddings.ndim ~= 2 then
    error("ag.nn.Embedding.from_pretrained: embeddings must be a 2-D tensor", 2)
  end
  local s = embeddings.shape
  local e = Embedding(s[1], s[2], {_weight = embeddings:detach():clone(), padding_idx = opts.padding_idx,
                                   max_norm = opts.max_norm})
  local freeze = opts.freeze
  if freeze == nil then freeze = true end
  e.weight:requires_grad_(not freeze)
  return e
end

return M
