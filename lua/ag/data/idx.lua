-- idx.lua: reads IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain,
-- into a tensor. The file is untrusted: the magic, the type code, the dims and the exact
-- data length are checked, and every violation is a Lua error naming the file.
local ffi = require 'ffi'
local bit = require 'bit'
local core = require 'ag.core'
local zlib = require 'ag.data.zlib'
local C = core.C

local idx = {}

-- IDX type code -> element size in the file, ag dtype id, and the dtype's name
local TYPES = {
  [0x08] = {size = 1, dtype = 4, name = 'unsigned byte'},
  [0x09] = {size = 1, dtype = 3, name = 'signed byte'},   -- widened to int32
  [0x0B] = {size = 2, dtype = 3, name = 'short'},         -- widened to int32
  [0x0C] = {size = 4, dtype = 3, name = 'int'},
  [0x0D] = {size = 4, dtype = 0, name = 'float'},
  [0x0E] = {size = 8, dtype = 1, name = 'double'},
}
local MAX_RATIO = 1100   -- deflate cannot expand more than ~1032:1

local function fail(path, fmt, ...)
  error(string.format("ag.data.idx: %s: " .. fmt, path, ...), 0)
end

local function file_size(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local n = f:seek('end')
  f:close()
  return n
end

local function be32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- big-endian file data -> native, in place or widened (loops the JIT compiles to tight code)
local function to_native(code, raw, dst, n)
  if code == 0x09 then
    local s, d = ffi.cast('int8_t *', raw), ffi.cast('int32_t *', dst)
    for i = 0, n - 1 do d[i] = s[i] end
  elseif code == 0x0B then
    local s, d = ffi.cast('uint8_t *', raw), ffi.cast('int32_t *', dst)
    for i = 0, n - 1 do
      local v = s[2 * i] * 256 + s[2 * i + 1]
      d[i] = v >= 32768 and v - 65536 or v
    end
  elseif code == 0x0C or code == 0x0D then
    local p = ffi.cast('int32_t *', dst)
    for i = 0, n - 1 do p[i] = bit.bswap(p[i]) end
  elseif code == 0x0E then
    local p = ffi.cast('int32_t *', dst)
    for i = 0, n - 1 do
      local lo, hi = p[2 * i], p[2 * i + 1]
      p[2 * i], p[2 * i + 1] = bit.bswap(hi), bit.bswap(lo)
    end
  end
end

-- Parse the header from a reader; returns the type code and the list of dims.
local function read_header(r, path)
  local magic = r:read(4)
  if #magic < 4 then fail(path, "truncated: %d bytes, too short for the 4-byte IDX magic", #magic) end
  local z0, z1, code, ndim = magic:byte(1, 4)
  if z0 ~= 0 or z1 ~= 0 then
    fail(path, "not an IDX file: the magic must start with two zero bytes, got 0x%02x%02x%02x%02x",
         z0, z1, code, ndim)
  end
  if not TYPES[code] then
    fail(path, "unknown IDX type code 0x%02x; expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E", code)
  end
  if ndim < 1 or ndim > 16 then fail(path, "unsupported number of dimensions %d (1 to 16)", ndim) end
  local s = r:read(4 * ndim)
  if #s < 4 * ndim then
    fail(path, "truncated: the header declares %d dimensions but the file ends inside them", ndim)
  end
  local dims = {}
  for i = 1, ndim do dims[i] = be32(s, 4 * i - 3) end
  return code, dims
end

-- idx.read(path) -> Tensor. Unsigned bytes give uint8, (signed) bytes/shorts/ints int32,
-- floats float32, doubles float64.
function idx.read(path)
  if type(path) ~= 'string' then error("ag.data.idx.read: path must be a string", 2) end
  local fsize = file_size(path)
  if not fsize then fail(path, "no such file or not readable") end
  local r = zlib.open(path)
  local ok, res = pcall(function()
    local code, dims = read_header(r, path)
    local ty = TYPES[code]
    local n = 1
    for i = 1, #dims do n = n * dims[i] end
    local nbytes = n * ty.size
    local header = 4 + 4 * #dims
    if not r.compressed and header + nbytes ~= fsize then
      if header + nbytes > fsize then
        fail(path, "truncated: dims %s of %s need %d data bytes, the file has %d",
             table.concat(dims, 'x'), ty.name, nbytes, fsize - header)
      end
      fail(path, "%d unexpected bytes after the data of dims %s", fsize - header - nbytes,
           table.concat(dims, 'x'))
    end
    if r.compressed and nbytes > fsize * MAX_RATIO + 4096 then
      fail(path, "corrupt: dims %s claim %d bytes, more than a %d-byte gzip file can hold",
           table.concat(dims, 'x'), nbytes, fsize)
    end
    local sizes = ffi.new('int64_t[?]', #dims, dims)
    local t = core.wrap(C.agt_empty(#dims, sizes, ty.dtype))
    local dst = C.agt_data_ptr(t.p)
    local widen = code == 0x09 or code == 0x0B
    local raw = widen and ffi.new('uint8_t[?]', math.max(nbytes, 1)) or dst
    local got = r:read_into(raw, nbytes)
    if got < nbytes then
      fail(path, "truncated: dims %s of %s need %d data bytes, only %d are present",
           table.concat(dims, 'x'), ty.name, nbytes, got)
    end
    if not r:at_end() then
      fail(path, "unexpected bytes after the data of dims %s", table.concat(dims, 'x'))
    end
    to_native(code, raw, dst, n)
    return t
  end)
  r:close()
  if not ok then error(res, 2) end
  return res
end

-- idx.write(path, tensor): a plain (uncompressed) IDX file; for fixtures and round trips.
function idx.write(path, t)
  local codes = {uint8 = 0x08, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E}
  local code = codes[t.dtype]
  if not code then error("ag.data.idx.write: unsupported dtype " .. t.dtype, 2) end
  local shape = t.shape
  local parts = {string.char(0, 0, code, #shape)}
  for _, d in ipairs(shape) do
    parts[#parts + 1] = string.char(bit.band(bit.rshift(d, 24), 255), bit.band(bit.rshift(d, 16), 255),
                                    bit.band(bit.rshift(d, 8), 255), bit.band(d, 255))
  end
  local c = t:contiguous()
  local n, es = c:numel(), c:element_size()
  local buf = ffi.new('uint8_t[?]', math.max(n * es, 1))
  ffi.copy(buf, C.agt_data_ptr(c.p), n * es)
  if es > 1 then to_native(code, buf, buf, n) end   -- the swap is its own inverse
  parts[#parts + 1] = ffi.string(buf, n * es)
  local f = assert(io.open(path, 'wb'))
  f:write(table.concat(parts))
  f:close()
end

return idx
