-- nn/functional.lua: ag.nn.functional (also ag.F): softmax and log_softmax, the losses,
-- linear and bilinear, dropout, batch/layer/group norm, cosine_similarity.
--
-- softmax, log_softmax, cross_entropy (class indices) and nll_loss are fused C kernels
-- with their own nodes (lib/tensor/nn_*.c, lib/autograd/nn_grad.c); the rest are composed
-- of differentiable tensor ops in numerically stable forms, so their gradients (and
-- gradients of gradients) come from those ops.
--
-- Arguments follow PyTorch's positional order, and keyword arguments come as a trailing
-- options table: F.cross_entropy(x, t, {reduction = 'sum', label_smoothing = 0.1}).
-- Dims are 1-based (-1 is the last) and class labels are 1-based int64.
local ffi = require 'ffi'
local core = require 'ag.core'
local tensor = require 'ag.tensor'
local grad_mode = require 'ag.grad_mode'

local C, wrap, check, retry = core.C, core.wrap, core.check, core.retry
local is_tensor, is_options, typename = core.is_tensor, core.is_options, core.typename
local M = tensor.methods
local type, select, error, fmt = type, select, error, string.format

local F = {}

-- ---------------------------------------------------------------- argument parsing

-- Positional arguments fill `names` in order; a trailing options table (string keys, or
-- an empty table) sets any of them by name. Returns the table of values by name.
local function parse(op, names, n, ...)
  local o = {}
  local last = n > 0 and select(n, ...) or nil
  if type(last) == 'table' and not is_tensor(last) and (is_options(last) or next(last) == nil) then
    n = n - 1
    for k, v in pairs(last) do
      local known = false
      for _, name in ipairs(names) do if name == k then known = true break end end
      if not known then
        error(fmt("ag.%s: unknown option '%s' (expected one of: %s)", op, tostring(k),
                  table.concat(names, ', ')), 3)
      end
      o[k] = v
    end
  end
  if n > #names then
    error(fmt("ag.%s: too many arguments (%d); expected at most %d after the tensors (%s)", op, n, #names,
              table.concat(names, ', ')), 3)
  end
  for i = 1, n do
    local v = select(i, ...)
    if v ~= nil then
      if o[names[i]] ~= nil then
        error(fmt("ag.%s: '%s' given both by position and in the options table", op, names[i]), 3)
      end
      o[names[i]] = v
    end
  end
  return o
end

local REDUCTION = {none = 0, mean = 1, sum = 2}

-- PyTorch's reduction, including the deprecated size_average / reduce flags.
local function reduction_of(op, o, extra)
  local r = o.reduction
  if o.size_average ~= nil or o.reduce ~= nil then
    local sa, rd = o.size_average, o.reduce
    if sa == nil then sa = true end
    if rd == nil then rd = true end
    r = not rd and 'none' or (sa and 'mean' or 'sum')
  end
  r = r or 'mean'
  if REDUCTION[r] == nil and r ~= extra then
    error(fmt("ag.%s: reduction must be 'mean', 'sum' or 'none'%s, got %s", op,
              extra and (" or '" .. extra .. "'") or '', type(r) == 'string' and ("'" .. r .. "'") or typename(r)), 3)
  end
  return r
end

local function check_number(op, what, v, lo, hi)
  if type(v) ~= 'number' or v ~= v or (lo and v < lo) or (hi and v > hi) then
    local range = lo and hi and fmt(' in [%g, %g]', lo, hi) or (lo and fmt(' >= %g', lo) or '')
    error(fmt("ag.%s: %s must be a number%s, got %s", op, what, range,
              type(v) == 'number' and tostring(v) or typename(v)), 3)
  end
  return v
end

local function opt_tensor(op, what, v)
  if v ~= nil and not is_tensor(v) then
    error(fmt("ag.%s: %s must be a Tensor or nil, got %s", op, what, typename(v)), 3)
  end
  return v
end

local function shape_str(t) return '[' .. table.concat(t.shape, ', ') .. ']' end

local function apply_reduction(loss, reduction)
  if reduction == 'mean' then return loss:mean() end
  if reduction == 'sum' then return loss:sum() end
  return loss
end

-- ---------------------------------------------------------------- softmax family

local function softmax_like(name, is_log)
  return function(x, dim, a, b)
    local p = check(x, name)
    local dtype
    if type(dim) == 'table' then dim, dtype = dim.dim, dim.dtype
    elseif type(a) == 'table' then dtype = a.dtype
    elseif type(a) == 'string' then dtype = a
    elseif type(b) == 'string' then dtype = b end   -- softmax(x, dim, _stacklevel, dtype)
    if dim == nil then
      error(fmt("ag.%s: give the dim to normalize over, e.g. ag.%s(x, -1) (dims are 1-based; -1 is the last)",
                name, name), 2)
    end
    core.check_dim(dim, name)
    if dtype ~= nil then x = M.to(x, dtype); p = x.p end
    local r = C.aga_softmax(p, dim, is_log)
    if r == nil then r = retry(C.aga_softmax, p, dim, is_log) end
    return wrap(r)
  end
end
F.softmax = softmax_like('softmax', 0)
F.log_softmax = softmax_like('log_softmax', 1)
M.softmax, M.log_softmax = F.softmax, F.log_softmax

function F.softmin(x, dim, a, b) return F.softmax(-x, dim, a, b) end

-- ---------------------------------------------------------------- classification losses

-- probabilities in, so the log_softmax's node stays the one that differentiates
local function cross_entropy_probs(x, target, weight, eps, reduction)
  local cdim = x.ndim == 1 and 1 or 2
  local nclass = x.shape[cdim]
  local logp = F.log_softmax(x, cdim)
  if eps > 0 then target = target * (1 - eps) + eps / nclass end
  local prod = logp * target
  if weight ~= nil then
    local shape = {}
    for d = 1, x.ndim do shape[d] = 1 end
    shape[cdim] = nclass
    prod = prod * weight:view(shape)
  end
  if reduction == 'none' then return -prod:sum(cdim) end
  if reduction == 'sum' then return -prod:sum() end
  return -prod:sum() / (x:numel() / math.max(nclass, 1))
end

local CE_NAMES = {'weight', 'size_average', 'ignore_index', 'reduce', 'reduction', 'label_smoothing'}
function F.cross_entropy(input, target, ...)
  local px, pt = check(input, 'cross_entropy', 1), check(target, 'cross_entropy', 2)
  local n = select('#', ...)
  local weight, ii, eps, reduction = nil, -100, 0, 'mean'
  if n > 0 then
    local o = parse('cross_entropy', CE_NAMES, n, ...)
    weight = opt_tensor('cross_entropy', 'weight', o.weight)
    if o.ignore_index ~= nil then ii = core.check_int(o.ignore_index, 'cross_entropy', 'ignore_index') end
    if o.label_smoothing ~= nil then eps = check_number('cross_entropy', 'label_smoothing', o.label_smoothing, 0, 1) end
    reduction = reduction_of('cross_entropy', o)
  end
  -- class probabilities: a floating point target of the input's shape
  if pt.scalar_type <= 1 and pt.ndim == px.ndim and px.ndim > 0 then
    local same = true
    for d = 0, px.ndim - 1 do if pt.sizes[d] ~= px.sizes[d] then same = false end end
    if same then
      if ii ~= -100 then
        error("ag.cross_entropy: ignore_index is only supported for class-index targets, not class probabilities", 2)
      end
      return cross_entropy_probs(input, target, weight, eps, reduction)
    end
  end
  local pw = weight and weight.p or nil
  local red = REDUCTION[reduction]
  local r = C.aga_cross_entropy(px, pt, pw, ii, eps, red)
  if r == nil then r = retry(C.aga_cross_entropy, px, pt, pw, ii, eps, red) end
  return wrap(r)
end

local NLL_NAMES = {'weight', 'size_average', 'ignore_index', 'reduce', 'reduction'}
function F.nll_loss(input, target, ...)
  local px, pt = check(input, 'nll_loss', 1), check(target, 'nll_loss', 2)
  local n = select('#', ...)
  local weight, ii, reduction = nil, -100, 'mean'
  if n > 0 then
    local o = parse('nll_loss', NLL_NAMES, n, ...)
    weight = opt_tensor('nll_loss', 'weight', o.weight)
    if o.ignore_index ~= nil then ii = core.check_int(o.ignore_index, 'nll_loss', 'ignore_index') end
    reduction = reduction_of('nll_loss', o)
  end
  return wrap(C.aga_nll_loss(px, pt, weight and weight.p or nil, ii, REDUCTION[reduction]))
end

-- ---------------------------------------------------------------- regression losses

local function loss_args(op, names, input, target, ...)
  check(input, op, 1)
  if type(target) == 'number' then target = tensor.scalar_tensor(target, input) end
  check(target, op, 2)
  if not M.is_floating_point(input) then
    error(fmt("ag.%s: expected a floating point input, got %s", op, input.dtype), 3)
  end
  local o = parse(op, names, select('#', ...), ...)
  return target, o
end

local MSE_NAMES = {'size_average', 'reduce', 'reduction'}
function F.mse_loss(input, target, ...)
  local o
  target, o = loss_args('mse_loss', MSE_NAMES, input, target, ...)
  local d = input - target
  return apply_reduction(d * d, reduction_of('mse_loss', o))
end

function F.l1_loss(input, target, ...)
  local o
  target, o = loss_args('l1_loss', MSE_NAMES, input, target, ...)
  return apply_reduction((input - target):abs(), reduction_of('l1_loss', o))
end

local SL1_NAMES = {'size_average', 'reduce', 'reduction', 'beta'}
function F.smooth_l1_loss(input, target, ...)
  local o
  target, o = loss_args('smooth_l1_loss', SL1_NAMES, input, target, ...)
  local beta = check_number('smooth_l1_loss', 'beta', o.beta == nil and 1.0 or o.beta, 0)
  local reduction = reduction_of('smooth_l1_loss', o)
  local z = (input - target):abs()
  if beta == 0 then return apply_reduction(z, reduction) end
  local loss = M.where(z:lt(beta), z * z * (0.5 / beta), z - 0.5 * beta)
  return apply_reduction(loss, reduction)
end

local HUBER_NAMES = {'reduction', 'delta'}
function F.huber_loss(input, target, ...)
  local o
  target, o = loss_args('huber_loss', HUBER_NAMES, input, target, ...)
  local delta = check_number('huber_loss', 'delta', o.delta == nil and 1.0 or o.delta, 0)
  if delta <= 0 then error(fmt("ag.huber_loss: delta must be positive, got %g", delta), 2) end
  local z = (input - target):abs()
  local loss = M.where(z:lt(delta), z * z * 0.5, (z - 0.5 * delta) * delta)
  return apply_reduction(loss, reduction_of('huber_loss', o))
end

-- ---------------------------------------------------------------- binary / KL losses

local BCE_NAMES = {'weight', 'size_average', 'reduce', 'reduction'}
function F.binary_cross_entropy(input, target, ...)
  local o
  target, o = loss_args('binary_cross_entropy', BCE_NAMES, input, target, ...)
  local weight = opt_tensor('binary_cross_entropy', 'weight', o.weight)
  local reduction = reduction_of('binary_cross_entropy', o)
  if input:numel() > 0 and (input:amin():item() < 0 or input:amax():item() > 1) then
    error("ag.binary_cross_entropy: all elements of input should be between 0 and 1 (they are " ..
          "probabilities; for logits use binary_cross_entropy_with_logits)", 2)
  end
  -- each log clamped at -100 (0 log 0 stays finite); the node's backward is PyTorch's,
  -- w (x - t) / max(x (1 - x), 1e-12), finite at 0 and 1 (lib/autograd/nn_grad.c)
  return wrap(C.aga_binary_cross_entropy(input.p, target.p, weight and weight.p or nil, REDUCTION[reduction]))
end

local BCEL_NAMES = {'weight', 'size_average', 'reduce', 'reduction', 'pos_weight'}
function F.binary_cross_entropy_with_logits(input, target, ...)
  local o
  target, o = loss_args('binary_cross_entropy_with_logits', BCEL_NAMES, input, target, ...)
  local weight = opt_tensor('binary_cross_entropy_with_logits', 'weight', o.weight)
  local pos_weight = opt_tensor('binary_cross_entropy_with_logits', 'pos_weight', o.pos_weight)
  local reduction = reduction_of('binary_cross_entropy_with_logits', o)
  -- softplus(-x) = m + log(exp(-m) + exp(-x - m)) with m = max(-x, 0): stable for any x,
  -- and its gradient is exactly -sigmoid(-x), also at x = 0
  local m = (-input):relu()
  local sp = m + ((-m):exp() + (-input - m):exp()):log()
  local loss
  if pos_weight ~= nil then
    loss = (1 - target) * input + ((pos_weight - 1) * target + 1) * sp
  else
    loss = (1 - target) * input + sp
  end
  if weight ~= nil then loss = loss * weight end
  return apply_reduction(loss, reduction)
end

local KL_NAMES = {'size_average', 'reduce', 'reduction', 'log_target'}
function F.kl_div(input, target, ...)
  local o
  target, o = loss_args('kl_div', KL_NAMES, input, target, ...)
  local reduction = reduction_of('kl_div', o, 'batchmean')
  local loss
  if o.log_target then
    loss = target:exp() * (target - input)
  else
    -- xlogy(t, t) - t x, with 0 log 0 = 0 and a finite gradient at t = 0
    local pos = target:gt(0)
    local safe = M.where(pos, target, 1)
    loss = target * safe:log() - target * input
  end
  if reduction == 'batchmean' then
    if input.ndim == 0 then return loss:sum() end
    return loss:sum() / input.shape[1]
  end
  return apply_reduction(loss, reduction)
end

-- ---------------------------------------------------------------- similarity

local COS_NAMES = {'dim', 'eps'}
function F.cosine_similarity(x1, x2, ...)
  check(x1, 'cosine_similarity', 1); check(x2, 'cosine_similarity', 2)
  local o = parse('cosine_similarity', COS_NAMES, select('#', ...), ...)
  local dim = o.dim or 2
  core.check_dim(dim, 'cosine_similarity')
  local eps = check_number('cosine_similarity', 'eps', o.eps or 1e-8, 0)
  -- PyTorch 1.13: sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps)); each norm is taken as
  -- sqrt(max(|x|^2, eps^2)), the same value, so a zero vector gets a zero gradient, not NaN
  local w12 = (x1 * x2):sum(dim)
  local n1 = (x1 * x1):sum(dim):clamp(eps * eps, math.huge):sqrt()
  local n2 = (x2 * x2):sum(dim):clamp(eps * eps, math.huge):sqrt()
  return w12 / (n1 * n2)
end

-- ---------------------------------------------------------------- linear layers

function F.linear(x, w, b)
  check(x, 'linear', 1); check(w, 'linear', 2)
  if b ~= nil and not is_tensor(b) then
    if type(b) == 'table' then b = b.bias else opt_tensor('linear', 'bias', b) end
  end
  if w.ndim ~= 2 and w.ndim ~= 1 then
    error(fmt("ag.linear: weight must be 2-D [out_features, in_features] (or 1-D), got shape %s", shape_str(w)), 2)
  end
  local inf = w.shape[w.ndim]
  if x.ndim == 0 or x.shape[x.ndim] ~= inf then
    error(fmt("ag.linear: input's last dimension must match the weight's in_features: input %s, weight %s",
              shape_str(x), shape_str(w)), 2)
  end
  if b ~= nil and w.ndim == 2 and x.ndim >= 2 and b.ndim == 1 and b.shape[1] == w.shape[1] and
     b.dtype == x.dtype and w.dtype == x.dtype then
    -- one fused addmm node, as PyTorch's: the bias is written first and the GEMM adds onto it
    local x2, wt = x.ndim == 2 and x or x:reshape(-1, inf), w:t()
    local r = C.aga_addmm(b.p, x2.p, wt.p, 1, 1)
    if r == nil then r = retry(C.aga_addmm, b.p, x2.p, wt.p, 1, 1) end
    local y = wrap(r)
    if x.ndim == 2 then return y end
    local lead = {}
    for i = 1, x.ndim - 1 do lead[i] = x.shape[i] end
    lead[x.ndim] = w.shape[1]
    return y:view(lead)
  end
  local y = x:matmul(w.ndim == 2 and w:t() or w)
  if b ~= nil then y = y + b end
  return y
end

function F.bilinear(x1, x2, w, b)
  check(x1, 'bilinear', 1); check(x2, 'bilinear', 2); check(w, 'bilinear', 3)
  opt_tensor('bilinear', 'bias', b)
  if w.ndim ~= 3 then
    error(fmt("ag.bilinear: weight must be 3-D [out, in1, in2], got shape %s", shape_str(w)), 2)
  end
  local out, in1, in2 = w.shape[1], w.shape[2], w.shape[3]
  if x1.ndim == 0 or x1.shape[x1.ndim] ~= in1 or x2.ndim == 0 or x2.shape[x2.ndim] ~= in2 then
    error(fmt("ag.bilinear: inputs' last dimensions must be in1 = %d and in2 = %d (weight %s), got %s and %s",
              in1, in2, shape_str(w), shape_str(x1), shape_str(x2)), 2)
  end
  local lead = {}
  for d = 1, x1.ndim - 1 do lead[d] = x1.shape[d] end
  local a = x1:reshape(-1, in1)
  local c = x2:reshape(-1, in2)
  if a.shape[1] ~= c.shape[1] then
    error(fmt("ag.bilinear: inputs must have the same leading dimensions, got %s and %s", shape_str(x1),
              shape_str(x2)), 2)
  end
  -- y[n, o] = sum_i x1[n, i] (sum_j W[o, i, j] x2[n, j])
  local t = a:matmul(w:permute(2, 1, 3):reshape(in1, out * in2)):view(-1, out, in2)
  local y = (t * c:unsqueeze(2)):sum(3)
  if b ~= nil then y = y + b end
  lead[#lead + 1] = out
  return y:reshape(lead)
end

-- ---------------------------------------------------------------- dropout

local function keep_mask(x, shape, keep)
  local m = wrap(C.agt_empty(#shape, ffi.new('int64_t[?]', math.max(#shape, 1), shape), x.p.scalar_type))
  core.ok(C.agt_bernoulli_(m.p, keep))
  return m
end

local function dropout_impl(op, x, p, training, mask_shape)
  check(x, op)
  if p == nil then p = 0.5 end
  check_number(op, 'p (the probability of an element to be zeroed)', p, 0, 1)
  if training == nil then training = true end
  if not training or p == 0 then return x end
  if not M.is_floating_point(x) then
    error(fmt("ag.%s: expected a floating point input, got %s", op, x.dtype), 3)
  end
  if p == 1 then return x * 0 end
  local mask = keep_mask(x, mask_shape or x.shape, 1 - p)
  grad_mode.no_grad(function() mask:div_(1 - p) end)
  return x * mask
end

local DROP_NAMES = {'p', 'training', 'inplace'}
function F.dropout(x, ...)
  local o = parse('dropout', DROP_NAMES, select('#', ...), ...)
  local y = dropout_impl('dropout', x, o.p, o.training)
  if o.inplace and y ~= x then return x:copy_(y) end
  return y
end

-- whole channels: the mask has shape [N, C, 1, ...]
local function channel_dropout(name, min_nd)
  F[name] = function(x, ...)
    local o = parse(name, DROP_NAMES, select('#', ...), ...)
    check(x, name)
    if x.ndim < min_nd then
      error(fmt("ag.%s: expected an input with at least %d dims [N, C, ...], got %s", name, min_nd, shape_str(x)), 2)
    end
    local shape = x.shape
    for d = 3, #shape do shape[d] = 1 end
    local y = dropout_impl(name, x, o.p, o.training, shape)
    if o.inplace and y ~= x then return x:copy_(y) end
    return y
  end
end
channel_dropout('dropout1d', 3)
channel_dropout('dropout2d', 3)
channel_dropout('dropout3d', 3)

-- SELU's companion: dropped units are set to SELU's negative saturation value, then an
-- affine map keeps mean and variance (PyTorch's constants). Off unless training = true.
function F.alpha_dropout(x, ...)
  local o = parse('alpha_dropout', DROP_NAMES, select('#', ...), ...)
  check(x, 'alpha_dropout')
  local p = o.p == nil and 0.5 or o.p
  check_number('alpha_dropout', 'p (the probability of an element to be dropped)', p, 0, 1)
  if not o.training or p == 0 or x:numel() == 0 then return x end
  if p == 1 then return x * 0 end
  local alpha = 1.7580993408473766
  local a = 1 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
  local mask = keep_mask(x, x.shape, 1 - p)
  local b = (mask - 1) * (alpha * a) + alpha * a * p
  grad_mode.no_grad(function() mask:mul_(a) end)
  local y = x * mask + b
  if o.inplace then return x:copy_(y) end
  return y
end

-- ---------------------------------------------------------------- normalization

-- shape [1, C, 1, ...] for a per-channel vector against an [N, C, ...] input
local function channel_view(v, ndim, c)
  local s = {}
  for d = 1, ndim do s[d] = 1 end
  s[2] = c
  return v:view(s)
end

local BN_NAMES = {'running_mean', 'running_var', 'weight', 'bias', 'training', 'momentum', 'eps'}
function F.batch_norm(x, ...)
  check(x, 'batch_norm')
  local o = parse('batch_norm', BN_NAMES, select('#', ...), ...)
  local rm = opt_tensor('batch_norm', 'running_mean', o.running_mean)
  local rv = opt_tensor('batch_norm', 'running_var', o.running_var)
  local w, b = opt_tensor('batch_norm', 'weight', o.weight), opt_tensor('batch_norm', 'bias', o.bias)
  local training = o.training or false
  local momentum = check_number('batch_norm', 'momentum', o.momentum == nil and 0.1 or o.momentum)
  local eps = check_number('batch_norm', 'eps', o.eps or 1e-5, 0)
  if x.ndim < 2 then
    error(fmt("ag.batch_norm: expected an input of shape [N, C] or [N, C, ...], got %s", shape_str(x)), 2)
  end
  local c = x.shape[2]
  for what, v in pairs({running_mean = rm, running_var = rv, weight = w, bias = b}) do
    if v ~= nil and (v.ndim ~= 1 or v.shape[1] ~= c) then
      error(fmt("ag.batch_norm: %s should have %d elements (one per channel, dim 2 of input %s), got shape %s",
                what, c, shape_str(x), shape_str(v)), 2)
    end
  end
  -- fused kernel (lib/tensor/nn_norm.c): statistics in double, running stats updated in place
  return wrap(C.aga_batch_norm(x.p, w and w.p or nil, b and b.p or nil, rm and rm.p or nil, rv and rv.p or nil,
                               training and 1 or 0, momentum, eps))
end

local LN_NAMES = {'normalized_shape', 'weight', 'bias', 'eps'}
function F.layer_norm(x, ...)
  check(x, 'layer_norm')
  local o = parse('layer_norm', LN_NAMES, select('#', ...), ...)
  local ns = o.normalized_shape
  if type(ns) == 'number' then ns = {ns} end
  if type(ns) ~= 'table' or #ns == 0 then
    error(fmt("ag.layer_norm: normalized_shape must be a number or a non-empty table of sizes, got %s",
              typename(o.normalized_shape)), 2)
  end
  local w, b = opt_tensor('layer_norm', 'weight', o.weight), opt_tensor('layer_norm', 'bias', o.bias)
  local eps = check_number('layer_norm', 'eps', o.eps or 1e-5, 0)
  local k, nd, s = #ns, x.ndim, x.shape
  local ok = nd >= k
  for i = 1, k do if not ok or s[nd - k + i] ~= ns[i] then ok = false end end
  if not ok then
    error(fmt("ag.layer_norm: given normalized_shape=[%s], expected input with shape [*, %s], but got input of size %s",
              table.concat(ns, ', '), table.concat(ns, ', '), shape_str(x)), 2)
  end
  for what, v in pairs({weight = w, bias = b}) do
    if v ~= nil and table.concat(v.shape, ',') ~= table.concat(ns, ',') then
      error(fmt("ag.layer_norm: %s should have shape [%s] (normalized_shape), got %s", what,
                table.concat(ns, ', '), shape_str(v)), 2)
    end
  end
  return wrap(C.aga_layer_norm(x.p, k, w and w.p or nil, b and b.p or nil, eps))
end

local GN_NAMES = {'num_groups', 'weight', 'bias', 'eps'}
function F.group_norm(x, ...)
  check(x, 'group_norm')
  local o = parse('group_norm', GN_NAMES, select('#', ...), ...)
  local g = o.num_groups
  core.check_int(g, 'group_norm', 'num_groups')
  local w, b = opt_tensor('group_norm', 'weight', o.weight), opt_tensor('group_norm', 'bias', o.bias)
  local eps = check_number('group_norm', 'eps', o.eps or 1e-5, 0)
  if x.ndim < 2 then
    error(fmt("ag.group_norm: expected an input of shape [N, C, ...], got %s", shape_str(x)), 2)
  end
  local n, c = x.shape[1], x.shape[2]
  if g < 1 or c % g ~= 0 then
    error(fmt("ag.group_norm: expected the number of channels (%d, dim 2 of input %s) to be divisible by num_groups, got num_groups=%d",
              c, shape_str(x), g), 2)
  end
  for what, v in pairs({weight = w, bias = b}) do
    if v ~= nil and (v.ndim ~= 1 or v.shape[1] ~= c) then
      error(fmt("ag.group_norm: %s should have %d elements (one per channel), got shape %s", what, c, shape_str(v)), 2)
    end
  end
  -- each group of each sample is a layer_norm row; the per-channel affine follows
  local y = wrap(C.aga_layer_norm(x:reshape(n, g, -1).p, 1, nil, nil, eps)):reshape(x.shape)
  if w ~= nil then y = y * channel_view(w, x.ndim, c) end
  if b ~= nil then y = y + channel_view(b, x.ndim, c) end
  return y
end

-- The less common activations, composed of differentiable ops (their gradients follow).
-- Positional arguments as PyTorch's; `inplace` is accepted and ignored (results are new).
local function num(op, what, v, default)
  if v == nil then return default end
  if type(v) ~= 'number' then error(fmt("ag.%s: %s must be a number, got %s", op, what, typename(v)), 3) end
  return v
end
function F.celu(x, alpha)
  check(x, 'celu')
  alpha = num('celu', 'alpha', alpha, 1)
  if alpha == 0 then error("ag.celu: alpha must not be 0", 2) end
  return M.relu(x) + M.clamp(M.expm1(x / alpha) * alpha, nil, 0)
end
function F.softsign(x) check(x, 'softsign') return x / (M.abs(x) + 1) end
function F.hardsigmoid(x) check(x, 'hardsigmoid') return M.clamp(x / 6 + 0.5, 0, 1) end
function F.hardswish(x) check(x, 'hardswish') return x * M.clamp(x / 6 + 0.5, 0, 1) end
function F.tanhshrink(x) check(x, 'tanhshrink') return x - M.tanh(x) end
function F.softshrink(x, lambd)
  check(x, 'softshrink')
  lambd = num('softshrink', 'lambd', lambd, 0.5)
  if lambd < 0 then error(fmt("ag.softshrink: lambd must be >= 0, got %g", lambd), 2) end
  return x - M.clamp(x, -lambd, lambd)
end
function F.hardshrink(x, lambd)
  check(x, 'hardshrink')
  lambd = num('hardshrink', 'lambd', lambd, 0.5)
  return M.where(M.gt(M.abs(x), lambd), x, x * 0)
end
function F.threshold(x, threshold, value)
  check(x, 'threshold')
  threshold = num('threshold', 'threshold', threshold)
  value = num('threshold', 'value', value)
  if threshold == nil or value == nil then error("ag.threshold: threshold and value are required", 2) end
  return M.where(M.gt(x, threshold), x, M.where(M.gt(x, threshold), x * 0, x * 0 + value))
end

-- scaled_dot_product_attention(q, k, v, {attn_mask=, dropout_p=, is_causal=, scale=}):
-- softmax(q k^T * scale + mask) v, as PyTorch 2's reference. A bool mask keeps the entries
-- that are true; a float mask is added to the scores.
local SDPA_NAMES = {'attn_mask', 'dropout_p', 'is_causal', 'scale'}
function F.scaled_dot_product_attention(q, k, v, ...)
  check(q, 'scaled_dot_product_attention', 1); check(k, 'scaled_dot_product_attention', 2)
  check(v, 'scaled_dot_product_attention', 3)
  local o = parse('scaled_dot_product_attention', SDPA_NAMES, select('#', ...), ...)
  if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[q.ndim] ~= k.shape[k.ndim] then
    error(fmt("ag.scaled_dot_product_attention: expected query [..., L, E] and key [..., S, E] with the same E, got %s and %s",
              shape_str(q), shape_str(k)), 2)
  end
  local L, S = q.shape[q.ndim - 1], k.shape[k.ndim - 1]
  local scale = o.scale or 1 / math.sqrt(q.shape[q.ndim])
  local scores = q:matmul(k:transpose(-2, -1)) * scale
  if o.is_causal then
    local keep = require('ag.creation').ones(L, S, {dtype = 'bool'}):tril()
    scores = scores:masked_fill(keep:logical_not(), -math.huge)
  end
  local m = o.attn_mask
  if m ~= nil then
    check(m, 'scaled_dot_product_attention', 4)
    if m.dtype == 'bool' then scores = scores:masked_fill(m:logical_not(), -math.huge)
    else scores = scores + m end
  end
  local attn = F.softmax(scores, -1)
  if o.dropout_p and o.dropout_p > 0 then attn = F.dropout(attn, o.dropout_p, true) end
  return attn:matmul(v)
end

return F
