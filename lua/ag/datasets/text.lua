-- text.lua: ag.datasets.text{path=..., seq_len=...}, a character-level (byte-level) text
-- dataset for char-RNNs. The vocabulary is the set of bytes in the text, sorted, with
-- 1-based ids; sample i is (x, y), two int64 windows of seq_len ids, y shifted by one.
-- The default corpus is the fortune files of Debian's fortunes package.
local ffi = require 'ffi'
local core = require 'ag.core'
local dataset = require 'ag.data.dataset'
local C = core.C

local DEFAULT_DIR = '/usr/share/games/fortunes'

local function read_file(path)
  local f, err = io.open(path, 'rb')
  if not f then error(string.format("ag.datasets.text: cannot read %s: %s", path, err), 0) end
  local s = f:read('*a')
  f:close()
  if s == nil then error(string.format("ag.datasets.text: cannot read %s (a directory?)", path), 0) end
  return s
end

-- the regular files of a folder (not *.dat indexes, not symlinks such as fortunes' *.u8), sorted
local function list_dir(dir)
  local p = io.popen("find '" .. dir:gsub("'", "'\\''") .. "' -maxdepth 1 -type f ! -name '*.dat' 2>/dev/null | LC_ALL=C sort")
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

local function is_dir(path)
  local f = io.open(path, 'rb')
  if not f then return false end
  local ok, _, code = f:read(0)
  f:close()
  return ok == nil and code == 21   -- EISDIR
end

local function load_corpus(path)
  if path == nil then
    local files = is_dir(DEFAULT_DIR) and list_dir(DEFAULT_DIR) or {}
    if #files == 0 then
      error("ag.datasets.text: no path given and the default corpus " .. DEFAULT_DIR ..
            " is missing; install it with `sudo apt-get install fortunes`, or pass path=", 0)
    end
    path = files
  end
  if type(path) == 'string' then
    if is_dir(path) then
      local files = list_dir(path)
      if #files == 0 then error("ag.datasets.text: no text files in " .. path, 0) end
      path = files
    else
      return read_file(path)
    end
  end
  if type(path) ~= 'table' then error("ag.datasets.text: path must be a file, a folder or a list of files", 0) end
  local parts = {}
  for k, p in ipairs(path) do parts[k] = read_file(p) end
  return table.concat(parts)
end

local Text = dataset.Dataset:extend('TextDataset')

-- opts: path (file, folder or list; default the fortunes), text (a string instead of files),
-- seq_len (default 64), stride (default seq_len: windows do not overlap), vocab (reuse the
-- list of characters of another TextDataset)
function Text:init(opts)
  opts = opts or {}
  local seq_len = opts.seq_len or 64
  if type(seq_len) ~= 'number' or seq_len < 1 or seq_len ~= math.floor(seq_len) then
    error("ag.datasets.text: seq_len must be a positive integer, got " .. tostring(seq_len), 0)
  end
  local stride = opts.stride or seq_len
  if type(stride) ~= 'number' or stride < 1 or stride ~= math.floor(stride) then
    error("ag.datasets.text: stride must be a positive integer, got " .. tostring(stride), 0)
  end
  local text = opts.text or load_corpus(opts.path)
  local n = #text
  local bytes = ffi.cast('const uint8_t *', text)

  -- vocabulary: the bytes present, in byte order (or the one given)
  local vocab = opts.vocab
  if not vocab then
    local seen = ffi.new('uint8_t[256]')
    for i = 0, n - 1 do seen[bytes[i]] = 1 end
    vocab = {}
    for b = 0, 255 do if seen[b] == 1 then vocab[#vocab + 1] = string.char(b) end end
  end
  local stoi, lut = {}, ffi.new('int64_t[256]')
  for id, ch in ipairs(vocab) do stoi[ch] = id; lut[ch:byte()] = id end

  -- ids, one int64 per byte
  local sizes = ffi.new('int64_t[1]', n)
  local data = core.wrap(C.agt_empty(1, sizes, 2))
  local ids = ffi.cast('int64_t *', C.agt_data_ptr(data.p))
  for i = 0, n - 1 do
    local id = lut[bytes[i]]
    if id == 0 then
      error(string.format("ag.datasets.text: byte %d at position %d is not in the given vocab", bytes[i], i + 1), 0)
    end
    ids[i] = id
  end

  self.text, self.data, self.vocab, self.stoi = text, data, vocab, stoi
  self.vocab_size, self.seq_len, self.stride = #vocab, seq_len, stride
  self.n = n - 1 >= seq_len and math.floor((n - 1 - seq_len) / stride) + 1 or 0
end

function Text:len() return self.n end

function Text:get(i)
  dataset.check_index(i, self.n, 'TextDataset:get')
  local s = (i - 1) * self.stride + 1
  return self.data:narrow(1, s, self.seq_len), self.data:narrow(1, s + 1, self.seq_len)
end

-- get_batch(indices): x and y as B x seq_len int64 tensors, one memcpy per row
function Text:get_batch(idx)
  local B, L = #idx, self.seq_len
  local sizes = ffi.new('int64_t[2]', B, L)
  local x = core.wrap(C.agt_empty(2, sizes, 2))
  local y = core.wrap(C.agt_empty(2, sizes, 2))
  local src = ffi.cast('int64_t *', C.agt_data_ptr(self.data.p))
  local xd = ffi.cast('int64_t *', C.agt_data_ptr(x.p))
  local yd = ffi.cast('int64_t *', C.agt_data_ptr(y.p))
  for k = 1, B do
    dataset.check_index(idx[k], self.n, 'TextDataset:get_batch')
    local s = (idx[k] - 1) * self.stride
    ffi.copy(xd + (k - 1) * L, src + s, L * 8)
    ffi.copy(yd + (k - 1) * L, src + s + 1, L * 8)
  end
  return x, y
end

-- encode(str) -> int64 ids; decode(ids) -> str (ids: a tensor or a list)
function Text:encode(str)
  local ids = {}
  for i = 1, #str do
    local id = self.stoi[str:sub(i, i)]
    if not id then error(string.format("TextDataset:encode: character %q is not in the vocabulary", str:sub(i, i)), 2) end
    ids[i] = id
  end
  return require('ag').tensor(ids, {dtype = 'int64'})
end

function Text:decode(ids)
  if core.is_tensor(ids) then ids = ids:reshape(-1):totable() end
  local out = {}
  for k, id in ipairs(ids) do
    local ch = self.vocab[id]
    if not ch then error(string.format("TextDataset:decode: id %s is outside 1..%d", tostring(id), #self.vocab), 2) end
    out[k] = ch
  end
  return table.concat(out)
end

return function(opts)
  require 'ag'   -- the Tensor methods used by get (when only ag.datasets was required)
  local ok, ds = pcall(Text, opts)
  if not ok then error(ds, 2) end
  return ds
end
