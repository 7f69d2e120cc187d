-- checkpoint_spec.lua: ag.save / ag.load (ag.serialization) in the safetensors format:
-- round trips of nested tables, files read by a small PyTorch reader and written by a
-- small PyTorch writer, untrusted files that must raise, and a saving process killed with
-- SIGKILL that must leave the previous checkpoint whole.
local ag = require 'ag'
local ser = require 'ag.serialization'
local json = require 'ag.json'
local tmp = require 'tests.fixtures.tmpdir'
local save, load = ser.save, ser.load

local PY = '/usr/bin/python3'
local function succeeded(r) return r == 0 or r == true end   -- Lua 5.1 or 5.2 os.execute
local torch_found
local function have_torch()   -- looked up without importing torch, which takes seconds
  if torch_found == nil then
    torch_found = succeeded(os.execute(PY .. [[ -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' >/dev/null 2>&1]]))
  end
  return torch_found
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, 'expected an error matching ' .. pattern)
  assert.matches(pattern, tostring(err))
end

local function u64le(n)
  local b = {}
  for i = 1, 8 do b[i] = n % 256; n = math.floor(n / 256) end
  return string.char(unpack(b))
end

-- a safetensors file from a header (a string) and data bytes, as a hostile writer could make
local function raw_file(path, header, data, hlen)
  tmp.write(path, u64le(hlen or #header) .. header .. (data or ''))
end

local function flat_values(t)
  return t:to('float64'):reshape(-1):totable()
end

describe('ag.save and ag.load', function()
  local dir
  setup(function() dir = tmp.new() end)
  teardown(function() tmp.remove(dir) end)

  it('round-trip nested tables of tensors, numbers, strings and booleans', function()
    local w = ag.randn(3, 4)
    local obj = {
      model = {fc1 = {weight = w, bias = ag.zeros(4, {dtype = 'float64'})}, ['fc2.weight'] = ag.ones(2, 2)},
      optim = {state = {[1] = {exp_avg = ag.randn(3, 4), step = 10}, [2] = {}},
               param_groups = {{lr = 1e-3, betas = {0.9, 0.999}, nesterov = false, name = 'adam'}}},
      epoch = 7, loss = 0.1 + 0.2, big = 2 ^ 60, inf = math.huge, ninf = -math.huge, half = 0.5,
      ids = ag.tensor({1, -2, 3}, {dtype = 'int64'}), pix = ag.tensor({0, 255}, {dtype = 'uint8'}),
      mask = ag.tensor({true, false}), i32 = ag.tensor({{7}}, {dtype = 'int32'}), scalar = ag.tensor(3.25),
      rng = {seed = 18446744073709551615ULL, offset = -5LL}, blob = '\0\255bytes', text = 'héllo "q"\n',
      [3] = 'three', ['3'] = 'string three', [1.5] = 'float key',
    }
    save(dir .. '/a.safetensors', obj)
    local o = load(dir .. '/a.safetensors')
    assert.is_true(o.model.fc1.weight:equal(w))
    assert.are.equal('float64', o.model.fc1.bias.dtype)
    assert.is_true(o.model['fc2.weight']:equal(ag.ones(2, 2)))
    assert.is_nil(o.model.fc2)
    assert.is_true(o.optim.state[1].exp_avg:equal(obj.optim.state[1].exp_avg))
    assert.are.equal(10, o.optim.state[1].step)
    assert.are.same({}, o.optim.state[2])
    assert.is_nil(o.optim.state['1'])
    assert.are.same(obj.optim.param_groups, o.optim.param_groups)
    for _, k in ipairs({'epoch', 'loss', 'big', 'inf', 'ninf', 'half', 'blob', 'text', 3, '3', 1.5}) do
      assert.are.equal(obj[k], o[k])
    end
    for _, k in ipairs({'ids', 'pix', 'mask', 'i32', 'scalar'}) do
      assert.are.equal(obj[k].dtype, o[k].dtype)
      assert.are.same(obj[k].shape, o[k].shape)
      assert.is_true(obj[k]:equal(o[k]))
    end
    assert.is_true(o.rng.seed == 18446744073709551615ULL)
    assert.is_true(o.rng.offset == -5LL)
  end)

  it('save a bare tensor, a non-contiguous view, an empty table and a NaN', function()
    local base = ag.arange(0, 12, {dtype = 'float32'}):view(3, 4)
    save(dir .. '/t.safetensors', base:t())
    local t = load(dir .. '/t.safetensors')
    assert.are.same({4, 3}, t.shape)
    assert.is_true(t:equal(base:t()))
    save(dir .. '/e.safetensors', {})
    assert.are.same({}, load(dir .. '/e.safetensors'))
    save(dir .. '/n.safetensors', {x = 0 / 0})
    local n = load(dir .. '/n.safetensors').x
    assert.is_true(n ~= n)
  end)

  it('store a tensor reached twice once, and give it back as one tensor', function()
    local w = ag.randn(5)
    save(dir .. '/tied.safetensors', {enc = {weight = w}, dec = {weight = w}})
    local o, meta = load(dir .. '/tied.safetensors')
    assert.are.equal(o.enc.weight, o.dec.weight)
    local names = 0
    local f = assert(io.open(dir .. '/tied.safetensors', 'rb'))
    local header = f:read(8 + 4096)
    f:close()
    for _ in header:gmatch('"data_offsets"') do names = names + 1 end
    assert.are.equal(1, names)
    assert.truthy(meta['ag.tree'])
  end)

  it('put plain values in __metadata__ under their flattened names', function()
    save(dir .. '/m.safetensors', {epoch = 3, opt = {lr = 0.01, name = 'sgd'}, w = ag.zeros(1)})
    local _, meta = load(dir .. '/m.safetensors')
    assert.are.equal('3', meta.epoch)
    assert.are.equal('0.01', meta['opt.lr'])
    assert.are.equal('sgd', meta['opt.name'])
  end)

  it('write atomically: no temporary file is left and an old file is replaced whole', function()
    local path = dir .. '/r.safetensors'
    save(path, {v = ag.ones(1000)})
    save(path, {v = ag.zeros(10)})
    assert.are.same({10}, load(path).v.shape)
    assert.are.equal('', tmp.run("ls '" .. dir .. "' | grep '\\.tmp\\.' || true"))
  end)

  it('refuse what cannot be saved, naming where it is', function()
    raises("cannot save the function at 'opt.hook'", save, dir .. '/f.safetensors', {opt = {hook = print}})
    local cyc = {a = {}}
    cyc.a.b = cyc
    raises("the table at 'a.b' contains itself", save, dir .. '/c.safetensors', cyc)
    raises('boolean key', save, dir .. '/k.safetensors', {[true] = 1})
    assert.is_nil(io.open(dir .. '/f.safetensors', 'rb'))
  end)
end)

describe('checkpoints and PyTorch', function()
  local dir
  setup(function() dir = tmp.new() end)
  teardown(function() tmp.remove(dir) end)

  it('a file saved by ag reads in PyTorch (json + torch.frombuffer) with the same values', function()
    if not have_torch() then pending('needs PyTorch at ' .. PY) return end
    local obj = {fc1 = {weight = ag.randn(4, 3), bias = ag.randn(4, {dtype = 'float64'})},
                 steps = ag.tensor({1, -2, 2 ^ 40}, {dtype = 'int64'}), ids = ag.tensor({{1, 2}, {3, 4}}, {dtype = 'int32'}),
                 pix = ag.tensor({0, 9, 255}, {dtype = 'uint8'}), mask = ag.tensor({false, true}),
                 scalar = ag.tensor(-1.25), epoch = 4}
    local path = dir .. '/ag.safetensors'
    save(path, obj)
    local out = json.decode(tmp.run(PY .. " tests/fixtures/safetensors_read.py '" .. path .. "'"))
    local want = {['fc1.weight'] = obj.fc1.weight, ['fc1.bias'] = obj.fc1.bias, steps = obj.steps,
                  ids = obj.ids, pix = obj.pix, mask = obj.mask, scalar = obj.scalar}
    local count = 0
    for name, t in pairs(want) do
      local got = out.tensors[name]
      assert.is_table(got, name)
      assert.are.same(t.shape, {unpack(got.shape)})
      assert.are.same(flat_values(t), {unpack(got.values)})
      count = count + 1
    end
    assert.are.equal(count, (function() local n = 0 for _ in pairs(out.tensors) do n = n + 1 end return n end)())
    assert.are.equal('4', out.metadata.epoch)
  end)

  it('a file written from PyTorch loads in ag as a flat table with the same values', function()
    if not have_torch() then pending('needs PyTorch at ' .. PY) return end
    local path = dir .. '/pt.safetensors'
    local want = json.decode(tmp.run(PY .. " tests/fixtures/safetensors_write.py '" .. path .. "'"))
    local o, meta = load(path)
    local dtypes = {F32 = 'float32', F64 = 'float64', I64 = 'int64', I32 = 'int32', U8 = 'uint8', BOOL = 'bool'}
    local count = 0
    for name, w in pairs(want) do
      local t = o[name]
      assert.is_not_nil(t, name)
      assert.are.equal(dtypes[w.dtype], t.dtype)
      assert.are.same({unpack(w.shape)}, t.shape)
      assert.are.same({unpack(w.values)}, flat_values(t))
      count = count + 1
    end
    assert.are.equal(8, count)
    assert.are.equal('7', meta.epoch)
    assert.are.equal('pt', meta.format)
  end)
end)

describe('ag.load on untrusted files', function()
  local dir
  setup(function() dir = tmp.new() end)
  teardown(function() tmp.remove(dir) end)

  local function header(tensors)   -- name -> {dtype, shape, offsets}
    local h = {}
    for name, e in pairs(tensors) do
      h[name] = {dtype = e[1], shape = json.array(e[2]), data_offsets = json.array(e[3])}
    end
    return json.encode(h)
  end
  local function path(name) return dir .. '/' .. name end

  it('rejects a missing, empty or tiny file', function()
    raises('No such file', load, path('none.safetensors'))
    tmp.write(path('empty'), '')
    raises('0 bytes is too short', load, path('empty'))
    tmp.write(path('tiny'), 'abc')
    raises('3 bytes is too short', load, path('tiny'))
  end)

  it('rejects a truncated file', function()
    save(path('good'), {w = ag.randn(100), b = ag.randn(10)})
    local whole = tmp.read(path('good'))
    tmp.write(path('cut_data'), whole:sub(1, #whole - 17))
    raises('run past the data section.*truncated', load, path('cut_data'))
    tmp.write(path('cut_header'), whole:sub(1, 40))
    raises('header length %d+ is larger than the %d+ bytes that follow', load, path('cut_header'))
  end)

  it('rejects a header length larger than the file or than 100 MB', function()
    raw_file(path('over'), '{}', '', 1000)
    raises('header length 1000 is larger than the 2 bytes that follow', load, path('over'))
    raw_file(path('huge'), '{}', '', 2 ^ 62)
    raises('header length 4611686018427387904 is larger', load, path('huge'))
    local f = assert(io.open(path('big'), 'wb'))
    f:write(u64le(100 * 1000 * 1000 + 1))
    f:seek('set', 8 + 100 * 1000 * 1000 + 1)
    f:write(' ')
    f:close()
    raises('over the 100 MB limit', load, path('big'))
  end)

  it('rejects overlapping data_offsets', function()
    raw_file(path('overlap'), header({a = {'F32', {4}, {0, 16}}, b = {'F32', {4}, {8, 24}}}), string.rep('\0', 24))
    raises('tensors "a" %[0, 16%] and "b" %[8, 24%] overlap', load, path('overlap'))
    raw_file(path('same'), header({a = {'U8', {4}, {0, 4}}, b = {'U8', {4}, {0, 4}}}), string.rep('\0', 4))
    raises('overlap', load, path('same'))
  end)

  it('rejects offsets outside the data section, holes and bytes after the last tensor', function()
    raw_file(path('outside'), header({a = {'F32', {4}, {16, 32}}}), string.rep('\0', 16))
    raises('run past the data section of 16 bytes', load, path('outside'))
    raw_file(path('hole'), header({a = {'U8', {2}, {0, 2}}, b = {'U8', {2}, {4, 6}}}), string.rep('\0', 6))
    raises('bytes 2 to 4 of the data section belong to no tensor', load, path('hole'))
    raw_file(path('tail'), header({a = {'U8', {2}, {0, 2}}}), 'abcdef')
    raises('4 bytes follow the last tensor', load, path('tail'))
    raw_file(path('backwards'), header({a = {'U8', {0}, {3, 2}}}), 'abc')
    raises('end before they begin', load, path('backwards'))
  end)

  it('rejects a shape and dtype that do not fill the byte range', function()
    raw_file(path('shape'), header({a = {'F32', {3}, {0, 16}}}), string.rep('\0', 16))
    raises('shape %[3%] of F32 needs 12 bytes but data_offsets %[0, 16%] hold 16', load, path('shape'))
    raw_file(path('huge_shape'), header({a = {'F64', {2 ^ 40, 2 ^ 40}, {0, 8}}}), string.rep('\0', 8))
    raises('needs', load, path('huge_shape'))
    raw_file(path('neg'), header({a = {'F32', {-1}, {0, 4}}}), string.rep('\0', 4))
    raises('bad size %-1', load, path('neg'))
  end)

  it('rejects unknown dtypes and malformed entries', function()
    raw_file(path('f16'), header({a = {'F16', {2}, {0, 4}}}), string.rep('\0', 4))
    raises('dtype F16, which ag does not support', load, path('f16'))
    raw_file(path('field'), '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', 'z')
    raises('unknown field "x"', load, path('field'))
    raw_file(path('noshape'), '{"a":{"dtype":"U8","data_offsets":[0,1]}}', 'z')
    raises('no shape list', load, path('noshape'))
    raw_file(path('offs'), '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', 'z')
    raises('data_offsets must be two non%-negative integers', load, path('offs'))
    raw_file(path('meta'), '{"__metadata__":{"epoch":3}}', '')
    raises('__metadata__%["epoch"%] must be a string', load, path('meta'))
  end)

  it('rejects headers that are not JSON objects', function()
    raw_file(path('json'), '{"a": {"dtype": "U8",', '')
    raises('the header is not valid JSON', load, path('json'))
    raw_file(path('arr'), '[1, 2]', '')
    raises('not a JSON object', load, path('arr'))
    raw_file(path('dup'), '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 'z')
    raises('duplicate key "a"', load, path('dup'))
  end)

  it('rejects garbage bytes', function()
    math.randomseed(3)
    for trial = 1, 20 do
      local b = {}
      for i = 1, math.random(9, 3000) do b[i] = string.char(math.random(0, 255)) end
      tmp.write(path('garbage'), table.concat(b))
      raises('ag%.load: .*garbage', load, path('garbage'))
    end
    -- a plausible header length and a '{', then garbage
    for trial = 1, 20 do
      local b = {'{'}
      for i = 2, math.random(2, 500) do b[i] = string.char(math.random(0, 255)) end
      raw_file(path('garbage1'), table.concat(b), 'data')
      raises('ag%.load: .*garbage1: the header is not', load, path('garbage1'))
    end
    -- a header length that is not one
    raw_file(path('garbage2'), '\1\2\3{garbage}', 'xyz')
    raises('not a JSON object', load, path('garbage2'))
  end)

  it('rejects BOOL tensors holding bytes other than 0 and 1', function()
    raw_file(path('bool'), header({m = {'BOOL', {3}, {0, 3}}}), '\0\1\2')
    raises('BOOL tensor "m" holds the byte 2', load, path('bool'))
  end)

  it('rejects a corrupt ag.tree in the metadata', function()
    local h = '{"__metadata__":{"ag.tree":"[[[\\"w\\"],\\"tensor\\",\\"nope\\"]]"},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    raw_file(path('tree'), h, 'z')
    raises('refers to a tensor nope that the file does not hold', load, path('tree'))
    h = '{"__metadata__":{"ag.tree":"[[[\\"a\\"],\\"number\\",\\"1\\"],[[\\"a\\",\\"b\\"],\\"number\\",\\"2\\"]]"}}'
    raw_file(path('tree2'), h, '')
    raises("'a.b' is both a value and a table", load, path('tree2'))
  end)
end)

describe('a process killed during ag.save', function()
  it('leaves the previous checkpoint whole and loadable', function()
    local dir = tmp.new()
    local path = dir .. '/ckpt.safetensors'
    local previous = {w = ag.randn(1000), step = 41}
    save(path, previous)
    local before = tmp.read(path)

    os.execute(string.format("luajit tests/fixtures/save_child.lua '%s' > '%s/log' 2>&1 & echo $! > '%s/pid'", path, dir, dir))
    local pid = tonumber(tmp.read(dir .. '/pid'))
    assert.is_number(pid)
    local tmpfile = string.format('%s.tmp.%d', path, pid)
    local size, deadline = 0, os.time() + 60
    while size < 8 * 1024 * 1024 and os.time() < deadline do   -- wait until 8 MB of 256 are written
      local f = io.open(tmpfile, 'rb')
      if f then size = f:seek('end'); f:close() end
    end
    os.execute('kill -9 ' .. pid)
    local gone = os.time() + 10
    while os.time() < gone and succeeded(os.execute('kill -0 ' .. pid .. ' 2>/dev/null')) do
      local st = tmp.run('cat /proc/' .. pid .. '/stat 2>/dev/null')
      if st:match('^%d+ %b() Z') then break end   -- a zombie: dead, not yet reaped
    end
    local log = tmp.read(dir .. '/log')
    local tmp_left = io.open(tmpfile, 'rb')
    local partial = tmp_left and tmp_left:seek('end')
    if tmp_left then tmp_left:close() end

    if os.getenv('AG_SPEC_VERBOSE') then
      print(string.format('killed at %d bytes written; the temporary file holds %s bytes', size, tostring(partial)))
    end
    local o = load(path)
    local after = tmp.read(path)
    tmp.remove(dir)

    assert.is_true(size >= 8 * 1024 * 1024, 'the child never got far into its save: ' .. log)
    assert.matches('saving', log)
    assert.is_nil(log:find('saved'), 'the child finished its save before the kill')
    assert.is_number(partial)        -- the half-written temporary file is all it left
    assert.is_true(partial < 256 * 1024 * 1024 + 4096)
    assert.are.equal(before, after)
    assert.is_true(o.w:equal(previous.w))
    assert.are.equal(41, o.step)
  end)
end)
