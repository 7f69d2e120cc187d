-- zlib.lua: gzip-compressed (and plain) files read through zlib's gz* API, loaded with
-- the FFI from libz.so.1 (Debian's zlib1g). No inflate is written here: zlib does it,
-- including the CRC and length checks of the gzip trailer.
local ffi = require 'ffi'

-- each declaration on its own, so one made elsewhere first does not stop the others
for _, decl in ipairs({
  'typedef struct gzFile_s *gzFile;',
  'gzFile gzopen(const char *path, const char *mode);',
  'int gzread(gzFile file, void *buf, unsigned int len);',
  'int gzclose(gzFile file);',
  'const char *gzerror(gzFile file, int *errnum);',
  'int gzdirect(gzFile file);',
  'int gzbuffer(gzFile file, unsigned int size);',
  'const char *zlibVersion(void);',
}) do pcall(ffi.cdef, decl) end

local ok, lib = pcall(ffi.load, 'z')
if not ok then ok, lib = pcall(ffi.load, 'libz.so.1') end
if not ok then
  error("ag.data.zlib: cannot load zlib (libz.so.1); install it with `apt-get install zlib1g`", 2)
end

local Z = {lib = lib}
local CHUNK = 2 ^ 30   -- gzread takes an unsigned int count

-- A reader over one file: gzip is detected from the content, a plain file is passed through.
local Reader = {}
Reader.__index = Reader

function Z.open(path)
  local f = io.open(path, 'rb')
  if not f then error(string.format("ag.data: cannot open %s: no such file or not readable", path), 2) end
  f:close()
  local gz = lib.gzopen(path, 'rb')
  if gz == nil then error(string.format("ag.data: zlib cannot open %s", path), 2) end
  gz = ffi.gc(gz, lib.gzclose)   -- closed even when a read raises
  lib.gzbuffer(gz, 1024 * 1024)
  return setmetatable({gz = gz, path = path, compressed = lib.gzdirect(gz) == 0}, Reader)
end

local function gz_message(self)
  local errnum = ffi.new('int[1]')
  local msg = lib.gzerror(self.gz, errnum)
  msg = msg ~= nil and ffi.string(msg) or 'unknown zlib error'
  if msg:sub(1, #self.path + 2) == self.path .. ': ' then msg = msg:sub(#self.path + 3) end
  return msg, errnum[0]
end

-- Read up to n bytes into the buffer buf (a void*/uint8_t* cdata); returns the count read.
-- A corrupt or truncated gzip stream raises an error naming the file.
function Reader:read_into(buf, n)
  assert(self.gz, 'ag.data: read from a closed file')
  local dst = ffi.cast('uint8_t *', buf)
  local done = 0
  while done < n do
    local want = math.min(n - done, CHUNK)
    local got = lib.gzread(self.gz, dst + done, want)
    if got < 0 then
      error(string.format("ag.data: %s is corrupt (zlib: %s)", self.path, gz_message(self)), 0)
    end
    if got == 0 then
      -- zlib reports a stream cut short (Z_BUF_ERROR) only through gzerror, not as -1
      local msg, errnum = gz_message(self)
      if errnum ~= 0 then
        error(string.format("ag.data: %s is truncated or corrupt (zlib: %s)", self.path, msg), 0)
      end
      break
    end
    done = done + got
  end
  return done
end

-- Read up to n bytes as a Lua string.
function Reader:read(n)
  local buf = ffi.new('uint8_t[?]', math.max(n, 1))
  local got = self:read_into(buf, n)
  return ffi.string(buf, got)
end

-- True when nothing follows (the gzip trailer has been checked when the file is gzip).
function Reader:at_end()
  local b = ffi.new('uint8_t[1]')
  return self:read_into(b, 1) == 0
end

function Reader:close()
  if self.gz then lib.gzclose(ffi.gc(self.gz, nil)); self.gz = nil end
end

-- The whole (decompressed) content of a file as a string.
function Z.read_all(path)
  local r = Z.open(path)
  local parts = {}
  while true do
    local s = r:read(1024 * 1024)
    if #s == 0 then break end
    parts[#parts + 1] = s
  end
  r:close()
  return table.concat(parts)
end

return Z
