-- idx_spec.lua: the IDX reader (ag.data.idx) on Fashion-MNIST's gzip files, on files
-- written here (plain and gzip, every IDX type), and on truncated, corrupt and garbage
-- files, which must raise clear errors.
local ag = require 'ag'
local idx = require 'ag.data.idx'
local tmp = require 'tests.fixtures.tmpdir'

local FM = '/usr/share/datasets/fashion-mnist'

local function be32(n)
  return string.char(math.floor(n / 2^24) % 256, math.floor(n / 2^16) % 256, math.floor(n / 256) % 256, n % 256)
end

local function idx_bytes(code, dims, payload)
  local parts = {string.char(0, 0, code, #dims)}
  for _, d in ipairs(dims) do parts[#parts + 1] = be32(d) end
  parts[#parts + 1] = payload
  return table.concat(parts)
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, 'expected an error matching ' .. pattern)
  assert.matches(pattern, tostring(err))
  return err
end

describe('ag.data.idx.read', function()
  local dir
  setup(function() dir = tmp.new() end)
  teardown(function() tmp.remove(dir) end)

  it('reads the gzip-compressed Fashion-MNIST labels as a uint8 tensor equal to the raw bytes', function()
    local path = FM .. '/t10k-labels-idx1-ubyte.gz'
    local raw = tmp.run("gzip -dc '" .. path .. "'")   -- decompressed independently
    local t = idx.read(path)
    assert.are.same({10000}, t.shape)
    assert.are.equal('uint8', t.dtype)
    assert.are.equal(8 + 10000, #raw)
    for _, i in ipairs({1, 2, 3, 500, 9999, 10000}) do
      assert.are.equal(raw:byte(8 + i), t[i]:item())
    end
    local sum = 0
    for i = 9, #raw do sum = sum + raw:byte(i) end
    assert.are.equal(sum, t:to('int64'):sum():item())
  end)

  it('reads the training images with the dims from their header', function()
    local t = idx.read(FM .. '/train-images-idx3-ubyte.gz')
    assert.are.same({60000, 28, 28}, t.shape)
    assert.are.equal('uint8', t.dtype)
  end)

  it('reads a plain file and a gzip file of the same content alike', function()
    local bytes = idx_bytes(0x08, {2, 3}, string.char(1, 2, 3, 250, 251, 255))
    tmp.write(dir .. '/u8.idx', bytes)
    tmp.write(dir .. '/u8gz.idx', bytes)
    os.execute("gzip -f '" .. dir .. "/u8gz.idx'")
    local a, b = idx.read(dir .. '/u8.idx'), idx.read(dir .. '/u8gz.idx.gz')
    assert.are.same({{1, 2, 3}, {250, 251, 255}}, a:totable())
    assert.is_true(a:equal(b))
  end)

  it('decodes big-endian signed bytes, shorts, ints, floats and doubles', function()
    local cases = {
      {0x09, string.char(0x7f, 0x80, 0xff, 0x00), {127, -128, -1, 0}, 'int32'},
      {0x0B, string.char(0x01, 0x02, 0xff, 0xfe, 0x80, 0x00, 0x7f, 0xff), {258, -2, -32768, 32767}, 'int32'},
      {0x0C, be32(1) .. be32(2^32 - 5) .. be32(2^31 - 1) .. be32(2^31), {1, -5, 2^31 - 1, -2^31}, 'int32'},
      -- 1.5f = 0x3fc00000, -2f = 0xc0000000, 0.25f = 0x3e800000, 1e6f = 0x49742400
      {0x0D, be32(0x3fc00000) .. be32(0xc0000000) .. be32(0x3e800000) .. be32(0x49742400), {1.5, -2, 0.25, 1e6}, 'float32'},
      -- 1.0 = 0x3ff0000000000000, -0.5 = 0xbfe0000000000000
      {0x0E, be32(0x3ff00000) .. be32(0) .. be32(0xbfe00000) .. be32(0), {1, -0.5}, 'float64'},
    }
    for k, c in ipairs(cases) do
      local path = string.format('%s/t%d.idx', dir, k)
      tmp.write(path, idx_bytes(c[1], {#c[3]}, c[2]))
      local t = idx.read(path)
      assert.are.equal(c[4], t.dtype)
      assert.are.same(c[3], t:totable())
    end
  end)

  it('round-trips tensors through idx.write', function()
    for _, dtype in ipairs({'uint8', 'int32', 'float32', 'float64'}) do
      local x = (ag.rand(3, 4, 5, {dtype = 'float64'}) * 200):to(dtype)
      idx.write(dir .. '/rt.idx', x)
      local y = idx.read(dir .. '/rt.idx')
      assert.are.equal(dtype, y.dtype)
      assert.is_true(x:equal(y))
    end
  end)

  describe('rejects', function()
    local good = idx_bytes(0x08, {4, 4}, string.rep('\7', 16))

    it('a missing file', function()
      raises('no such file', idx.read, dir .. '/nope.idx')
    end)
    it('an empty file and one cut inside the magic', function()
      tmp.write(dir .. '/e.idx', '')
      raises('truncated.*magic', idx.read, dir .. '/e.idx')
      tmp.write(dir .. '/m.idx', '\0\0')
      raises('truncated.*magic', idx.read, dir .. '/m.idx')
    end)
    it('a file cut inside its dims', function()
      tmp.write(dir .. '/d.idx', good:sub(1, 9))
      raises('truncated.*2 dimensions', idx.read, dir .. '/d.idx')
    end)
    it('a plain file cut inside its data', function()
      tmp.write(dir .. '/c.idx', good:sub(1, #good - 3))
      raises('truncated.*need 16 data bytes, the file has 13', idx.read, dir .. '/c.idx')
    end)
    it('a plain file with bytes after its data', function()
      tmp.write(dir .. '/x.idx', good .. 'junk')
      raises('4 unexpected bytes after the data', idx.read, dir .. '/x.idx')
    end)
    it('a bad magic and an unknown type code', function()
      tmp.write(dir .. '/b.idx', 'PK' .. good:sub(3))
      raises('not an IDX file', idx.read, dir .. '/b.idx')
      tmp.write(dir .. '/t.idx', '\0\0\x42\1' .. be32(1) .. 'x')
      raises('unknown IDX type code 0x42', idx.read, dir .. '/t.idx')
      tmp.write(dir .. '/z.idx', '\0\0\x08\0')
      raises('number of dimensions 0', idx.read, dir .. '/z.idx')
    end)
    it('garbage bytes', function()
      math.randomseed(7)
      local g = {}
      for i = 1, 5000 do g[i] = string.char(math.random(0, 255)) end
      g[1] = 'G'
      tmp.write(dir .. '/g.idx', table.concat(g))
      raises('not an IDX file', idx.read, dir .. '/g.idx')
    end)
    it('a gzip file cut short', function()
      local src = FM .. '/t10k-labels-idx1-ubyte.gz'
      local whole = tmp.read(src)
      tmp.write(dir .. '/cut.gz', whole:sub(1, math.floor(#whole / 2)))
      raises('cut%.gz', idx.read, dir .. '/cut.gz')
      raises('truncated', idx.read, dir .. '/cut.gz')
    end)
    it('a gzip file cut inside its trailer (the CRC is checked)', function()
      local whole = tmp.read(FM .. '/t10k-labels-idx1-ubyte.gz')
      tmp.write(dir .. '/trailer.gz', whole:sub(1, #whole - 4))
      raises('trailer%.gz', idx.read, dir .. '/trailer.gz')
    end)
    it('a gzip file with corrupted deflate data', function()
      local whole = tmp.read(FM .. '/t10k-labels-idx1-ubyte.gz')
      local mid = math.floor(#whole / 2)
      local bad = whole:sub(1, mid) .. string.rep('\255', 64) .. whole:sub(mid + 65)
      tmp.write(dir .. '/bad.gz', bad)
      raises('corrupt', idx.read, dir .. '/bad.gz')
    end)
    it('a gzip file whose data is longer than its dims', function()
      tmp.write(dir .. '/long.idx', good .. 'extra')
      os.execute("gzip -f '" .. dir .. "/long.idx'")
      raises('unexpected bytes after the data', idx.read, dir .. '/long.idx.gz')
    end)
    it('a gzip file whose dims claim more than it can hold', function()
      tmp.write(dir .. '/huge.idx', idx_bytes(0x08, {65535, 65535, 65535}, 'abc'))
      os.execute("gzip -f '" .. dir .. "/huge.idx'")
      raises('claim %d+ bytes, more than', idx.read, dir .. '/huge.idx.gz')
    end)
  end)
end)
