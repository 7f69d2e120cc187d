-- file.lua: the C stdio and POSIX calls checkpoints need, through the FFI: raw reads and
-- writes between files and tensor memory (no Lua strings in between), fsync, the pid,
-- and the errno text for error messages.
local ffi = require 'ffi'

for _, decl in ipairs({
  'typedef struct _IO_FILE FILE;',
  'FILE *fopen(const char *path, const char *mode);',
  'size_t fread(void *ptr, size_t size, size_t n, FILE *f);',
  'size_t fwrite(const void *ptr, size_t size, size_t n, FILE *f);',
  'int fflush(FILE *f);',
  'int fclose(FILE *f);',
  'int fileno(FILE *f);',
  'int fseeko(FILE *f, int64_t offset, int whence);',
  'int64_t ftello(FILE *f);',
  'int fsync(int fd);',
  'int open(const char *path, int flags, ...);',
  'int close(int fd);',
  'int getpid(void);',
  'char *strerror(int errnum);',
}) do pcall(ffi.cdef, decl) end

local C = ffi.C
local F = {}
local SEEK_SET, SEEK_END = 0, 2

local function errtext() return ffi.string(C.strerror(ffi.errno())) end
F.errtext = errtext

local File = {}
File.__index = File

-- open(path, mode) -> File or nil, message
function F.open(path, mode)
  local fp = C.fopen(path, mode)
  if fp == nil then return nil, errtext() end
  return setmetatable({fp = ffi.gc(fp, C.fclose), path = path}, File)
end

function File:size()
  C.fseeko(self.fp, 0, SEEK_END)
  local n = tonumber(C.ftello(self.fp))
  C.fseeko(self.fp, 0, SEEK_SET)
  return n
end

function File:seek(offset) return C.fseeko(self.fp, offset, SEEK_SET) == 0 end

-- read n bytes into ptr; returns the count read
function File:read_into(ptr, n)
  if n == 0 then return 0 end
  return tonumber(C.fread(ptr, 1, n, self.fp))
end

function File:read(n)
  local buf = ffi.new('uint8_t[?]', math.max(n, 1))
  local got = self:read_into(buf, n)
  return ffi.string(buf, got)
end

-- write n bytes from ptr (or a Lua string); raises on a short write
function File:write(ptr, n)
  if type(ptr) == 'string' then n = #ptr end
  if n == 0 then return end
  if tonumber(C.fwrite(ptr, 1, n, self.fp)) ~= n then
    error(string.format("cannot write %s: %s", self.path, errtext()), 0)
  end
end

-- flush the stdio buffer and the kernel's page cache to the disk
function File:sync()
  if C.fflush(self.fp) ~= 0 or C.fsync(C.fileno(self.fp)) ~= 0 then
    error(string.format("cannot flush %s to disk: %s", self.path, errtext()), 0)
  end
end

function File:close()
  if self.fp then
    local rc = C.fclose(ffi.gc(self.fp, nil))
    self.fp = nil
    if rc ~= 0 then error(string.format("cannot close %s: %s", self.path, errtext()), 0) end
  end
end

-- fsync a folder, so that a rename inside it is on disk (best effort)
function F.sync_dir(dir)
  local fd = C.open(dir, 0)
  if fd >= 0 then C.fsync(fd); C.close(fd) end
end

function F.getpid() return C.getpid() end

return F
