-- nn/functional_conv.lua: the spatial part of ag.nn.functional: conv1d, conv2d,
-- conv_transpose1d/2d, max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool1d/2d and interpolate,
-- with PyTorch's arguments given positionally or as a trailing options table
-- (F.conv2d(x, w, b, {stride = 2, padding = 1})). The work is in C (lib/tensor/conv.c,
-- pool.c, interp.c; autograd in lib/autograd/conv_grad.c); this file turns arguments into
-- the C option structs and handles unbatched inputs. Max-pooling indices are 1-based.
local ffi = require 'ffi'
local core = require 'ag.core'
local C = core.C
local check, wrap, typename = core.check, core.wrap, core.typename

local F = {}

-- Positional arguments after the tensors, merged with a trailing options table.
-- names: the parameter names in PyTorch's order; returns a table name -> value.
local function parse(op, names, ...)
  local n = select('#', ...)
  local args = {...}
  local out = {}
  local last = args[n]
  if n > 0 and type(last) == 'table' and last[1] == nil and not core.is_tensor(last) then
    for k, v in pairs(args[n]) do
      local known = false
      for _, name in ipairs(names) do if name == k then known = true end end
      if not known then
        error(string.format("ag.%s: unknown option '%s' (expected one of %s)", op, tostring(k),
                            table.concat(names, ', ')), 3)
      end
      out[k] = v
    end
    n = n - 1
  end
  if n > #names then error(string.format("ag.%s: too many arguments (%d)", op, n), 3) end
  for i = 1, n do
    if args[i] ~= nil then
      if out[names[i]] ~= nil then
        error(string.format("ag.%s: %s given both positionally and as an option", op, names[i]), 3)
      end
      out[names[i]] = args[i]
    end
  end
  return out
end

-- An int or a table of nsp ints (PyTorch's _pair / _single); returns a Lua table {h, w} or {w}.
local function tuple(v, nsp, op, what, default)
  if v == nil then v = default end
  local t
  if type(v) == 'number' then
    t = {}
    for i = 1, nsp do t[i] = v end
  elseif type(v) == 'table' and #v == nsp then
    t = v
  elseif type(v) == 'table' and #v == 1 then
    t = {}
    for i = 1, nsp do t[i] = v[1] end
  else
    error(string.format("ag.%s: %s must be an integer or a table of %d integers, got %s", op, what, nsp,
                        type(v) == 'table' and ('a table of ' .. #v) or typename(v)), 4)
  end
  for i = 1, nsp do
    local x = t[i]
    if type(x) ~= 'number' or x ~= math.floor(x) or x ~= x or math.abs(x) >= 2 ^ 53 then
      error(string.format("ag.%s: %s must be an integer, got %s", op, what, tostring(x)), 4)
    end
  end
  return t
end

-- copy a tuple into a C int64_t[2] (1-d values go to index 1, as the C side expects)
local function put(arr, t, nsp)
  if nsp == 1 then arr[0] = 1; arr[1] = t[1] else arr[0] = t[1]; arr[1] = t[2] end
end

local function opt_tensor(v, op, pos)
  if v == nil then return nil end
  return check(v, op, pos)
end

---------------------------------------------------------------------------------------------
-- convolution
local conv_opts = ffi.new('ag_conv_opts')

-- the conv options struct for weight wp from the parsed arguments a
local function fill_conv(op, nsp, transposed, wp, a)
  local o = conv_opts
  o.nsp, o.transposed = nsp, transposed and 1 or 0
  local stride = tuple(a.stride, nsp, op, 'stride', 1)
  local dilation = tuple(a.dilation, nsp, op, 'dilation', 1)
  local padding = a.padding or 0
  if type(padding) == 'string' then
    if transposed then error(string.format("ag.%s: padding must be an integer or a table, got '%s'", op, padding), 3) end
    if padding == 'valid' then
      padding = 0
    elseif padding == 'same' then
      for i = 1, nsp do
        if stride[i] ~= 1 then error(string.format("ag.%s: padding='same' is not supported for strided convolutions", op), 3) end
      end
      local p = {}
      for i = 1, nsp do
        local k = wp.ndim == nsp + 2 and tonumber(wp.sizes[2 + i - 1]) or 1
        local total = dilation[i] * (k - 1)
        if total % 2 ~= 0 then
          error(string.format("ag.%s: padding='same' needs symmetric padding; kernel size %d with dilation %d "
                              .. "would need %d, which is odd: pad the input with ag.F.pad first", op, k, dilation[i],
                              total), 3)
        end
        p[i] = total / 2
      end
      padding = p
    else
      error(string.format("ag.%s: invalid padding string '%s'; expected 'valid' or 'same'", op, padding), 3)
    end
  end
  put(o.stride, stride, nsp)
  put(o.padding, tuple(padding, nsp, op, 'padding', 0), nsp)
  put(o.dilation, dilation, nsp)
  if nsp == 1 then o.padding[0] = 0 end
  put(o.output_padding, tuple(a.output_padding, nsp, op, 'output_padding', 0), nsp)
  if nsp == 1 then o.output_padding[0] = 0 end
  local groups = a.groups or 1
  core.check_int(groups, op, 'groups')
  o.groups = groups
  return o
end

local function convolution(op, nsp, transposed, x, w, b, a)
  local xp, wp = check(x, op, 1), check(w, op, 2)
  local bp = opt_tensor(b, op, 3)
  local o = fill_conv(op, nsp, transposed, wp, a)
  -- an unbatched input (C, spatial...) runs as a batch of one
  if xp.ndim == nsp + 1 and wp.ndim == nsp + 2 then
    local y = wrap(C.aga_convolution(x:unsqueeze(1).p, wp, bp, o))
    return y:squeeze(1)
  end
  return wrap(C.aga_convolution(xp, wp, bp, o))
end

local conv_names = {'bias', 'stride', 'padding', 'dilation', 'groups'}
local convt_names = {'bias', 'stride', 'padding', 'output_padding', 'groups', 'dilation'}

function F.conv1d(x, w, ...)
  local a = parse('conv1d', conv_names, ...)
  return convolution('conv1d', 1, false, x, w, a.bias, a)
end
function F.conv2d(x, w, ...)
  local a = parse('conv2d', conv_names, ...)
  return convolution('conv2d', 2, false, x, w, a.bias, a)
end
function F.conv_transpose1d(x, w, ...)
  local a = parse('conv_transpose1d', convt_names, ...)
  return convolution('conv_transpose1d', 1, true, x, w, a.bias, a)
end
function F.conv_transpose2d(x, w, ...)
  local a = parse('conv_transpose2d', convt_names, ...)
  return convolution('conv_transpose2d', 2, true, x, w, a.bias, a)
end

---------------------------------------------------------------------------------------------
-- pooling
local pool_opts = ffi.new('ag_pool_opts')
local idx_out = ffi.new('ag_tensor *[1]')

local function fill_pool(op, nsp, a, is_max)
  local o = pool_opts
  o.nsp = nsp
  if a.kernel_size == nil then error(string.format("ag.%s: kernel_size is required", op), 4) end
  local k = tuple(a.kernel_size, nsp, op, 'kernel_size')
  local s = a.stride
  if s == nil or (type(s) == 'table' and #s == 0) then s = k end
  put(o.kernel, k, nsp)
  put(o.stride, tuple(s, nsp, op, 'stride'), nsp)
  put(o.padding, tuple(a.padding, nsp, op, 'padding', 0), nsp)
  put(o.dilation, tuple(is_max and a.dilation or 1, nsp, op, 'dilation', 1), nsp)
  if nsp == 1 then o.padding[0] = 0 end
  o.ceil_mode = a.ceil_mode and 1 or 0
  o.count_include_pad = (a.count_include_pad == nil or a.count_include_pad) and 1 or 0
  local d = a.divisor_override or 0
  core.check_int(d, op, 'divisor_override', 1)
  if a.divisor_override ~= nil and d == 0 then error(string.format("ag.%s: divisor must be not zero", op), 4) end
  o.divisor_override = d
  return o
end

local maxpool_names = {'kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices'}

local function max_pool2d(op, x, a)
  local xp = check(x, op, 1)
  local o = fill_pool(op, 2, a, true)
  if a.return_indices then
    local y = wrap(C.aga_max_pool(xp, o, idx_out))
    return y, wrap(idx_out[0])
  end
  return wrap(C.aga_max_pool(xp, o, nil))
end

function F.max_pool2d(x, ...)
  return max_pool2d('max_pool2d', x, parse('max_pool2d', maxpool_names, ...))
end

-- max_pool2d(conv2d(x, w, b, conv_args), pool_args) for a batched x: one node when x needs
-- no gradient (lib/autograd/conv_pool_grad.c), else the two ops. nn.Sequential uses it for
-- a Conv2d followed by a MaxPool2d; pool_args must not ask for indices.
function F._conv2d_max_pool2d(x, w, b, conv_args, pool_args)
  local xp, wp = check(x, 'conv2d', 1), check(w, 'conv2d', 2)
  local bp = opt_tensor(b, 'conv2d', 3)
  local o = fill_conv('conv2d', 2, false, wp, conv_args)
  local po = fill_pool('max_pool2d', 2, pool_args, true)
  return wrap(C.aga_conv_max_pool2d(xp, wp, bp, o, po))
end

-- 1-d pooling runs as 2-d on (..., 1, L), as PyTorch does (its grad_fn is SqueezeBackward1)
local function as_2d(a)
  local b = {}
  for k, v in pairs(a) do b[k] = v end
  local function lift(v, default)
    if v == nil then return nil end
    if type(v) == 'table' then
      if #v ~= 1 then return v end    -- tuple() reports the error
      v = v[1]
    end
    return {default, v}
  end
  b.kernel_size = lift(a.kernel_size, 1)
  b.stride = lift(a.stride, 1)
  b.padding = lift(a.padding, 0)
  b.dilation = lift(a.dilation, 1)
  return b
end

local function shape_of(x) return '[' .. table.concat(x.shape, ', ') .. ']' end

local function check_1d(op, x)
  local xp = check(x, op, 1)
  if xp.ndim ~= 2 and xp.ndim ~= 3 then
    error(string.format("ag.%s: expected a 2-D (C, L) or 3-D (N, C, L) input, got input %s", op, shape_of(x)), 3)
  end
end

local function check_1d_tuple(op, a, name)
  local v = a[name]
  if type(v) == 'table' and #v ~= 1 and not (name == 'stride' and #v == 0) then
    error(string.format("ag.%s: %s must be an integer or a table of 1 integer, got a table of %d", op, name, #v), 3)
  end
end

function F.max_pool1d(x, ...)
  local a = parse('max_pool1d', maxpool_names, ...)
  check_1d('max_pool1d', x)
  for _, name in ipairs({'kernel_size', 'stride', 'padding', 'dilation'}) do check_1d_tuple('max_pool1d', a, name) end
  local y, i = max_pool2d('max_pool1d', x:unsqueeze(-2), as_2d(a))
  if i then return y:squeeze(-2), i:squeeze(-2) end
  return y:squeeze(-2)
end

local avgpool_names = {'kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override'}

function F.avg_pool2d(x, ...)
  local a = parse('avg_pool2d', avgpool_names, ...)
  local xp = check(x, 'avg_pool2d', 1)
  return wrap(C.aga_avg_pool(xp, fill_pool('avg_pool2d', 2, a, false)))
end

function F.avg_pool1d(x, ...)
  local a = parse('avg_pool1d', {'kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad'}, ...)
  check_1d('avg_pool1d', x)
  for _, name in ipairs({'kernel_size', 'stride', 'padding'}) do check_1d_tuple('avg_pool1d', a, name) end
  local xp = x:unsqueeze(-2)
  return wrap(C.aga_avg_pool(xp.p, fill_pool('avg_pool1d', 2, as_2d(a), false))):squeeze(-2)
end

local out_size = ffi.new('int64_t[2]')

local function adaptive(op, nsp, x, size)
  local xp = check(x, op, 1)
  if size == nil then error(string.format("ag.%s: output_size is required", op), 3) end
  if type(size) == 'number' or (type(size) == 'table' and (#size == nsp or next(size) == nil or nsp == 2)) then
    local t = {}
    for i = 1, nsp do
      local v = type(size) == 'table' and size[i] or (type(size) == 'number' and size or nil)
      if v == nil then   -- None keeps the input's size
        if xp.ndim < nsp then break end
        v = tonumber(xp.sizes[xp.ndim - nsp + i - 1])
      end
      if type(v) ~= 'number' or v ~= math.floor(v) or v < 0 then
        error(string.format("ag.%s: output_size must be non-negative integers, got %s", op, tostring(v)), 3)
      end
      t[i] = v
    end
    if nsp == 1 then out_size[0] = t[1] else out_size[0], out_size[1] = t[1], t[2] end
  else
    error(string.format("ag.%s: output_size must be an integer or a table of %d integers, got %s", op, nsp,
                        typename(size)), 3)
  end
  return wrap(C.aga_adaptive_avg_pool(xp, nsp, out_size))
end

function F.adaptive_avg_pool2d(x, output_size) return adaptive('adaptive_avg_pool2d', 2, x, output_size) end
function F.adaptive_avg_pool1d(x, output_size) return adaptive('adaptive_avg_pool1d', 1, x, output_size) end

---------------------------------------------------------------------------------------------
-- interpolation
local scales = ffi.new('double[2]')
local interp_names = {'size', 'scale_factor', 'mode', 'align_corners', 'recompute_scale_factor', 'antialias'}

function F.interpolate(x, ...)
  local op = 'interpolate'
  local a = parse(op, interp_names, ...)
  local xp = check(x, op, 1)
  local mode = a.mode or 'nearest'
  local m
  if mode == 'nearest' then m = 0
  elseif mode == 'bilinear' or mode == 'linear' then m = 1
  else
    error(string.format("ag.interpolate: mode '%s' is not supported; use 'nearest', 'linear' or 'bilinear'",
                        tostring(mode)), 2)
  end
  if a.antialias then error("ag.interpolate: antialias is not supported", 2) end
  local nsp = xp.ndim - 2
  if nsp < 1 or nsp > 2 then
    error(string.format("ag.interpolate: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got %d dims", xp.ndim), 2)
  end
  if mode == 'bilinear' and nsp ~= 2 then
    error(string.format("ag.interpolate: mode 'bilinear' expects a 4-D input (N, C, H, W), got %d dims", xp.ndim), 2)
  end
  if mode == 'linear' and nsp ~= 1 then
    error(string.format("ag.interpolate: mode 'linear' expects a 3-D input (N, C, L), got %d dims", xp.ndim), 2)
  end
  if m == 0 and a.align_corners ~= nil then
    error("ag.interpolate: align_corners option can only be set with the interpolating modes: linear | bilinear", 2)
  end
  if (a.size == nil) == (a.scale_factor == nil) then
    error("ag.interpolate: exactly one of size or scale_factor must be given", 2)
  end
  local out = {}
  local use_scales = false
  if a.size ~= nil then
    out = tuple(a.size, nsp, op, 'size')
    for i = 1, nsp do
      if out[i] < 1 then error(string.format("ag.interpolate: size must be positive, got %d", out[i]), 2) end
    end
  else
    local sf = a.scale_factor
    local t = {}
    for i = 1, nsp do
      local v = type(sf) == 'table' and (#sf == nsp and sf[i] or #sf == 1 and sf[1]) or sf
      if type(v) ~= 'number' or not (v > 0) then
        error(string.format("ag.interpolate: scale_factor must be a positive number or a table of %d, got %s", nsp,
                            tostring(v)), 2)
      end
      t[i] = v
      out[i] = math.floor(tonumber(xp.sizes[2 + i - 1]) * v)
      if out[i] < 1 then
        error(string.format("ag.interpolate: scale_factor %g gives an empty output for input size %d", v,
                            tonumber(xp.sizes[2 + i - 1])), 2)
      end
    end
    use_scales = not a.recompute_scale_factor
    if nsp == 1 then scales[0], scales[1] = 1, t[1] else scales[0], scales[1] = t[1], t[2] end
  end
  local align = a.align_corners and 1 or 0
  if nsp == 1 then
    out_size[0], out_size[1] = 1, out[1]
    local y = wrap(C.aga_upsample(x:unsqueeze(-2).p, m, out_size, align, use_scales and scales or nil))
    return y:squeeze(-2)
  end
  out_size[0], out_size[1] = out[1], out[2]
  return wrap(C.aga_upsample(xp, m, out_size, align, use_scales and scales or nil))
end

return F
