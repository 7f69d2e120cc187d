-- safetensors.lua: the safetensors header. An 8-byte little-endian length, then a JSON
-- object {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {str: str}},
-- then the raw little-endian data. parse() treats the header as untrusted and checks
-- every field, the byte ranges against the data section, their order and overlaps.
local json = require 'ag.json'

local S = {}

S.DTYPES = {F32 = {id = 0, size = 4}, F64 = {id = 1, size = 8}, I64 = {id = 2, size = 8},
            I32 = {id = 3, size = 4}, U8 = {id = 4, size = 1}, BOOL = {id = 5, size = 1}}
S.CODES = {[0] = 'F32', 'F64', 'I64', 'I32', 'U8', 'BOOL'}
S.MAX_HEADER = 100 * 1000 * 1000   -- as the reference implementation

-- the 8-byte little-endian encoding of n, and back (as a double: exact below 2^53)
function S.u64le(n)
  local b = {}
  for i = 1, 8 do b[i] = n % 256; n = math.floor(n / 256) end
  return string.char(unpack(b))
end
function S.read_u64le(s)
  local n = 0
  for i = 8, 1, -1 do n = n * 256 + s:byte(i) end
  return n
end

-- encode(entries, metadata) -> the header JSON, padded with spaces to a multiple of 8 bytes
-- (the data then starts 8-byte aligned). entries: {{name, dtype (code), shape, nbytes}...},
-- laid out in the order given.
function S.encode(entries, metadata)
  local h, at = {}, 0
  for _, e in ipairs(entries) do
    local shape = json.array()
    for i, d in ipairs(e.shape) do shape[i] = d end
    h[e.name] = {dtype = e.dtype, shape = shape, data_offsets = json.array({at, at + e.nbytes})}
    e.offset = at
    at = at + e.nbytes
  end
  if metadata and next(metadata) then h.__metadata__ = metadata end
  local s = json.encode(h)
  return s .. string.rep(' ', (8 - #s % 8) % 8), at
end

local function is_uint(v) return type(v) == 'number' and v >= 0 and v == math.floor(v) and v <= 2 ^ 53 end

-- parse(header, data_len, who) -> entries sorted by offset {{name, dtype, id, size, shape,
-- first, last}...}, metadata (or {}). who prefixes the error messages.
function S.parse(header, data_len, who)
  local function fail(fmt, ...) error(who .. string.format(fmt, ...), 0) end
  if header:sub(1, 1) ~= '{' then fail("the header is not a JSON object (it starts with %q)", header:sub(1, 8)) end
  local ok, h = pcall(json.decode, header)
  if not ok then fail("the header is not valid JSON: %s", h) end
  if type(h) ~= 'table' or json.is_array(h) then fail("the header is not a JSON object") end
  local meta = {}
  local entries = {}
  for name, e in pairs(h) do
    if name == '__metadata__' then
      if type(e) ~= 'table' or json.is_array(e) then fail("__metadata__ must be an object of strings") end
      for k, v in pairs(e) do
        if type(v) ~= 'string' then fail("__metadata__[%q] must be a string, got %s", k, json.is_array(v) and 'an array' or type(v)) end
        meta[k] = v
      end
    else
      if type(e) ~= 'table' or json.is_array(e) then fail("the entry of tensor %q is not an object", name) end
      for k in pairs(e) do
        if k ~= 'dtype' and k ~= 'shape' and k ~= 'data_offsets' then fail("tensor %q has an unknown field %q", name, k) end
      end
      local dt = S.DTYPES[e.dtype]
      if type(e.dtype) ~= 'string' then fail("tensor %q has no dtype", name) end
      if not dt then
        fail("tensor %q has the dtype %s, which ag does not support (F32, F64, I64, I32, U8, BOOL)", name, e.dtype)
      end
      local shape = e.shape
      if type(shape) ~= 'table' or not json.is_array(shape) then fail("tensor %q has no shape list", name) end
      if #shape > 16 then fail("tensor %q has %d dimensions; at most 16 are supported", name, #shape) end
      local numel_bytes = dt.size   -- numel * size, stopped once it passes the data section
      for i, d in ipairs(shape) do
        if not is_uint(d) then fail("tensor %q has a bad size %s in its shape", name, tostring(d)) end
        if numel_bytes <= data_len then numel_bytes = numel_bytes * d end
      end
      for _, d in ipairs(shape) do if d == 0 then numel_bytes = 0 end end
      local off = e.data_offsets
      if type(off) ~= 'table' or not json.is_array(off) or #off ~= 2 or not is_uint(off[1]) or not is_uint(off[2]) then
        fail("tensor %q: data_offsets must be two non-negative integers", name)
      end
      local first, last = off[1], off[2]
      if last < first then fail("tensor %q: data_offsets [%d, %d] end before they begin", name, first, last) end
      if last > data_len then
        fail("tensor %q: data_offsets [%d, %d] run past the data section of %d bytes (truncated file?)",
             name, first, last, data_len)
      end
      if last - first ~= numel_bytes then
        fail("tensor %q: shape [%s] of %s needs %d bytes but data_offsets [%d, %d] hold %d",
             name, table.concat(shape, ', '), e.dtype, numel_bytes, first, last, last - first)
      end
      entries[#entries + 1] = {name = name, dtype = e.dtype, id = dt.id, size = dt.size, shape = shape,
                               first = first, last = last}
    end
  end
  table.sort(entries, function(a, b)
    if a.first ~= b.first then return a.first < b.first end
    if a.last ~= b.last then return a.last < b.last end
    return a.name < b.name
  end)
  local at, prev = 0, nil
  for _, e in ipairs(entries) do
    if e.first < at then
      fail("tensors %q [%d, %d] and %q [%d, %d] overlap", prev.name, prev.first, prev.last, e.name, e.first, e.last)
    end
    if e.first > at then fail("bytes %d to %d of the data section belong to no tensor", at, e.first) end
    at, prev = e.last, e
  end
  if at ~= data_len then
    fail("%d bytes follow the last tensor's data (the header covers %d of %d)", data_len - at, at, data_len)
  end
  return entries, meta
end

return S
