-- ag.repr: formats a tensor exactly as PyTorch 1.13's repr(tensor) does
-- (torch/_tensor_str.py with the default print options), except that dtypes
-- print as `dtype=ag.float64` rather than `dtype=torch.float64`.
-- Pure Lua, no FFI: the caller passes the shape, dtype, flat row-major data
-- and any extra suffixes (`grad_fn=<...>`, `requires_grad=True`).
--
--   repr.format{shape = {2, 2}, dtype = 'float32', data = {1, 2, 3, 4}}
--     --> "tensor([[1., 2.],\n        [3., 4.]])"

local M = {}

local PRECISION = 4     -- digits after the point
local THRESHOLD = 1000  -- summarize when numel exceeds this
local EDGEITEMS = 3     -- items kept at each end of a summarized dimension
local LINEWIDTH = 80
local PREFIX = 'tensor('

local FLOATING = { float32 = true, float64 = true }
local KNOWN = { float32 = true, float64 = true, int64 = true, int32 = true, uint8 = true, bool = true }
-- dtypes PyTorch leaves out of a non-empty tensor's repr
local IMPLICIT = { float32 = true, int64 = true, bool = true }

local fmt, rep, floor, ceil, abs, max = string.format, string.rep, math.floor, math.ceil, math.abs, math.max
local huge = math.huge

local function isfinite(v) return v == v and v ~= huge and v ~= -huge end

local function nonfinite_str(v)
  if v ~= v then return 'nan' end
  return v > 0 and 'inf' or '-inf'
end

-- Is v exactly halfway between the two nearest '%.<prec><conv>' results?
local function is_tie(v, conv, prec)
  if conv == 'f' then
    -- a tie has exactly prec+1 decimals, the last a 5: v = odd / 2^(prec+1)
    return (abs(v) * 2 ^ (prec + 1)) % 2 == 1
  end
  -- '%.99e' is exact for every double that can be a 5-digit tie
  local digits = fmt('%.99e', v):match('^-?%d%.(%d+)e')
  return digits:sub(prec + 1, prec + 1) == '5' and digits:find('^0*$', prec + 2) ~= nil
end

-- Python's '{:.<prec><conv>}': LuaJIT's string.format rounds exact ties away
-- from zero, Python rounds them to the even digit.
local function pyfmt(v, conv, prec)
  local s = fmt('%.' .. prec .. conv, v)
  if not is_tie(v, conv, prec) then return s end
  local exact = fmt('%.' .. (prec + 1) .. conv, v)  -- ends in the tie digit 5
  local head, tail
  if conv == 'f' then head, tail = exact:sub(1, -2), '' else head, tail = exact:match('^(.*)5(e.*)$') end
  head = head:gsub('%.$', '')
  if tonumber(head:sub(-1)) % 2 == 0 then return head .. tail end
  return s
end

local function int_str(v)
  if type(v) == 'cdata' then return (tostring(v):gsub('U?LL$', '')) end  -- boxed int64
  if v == 0 then return '0' end
  return fmt('%.0f', v)
end

local function bool_str(v)
  return (v == true or (v ~= false and v ~= 0)) and 'True' or 'False'
end

-- A float value as _Formatter.format prints it, before padding.
local function float_str(f, v)
  if not isfinite(v) then return nonfinite_str(v) end
  if f.sci_mode then return pyfmt(v, 'e', PRECISION) end
  if f.int_mode then return fmt('%.0f', v) .. '.' end
  return pyfmt(v, 'f', PRECISION)
end

-- torch._tensor_str._Formatter: picks the mode and the common width from the
-- values that will be printed.
local function make_formatter(dtype, values)
  local f = { width = 1 }
  if not FLOATING[dtype] then
    f.str = dtype == 'bool' and bool_str or int_str
    for _, v in ipairs(values) do f.width = max(f.width, #f.str(v)) end
    return f
  end
  f.str = function(v) return float_str(f, v) end
  f.int_mode, f.sci_mode = true, false
  local lo, hi, nonzero = huge, 0, {}
  for _, v in ipairs(values) do
    if isfinite(v) and v ~= 0 then
      nonzero[#nonzero + 1] = v
      lo, hi = math.min(lo, abs(v)), max(hi, abs(v))
      if v ~= ceil(v) then f.int_mode = false end
    end
  end
  if #nonzero == 0 then return f end
  f.sci_mode = hi / lo > 1000 or hi > 1e8 or (not f.int_mode and lo < 1e-4)
  for _, v in ipairs(nonzero) do f.width = max(f.width, #float_str(f, v)) end
  return f
end

local function pad(f, v)
  local s = f.str(v)
  return rep(' ', f.width - #s) .. s
end

-- 0-based indices shown along a dimension of this size; false marks '...'.
local function shown(size, summarize)
  local idx = {}
  if summarize and size > 2 * EDGEITEMS then
    for i = 0, EDGEITEMS - 1 do idx[#idx + 1] = i end
    idx[#idx + 1] = false
    for i = size - EDGEITEMS, size - 1 do idx[#idx + 1] = i end
  else
    for i = 0, size - 1 do idx[#idx + 1] = i end
  end
  return idx
end

-- Walks the shown part of a tensor; t = {shape, strides, data, summarize}.
local function collect(t, d, off, out)
  if d > #t.shape then
    out[#out + 1] = t.data[off + 1]
    return out
  end
  for _, i in ipairs(shown(t.shape[d], t.summarize)) do
    if i then collect(t, d + 1, off + i * t.strides[d], out) end
  end
  return out
end

local function vector_str(t, off, indent, f)
  local per_line = max(1, floor((LINEWIDTH - indent) / (f.width + 2)))
  local items = {}
  for _, i in ipairs(shown(t.shape[#t.shape], t.summarize)) do
    items[#items + 1] = i and pad(f, t.data[off + i + 1]) or ' ...'
  end
  local lines = {}
  for first = 1, #items, per_line do
    lines[#lines + 1] = table.concat(items, ', ', first, math.min(first + per_line - 1, #items))
  end
  return '[' .. table.concat(lines, ',\n' .. rep(' ', indent + 1)) .. ']'
end

local function tensor_str(t, d, off, indent, f)
  local dims = #t.shape - d + 1
  if dims == 0 then return pad(f, t.data[off + 1]) end
  if dims == 1 then return vector_str(t, off, indent, f) end
  local slices = {}
  for _, i in ipairs(shown(t.shape[d], t.summarize)) do
    slices[#slices + 1] = i and tensor_str(t, d + 1, off + i * t.strides[d], indent + 1, f) or '...'
  end
  return '[' .. table.concat(slices, ',' .. rep('\n', dims - 1) .. rep(' ', indent + 1)) .. ']'
end

-- Python's str(tuple(shape)).
local function size_str(shape)
  if #shape == 1 then return '(' .. shape[1] .. ',)' end
  return '(' .. table.concat(shape, ', ') .. ')'
end

-- torch._tensor_str._add_suffixes, including its line-length arithmetic.
local function add_suffixes(s, suffixes, indent)
  local parts = { s }
  local last_nl = s:match('.*()\n') or 0
  local line_len = #s - last_nl + 2
  for _, suffix in ipairs(suffixes) do
    if line_len + #suffix + 2 > LINEWIDTH then
      parts[#parts + 1] = ',\n' .. rep(' ', indent) .. suffix
      line_len = indent + #suffix
    else
      parts[#parts + 1] = ', ' .. suffix
      line_len = line_len + #suffix + 2
    end
  end
  parts[#parts + 1] = ')'
  return table.concat(parts)
end

function M.format(info)
  local shape, dtype = info.shape, info.dtype
  assert(KNOWN[dtype], 'ag.repr: unknown dtype ' .. tostring(dtype))
  local numel, strides = 1, {}
  for d = #shape, 1, -1 do
    strides[d] = numel
    numel = numel * shape[d]
  end
  local suffixes, body = {}, nil
  if numel == 0 then
    if #shape ~= 1 then suffixes[#suffixes + 1] = 'size=' .. size_str(shape) end
    if dtype ~= 'float32' then suffixes[#suffixes + 1] = 'dtype=ag.' .. dtype end
    body = '[]'
  else
    if not IMPLICIT[dtype] then suffixes[#suffixes + 1] = 'dtype=ag.' .. dtype end
    local t = { shape = shape, strides = strides, data = info.data, summarize = numel > THRESHOLD }
    body = tensor_str(t, 1, 0, #PREFIX, make_formatter(dtype, collect(t, 1, 0, {})))
  end
  for _, suffix in ipairs(info.suffixes or {}) do suffixes[#suffixes + 1] = suffix end
  return add_suffixes(PREFIX .. body, suffixes, #PREFIX)
end

return M
