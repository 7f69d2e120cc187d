-- serialization.lua: ag.save(path, obj) and ag.load(path), checkpoints in the safetensors
-- format. obj is a tensor or nested tables of tensors, numbers, strings, booleans and
-- 64-bit integer cdata; tensors are stored under their flattened names ('fc1.weight'),
-- everything else and the nesting in __metadata__ ('ag.tree', and each plain value under
-- its flattened name for other readers). Saves are atomic: a temporary file is written,
-- fsynced and renamed over the target. Loads treat the file as untrusted.
local ffi = require 'ffi'
local core = require 'ag.core'
local json = require 'ag.json'
local file = require 'ag.serialization.file'
local tree = require 'ag.serialization.tree'
local st = require 'ag.serialization.safetensors'
local C = core.C

local M = {}
M.TREE_KEY = 'ag.tree'

if not ffi.abi('le') then
  error("ag.serialization: safetensors data is little-endian; this platform is not", 2)
end

local function dirname(path) return path:match('^(.*)/[^/]*$') or '.' end

local function write_file(tmp, header, tensors)
  local f, err = file.open(tmp, 'wb')
  if not f then error(string.format("cannot create %s: %s", tmp, err), 0) end
  local ok, e = pcall(function()
    f:write(st.u64le(#header))
    f:write(header)
    for _, t in ipairs(tensors) do f:write(C.agt_data_ptr(t.data.p), t.nbytes) end
    f:sync()
    f:close()
  end)
  if not ok then
    pcall(f.close, f)
    os.remove(tmp)
    error(e, 0)
  end
end

-- save(path, obj)
function M.save(path, obj)
  if type(path) ~= 'string' or path == '' then error("ag.save: path must be a non-empty string", 2) end
  local ok, e = pcall(function()
    local tensors, leaves, plain = tree.flatten(obj)
    local entries = {}
    for i, t in ipairs(tensors) do
      local p = t.tensor.p
      local data = core.wrap(C.agt_contiguous(p))   -- the same tensor when already contiguous
      local shape = {}
      for d = 1, p.ndim do shape[d] = tonumber(p.sizes[d - 1]) end
      t.data = data
      t.nbytes = tonumber(C.agt_numel(p)) * C.agt_dtype_size(p.scalar_type)
      entries[i] = {name = t.name, dtype = st.CODES[tonumber(p.scalar_type)], shape = shape, nbytes = t.nbytes}
    end
    local meta = {}
    for k, v in pairs(plain) do meta[k] = v end
    meta[M.TREE_KEY] = json.encode(leaves)
    local header = st.encode(entries, meta)
    local tmp = string.format('%s.tmp.%d', path, file.getpid())
    write_file(tmp, header, tensors)
    local renamed, err = os.rename(tmp, path)
    if not renamed then
      os.remove(tmp)
      error(string.format("cannot rename %s to %s: %s", tmp, path, tostring(err)), 0)
    end
    file.sync_dir(dirname(path))
  end)
  if not ok then
    e = tostring(e)
    error(e:find('^ag%.save') and e or string.format("ag.save: %s: %s", path, e), 2)
  end
end

local function read_tensors(f, path, entries, base)
  local who = string.format("ag.load: %s: ", path)
  local out = {}
  for _, e in ipairs(entries) do
    local sizes = ffi.new('int64_t[?]', math.max(#e.shape, 1), e.shape)
    local t = core.wrap(C.agt_empty(#e.shape, sizes, e.id))
    local n = e.last - e.first
    if n > 0 then
      local ptr = C.agt_data_ptr(t.p)
      if not f:seek(base + e.first) or f:read_into(ptr, n) ~= n then
        error(who .. string.format("the file ends inside the data of tensor %q", e.name), 0)
      end
      if e.dtype == 'BOOL' then
        local b = ffi.cast('const uint8_t *', ptr)
        for i = 0, n - 1 do
          if b[i] > 1 then error(who .. string.format("BOOL tensor %q holds the byte %d; only 0 and 1 are booleans",
                                                      e.name, b[i]), 0) end
        end
      end
    end
    out[e.name] = t
  end
  return out
end

-- load(path) -> obj, metadata. A file written by ag comes back as the object saved; any
-- other safetensors file as a flat table name -> tensor. metadata is __metadata__ (strings).
function M.load(path)
  if type(path) ~= 'string' then error("ag.load: path must be a string", 2) end
  local who = string.format("ag.load: %s: ", path)
  local f, err = file.open(path, 'rb')
  if not f then error(who .. err, 2) end
  local ok, obj, meta = pcall(function()
    local size = f:size()
    if size < 8 then
      error(who .. string.format("%d bytes is too short for a safetensors file (8-byte header length, header, data)", size), 0)
    end
    local n = st.read_u64le(f:read(8))
    if n > size - 8 then
      error(who .. string.format("the header length %.0f is larger than the %d bytes that follow it " ..
                                 "(truncated or not a safetensors file)", n, size - 8), 0)
    end
    if n > st.MAX_HEADER then error(who .. string.format("the header length %d is over the 100 MB limit", n), 0) end
    if n < 2 then error(who .. string.format("the header length %d is too small for a JSON object", n), 0) end
    local header = f:read(n)
    if #header ~= n then error(who .. "the file ends inside the header", 0) end
    local entries, meta = st.parse(header, size - 8 - n, who)
    local tensors = read_tensors(f, path, entries, 8 + n)
    local tree_json = meta[M.TREE_KEY]
    if tree_json == nil then return tensors, meta end
    local okj, leaves = pcall(json.decode, tree_json)
    if not okj then error(who .. "the metadata 'ag.tree' is not valid JSON: " .. leaves, 0) end
    local okt, obj = pcall(tree.rebuild, leaves, tensors)
    if not okt then error(who .. tostring(obj):gsub('^ag%.load: ', ''), 0) end
    return obj, meta
  end)
  f:close()
  if not ok then error(obj, 2) end
  return obj, meta
end

return M
