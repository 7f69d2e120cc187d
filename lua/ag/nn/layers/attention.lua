-- nn/layers/attention.lua: MultiheadAttention and TransformerEncoderLayer, as PyTorch's
-- (same parameter names and layouts: in_proj_weight [3E, E], out_proj; post-norm by
-- default, norm_first for pre-norm). Sequence-first [L, N, E] unless batch_first.
--   local out, weights = mha(q, k, v, {key_padding_mask = pad, need_weights = true})
local core = require 'ag.core'
local L = require 'ag.nn.layers.common'
local init = require 'ag.nn.init_weights'
local linear_layers = require 'ag.nn.layers.linear'
local dropout_layers = require 'ag.nn.layers.dropout'
local norm_layers = require 'ag.nn.layers.norm'
local Module = L.Module

local M = {}

local function lin(x, w, b)
  local f = L.maybe('linear')
  if f then return f(x, w, b) end
  local y = x:matmul(w:t())
  if b then y = y + b end
  return y
end

local MHA = Module:extend('MultiheadAttention')
M.MultiheadAttention = MHA

function MHA:init(...)
  local a = L.args('MultiheadAttention', {'embed_dim', 'num_heads', 'dropout', 'bias', 'add_bias_kv',
                                          'add_zero_attn', 'kdim', 'vdim', 'batch_first', 'dtype', 'device'},
                   {dropout = 0, bias = true, add_bias_kv = false, add_zero_attn = false, batch_first = false}, ...)
  local E = L.positive_int('MultiheadAttention', 'embed_dim', a.embed_dim)
  local H = L.positive_int('MultiheadAttention', 'num_heads', a.num_heads)
  if E % H ~= 0 then
    error(string.format("ag.nn.MultiheadAttention: embed_dim (%d) must be divisible by num_heads (%d)", E, H), 3)
  end
  if a.add_bias_kv or a.add_zero_attn then
    error("ag.nn.MultiheadAttention: add_bias_kv and add_zero_attn are not supported yet", 3)
  end
  self.embed_dim, self.num_heads, self.head_dim = E, H, E / H
  self.kdim, self.vdim = a.kdim or E, a.vdim or E
  self._qkv_same_embed_dim = self.kdim == E and self.vdim == E
  self.dropout = L.probability('MultiheadAttention', a.dropout)
  self.batch_first = a.batch_first and true or false
  if self._qkv_same_embed_dim then
    self.in_proj_weight = L.param(a.dtype, 3 * E, E)
  else
    self.q_proj_weight = L.param(a.dtype, E, E)
    self.k_proj_weight = L.param(a.dtype, E, self.kdim)
    self.v_proj_weight = L.param(a.dtype, E, self.vdim)
  end
  if a.bias then self.in_proj_bias = L.param(a.dtype, 3 * E) end
  self.out_proj = linear_layers.Linear(E, E, {bias = a.bias, dtype = a.dtype})
  self:reset_parameters()
end

function MHA:reset_parameters()
  if self._qkv_same_embed_dim then init.xavier_uniform_(self.in_proj_weight)
  else
    init.xavier_uniform_(self.q_proj_weight)
    init.xavier_uniform_(self.k_proj_weight)
    init.xavier_uniform_(self.v_proj_weight)
  end
  if self.in_proj_bias then
    init.zeros_(self.in_proj_bias)
    init.zeros_(self.out_proj.bias)
  end
end

local function shape_of(t) return '[' .. table.concat(t.shape, ', ') .. ']' end

-- A mask as an additive float mask: bool true -> -inf (masked out), float added as is.
local function additive(mask, dtype, who)
  if mask.dtype == 'bool' then
    local ag = L.ag()
    return ag.where(mask, -math.huge, ag.zeros(mask.shape, {dtype = dtype}))
  end
  if not mask:is_floating_point() then
    error(string.format("ag.nn.MultiheadAttention: only bool and floating types of %s are supported, got %s",
                        who, mask.dtype), 4)
  end
  return mask:to(dtype)
end

-- forward(query, key, value, {key_padding_mask, need_weights = true, attn_mask,
-- average_attn_weights = true}); returns attn_output and the attention weights (or nil)
function MHA:forward(query, key, value, opts)
  opts = opts or {}
  L.check_input('MultiheadAttention', query)
  key, value = key or query, value or key or query
  local ag = L.ag()
  local E, H, hd = self.embed_dim, self.num_heads, self.head_dim
  local batched = query.ndim == 3
  if query.ndim ~= 2 and query.ndim ~= 3 then
    error("ag.nn.MultiheadAttention: query should be unbatched 2D or batched 3D, got " .. shape_of(query), 2)
  end
  if key.ndim ~= query.ndim or value.ndim ~= query.ndim then
    error(string.format("ag.nn.MultiheadAttention: query %s, key %s and value %s must have the same rank",
                        shape_of(query), shape_of(key), shape_of(value)), 2)
  end
  local q_in, k_in, v_in = query, key, value
  local kpm = opts.key_padding_mask
  if not batched then
    q_in, k_in, v_in = q_in:unsqueeze(2), k_in:unsqueeze(2), v_in:unsqueeze(2)
    if kpm then kpm = kpm:unsqueeze(1) end
  elseif self.batch_first then
    q_in, k_in, v_in = q_in:transpose(1, 2), k_in:transpose(1, 2), v_in:transpose(1, 2)
  end
  local tgt_len, bsz = q_in.shape[1], q_in.shape[2]
  local src_len = k_in.shape[1]
  if q_in.shape[3] ~= E then
    error(string.format("ag.nn.MultiheadAttention: was expecting embedding dimension of %d, but got %d", E,
                        q_in.shape[3]), 2)
  end
  if k_in.shape[3] ~= self.kdim or v_in.shape[3] ~= self.vdim or v_in.shape[1] ~= src_len
     or k_in.shape[2] ~= bsz or v_in.shape[2] ~= bsz then
    error(string.format("ag.nn.MultiheadAttention: key %s and value %s do not match (kdim=%d, vdim=%d, " ..
                        "batch %d)", shape_of(key), shape_of(value), self.kdim, self.vdim, bsz), 2)
  end
  local wq, wk, wv
  if self._qkv_same_embed_dim then
    local w = self.in_proj_weight
    wq, wk, wv = w:narrow(1, 1, E), w:narrow(1, E + 1, E), w:narrow(1, 2 * E + 1, E)
  else
    wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
  end
  local bq, bk, bv
  if self.in_proj_bias then
    local b = self.in_proj_bias
    bq, bk, bv = b:narrow(1, 1, E), b:narrow(1, E + 1, E), b:narrow(1, 2 * E + 1, E)
  end
  local q = lin(q_in, wq, bq)
  local k = lin(k_in, wk, bk)
  local v = lin(v_in, wv, bv)
  -- [L, N, E] -> [N*H, L, hd]
  q = q:contiguous():view(tgt_len, bsz * H, hd):transpose(1, 2)
  k = k:contiguous():view(src_len, bsz * H, hd):transpose(1, 2)
  v = v:contiguous():view(src_len, bsz * H, hd):transpose(1, 2)

  local mask
  if opts.attn_mask ~= nil then
    local am = opts.attn_mask
    if not core.is_tensor(am) then error("ag.nn.MultiheadAttention: attn_mask must be a Tensor", 2) end
    if am.ndim == 2 then
      if am.shape[1] ~= tgt_len or am.shape[2] ~= src_len then
        error(string.format("ag.nn.MultiheadAttention: the shape of the 2D attn_mask is %s, but should be [%d, %d]",
                            shape_of(am), tgt_len, src_len), 2)
      end
      am = am:unsqueeze(1)
    elseif am.ndim == 3 then
      if am.shape[1] ~= bsz * H or am.shape[2] ~= tgt_len or am.shape[3] ~= src_len then
        error(string.format("ag.nn.MultiheadAttention: the shape of the 3D attn_mask is %s, but should be [%d, %d, %d]",
                            shape_of(am), bsz * H, tgt_len, src_len), 2)
      end
    else
      error("ag.nn.MultiheadAttention: attn_mask's dimension " .. am.ndim .. " is not supported", 2)
    end
    mask = additive(am, q.dtype, 'attn_mask')
  end
  if kpm ~= nil then
    if not core.is_tensor(kpm) or kpm.ndim ~= 2 or kpm.shape[1] ~= bsz or kpm.shape[2] ~= src_len then
      error(string.format("ag.nn.MultiheadAttention: expecting key_padding_mask shape of [%d, %d], but got %s",
                          bsz, src_len, core.is_tensor(kpm) and shape_of(kpm) or core.typename(kpm)), 2)
    end
    local m = additive(kpm, q.dtype, 'key_padding_mask'):view(bsz, 1, 1, src_len)
      :expand(bsz, H, 1, src_len):reshape(bsz * H, 1, src_len)
    mask = mask and (mask + m) or m
  end

  local scores = (q / math.sqrt(hd)):bmm(k:transpose(2, 3))       -- [N*H, L, S]
  if mask then scores = scores + mask end
  local attn = L.fn('softmax', 'MultiheadAttention')(scores, -1)
  if self.dropout > 0 and self.training then
    attn = L.fn('dropout', 'MultiheadAttention')(attn, self.dropout, true)
  end
  local out = attn:bmm(v)                                          -- [N*H, L, hd]
  out = out:transpose(1, 2):contiguous():view(tgt_len * bsz, E)
  out = self.out_proj(out):view(tgt_len, bsz, E)
  if not batched then out = out:squeeze(2)
  elseif self.batch_first then out = out:transpose(1, 2) end

  local need = opts.need_weights
  if need == nil then need = true end
  if not need then return out, nil end
  local weights = attn:view(bsz, H, tgt_len, src_len)
  local avg = opts.average_attn_weights
  if avg == nil then avg = true end
  if avg then weights = weights:mean(2) end
  if not batched then weights = weights:squeeze(1) end
  return out, weights
end

function MHA:extra_repr()
  return ''
end

-- TransformerEncoderLayer(d_model, nhead, {dim_feedforward = 2048, dropout = 0.1,
-- activation = 'relu' | 'gelu' | function, layer_norm_eps, batch_first, norm_first})
local TEL = Module:extend('TransformerEncoderLayer')
M.TransformerEncoderLayer = TEL

function TEL:init(...)
  local a = L.args('TransformerEncoderLayer', {'d_model', 'nhead', 'dim_feedforward', 'dropout', 'activation',
                                                'layer_norm_eps', 'batch_first', 'norm_first', 'dtype', 'device'},
                   {dim_feedforward = 2048, dropout = 0.1, activation = 'relu', layer_norm_eps = 1e-5,
                    batch_first = false, norm_first = false}, ...)
  local d = L.positive_int('TransformerEncoderLayer', 'd_model', a.d_model)
  self.self_attn = M.MultiheadAttention(d, a.nhead, {dropout = a.dropout, batch_first = a.batch_first,
                                                     dtype = a.dtype})
  self.linear1 = linear_layers.Linear(d, a.dim_feedforward, {dtype = a.dtype})
  self.dropout = dropout_layers.Dropout(a.dropout)
  self.linear2 = linear_layers.Linear(a.dim_feedforward, d, {dtype = a.dtype})
  self.norm_first = a.norm_first and true or false
  self.norm1 = norm_layers.LayerNorm(d, {eps = a.layer_norm_eps, dtype = a.dtype})
  self.norm2 = norm_layers.LayerNorm(d, {eps = a.layer_norm_eps, dtype = a.dtype})
  self.dropout1 = dropout_layers.Dropout(a.dropout)
  self.dropout2 = dropout_layers.Dropout(a.dropout)
  local act = a.activation
  if act == 'relu' then self.activation = function(x) return x:relu() end
  elseif act == 'gelu' then self.activation = function(x) return L.fn('gelu', 'TransformerEncoderLayer')(x) end
  elseif type(act) == 'function' or Module.is_module(act) then self.activation = act
  else
    error("ag.nn.TransformerEncoderLayer: activation should be 'relu', 'gelu' or a function, not " ..
          tostring(act), 3)
  end
end

function TEL:_sa_block(x, mask, kpm)
  local y = self.self_attn(x, x, x, {attn_mask = mask, key_padding_mask = kpm, need_weights = false})
  return self.dropout1(y)
end

function TEL:_ff_block(x)
  return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
end

-- forward(src, {src_mask = ..., src_key_padding_mask = ...})
function TEL:forward(src, opts)
  opts = opts or {}
  L.check_input('TransformerEncoderLayer', src)
  local mask, kpm = opts.src_mask or opts.mask, opts.src_key_padding_mask
  local x = src
  if self.norm_first then
    x = x + self:_sa_block(self.norm1(x), mask, kpm)
    x = x + self:_ff_block(self.norm2(x))
  else
    x = self.norm1(x + self:_sa_block(x, mask, kpm))
    x = self.norm2(x + self:_ff_block(x))
  end
  return x
end

return M
