-- data_spec.lua: ag.data (Dataset, TensorDataset, Subset, random_split, DataLoader,
-- default_collate) and ag.datasets (fashion_mnist, text). Expected values are computed
-- another way: rows picked with select, raw IDX bytes from `gzip -dc`, the text itself.
local ag = require 'ag'
local data = require 'ag.data'
local datasets = require 'ag.datasets'
local tmp = require 'tests.fixtures.tmpdir'

local FM = '/usr/share/datasets/fashion-mnist'

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, 'expected an error matching ' .. pattern)
  assert.matches(pattern, tostring(err))
end

-- the first column of a TensorDataset of (arange ids, ...) batches, as a Lua list
local function ids_of(loader)
  local seen = {}
  for x in loader:iter() do
    for _, v in ipairs(x:select(2, 1):totable()) do seen[#seen + 1] = v end
  end
  return seen
end

describe('ag.data.Dataset', function()
  it('is subclassed with extend and called to construct, running init', function()
    local Squares = data.Dataset:extend('Squares')
    function Squares:init(n) self.n = n end
    function Squares:len() return self.n end
    function Squares:get(i) return i * i, {label = i % 2 == 0} end
    local ds = Squares(5)
    assert.are.equal(5, ds:len())
    local a, b = ds:get(3)
    assert.are.equal(9, a)
    assert.is_false(b.label)
    assert.are.equal('Squares(5 samples)', tostring(ds))
  end)

  it('says what a subclass must define', function()
    local Empty = data.Dataset:extend('Empty')
    raises('Empty: a Dataset must define len%(%)', function() return Empty():len() end)
    raises('Empty: a Dataset must define get%(i%)', function() return Empty():get(1) end)
  end)
end)

describe('ag.data.TensorDataset', function()
  local x = ag.arange(0, 24, {dtype = 'float32'}):view(6, 4)
  local y = ag.arange(1, 7)

  it('has one sample per row and returns each tensor\'s row', function()
    local ds = data.TensorDataset(x, y)
    assert.are.equal(6, ds:len())
    local xi, yi = ds:get(3)
    assert.are.same({8, 9, 10, 11}, xi:totable())
    assert.are.equal(3, yi:item())
  end)

  it('gathers a batch of rows equal to the rows picked one by one', function()
    local ds = data.TensorDataset(x, y)
    local bx, by = ds:get_batch({5, 2, 2, 6})
    assert.are.same({4, 4}, bx.shape)
    for k, i in ipairs({5, 2, 2, 6}) do
      assert.is_true(bx[k]:equal(x[i]))
      assert.are.equal(y[i]:item(), by[k]:item())
    end
    local cx = ds:get_batch({2, 3, 4})   -- a run of consecutive rows
    assert.is_true(cx:equal(x:narrow(1, 2, 3)))
  end)

  it('copies the batch, so changing it leaves the dataset as it was', function()
    local ds = data.TensorDataset(x:clone())
    local b = ds:get_batch({1, 2})
    b:fill_(-1)
    assert.are.same({0, 1, 2, 3}, ds:get(1):totable())
  end)

  it('takes non-contiguous tensors', function()
    local xt = ag.arange(0, 12, {dtype = 'float32'}):view(3, 4):t()   -- 4 x 3, not contiguous
    local ds = data.TensorDataset(xt)
    assert.are.same({1, 5, 9}, ds:get_batch({2}):select(1, 1):totable())
  end)

  it('rejects tensors of different lengths and indices out of range', function()
    raises('size mismatch between tensors: tensor 1 has 6 rows, tensor 2 has 5',
           data.TensorDataset, x, ag.zeros(5))
    local ds = data.TensorDataset(x, y)
    raises('index 7 is out of range for a dataset of 6 samples', ds.get, ds, 7)
    raises('index 0 is out of range', ds.get_batch, ds, {1, 0})
  end)
end)

describe('ag.data.DataLoader', function()
  local n = 10
  local ds = data.TensorDataset(ag.arange(1, n + 1):view(n, 1), ag.arange(1, n + 1):to('float32'))

  it('yields batches in order without shuffle, the last one short', function()
    local loader = data.DataLoader(ds, {batch_size = 4})
    assert.are.equal(3, loader:len())
    local sizes = {}
    for xb, yb in loader:iter() do
      sizes[#sizes + 1] = xb.shape[1]
      assert.are.equal(xb.shape[1], yb.shape[1])
      assert.are.equal('float32', yb.dtype)
    end
    assert.are.same({4, 4, 2}, sizes)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ids_of(loader))
  end)

  it('drops the short batch with drop_last', function()
    local loader = data.DataLoader(ds, {batch_size = 4, drop_last = true})
    assert.are.equal(2, loader:len())
    assert.are.equal(8, #ids_of(loader))
  end)

  it('shuffles into a permutation, reproducibly from a seed, different each epoch', function()
    local a = data.DataLoader(ds, {batch_size = 3, shuffle = true, generator = 42})
    local b = data.DataLoader(ds, {batch_size = 3, shuffle = true, generator = 42})
    local c = data.DataLoader(ds, {batch_size = 3, shuffle = true, generator = 43})
    local a1, a2, b1, b2, c1 = ids_of(a), ids_of(a), ids_of(b), ids_of(b), ids_of(c)
    assert.are.same(a1, b1)
    assert.are.same(a2, b2)
    assert.are_not.same(a1, a2)
    assert.are_not.same(a1, c1)
    local sorted = {unpack(a1)}
    table.sort(sorted)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, sorted)
  end)

  it('keeps its generator apart from the global one', function()
    ag.manual_seed(5)
    local expected = ag.rand(3)
    ag.manual_seed(5)
    local loader = data.DataLoader(ds, {batch_size = 2, shuffle = true, generator = 1})
    ids_of(loader)
    assert.is_true(ag.rand(3):equal(expected))
  end)

  it('shuffles from the global generator without a seed, reproducible with ag.manual_seed', function()
    local loader = data.DataLoader(ds, {batch_size = 5, shuffle = true})
    ag.manual_seed(11)
    local first = ids_of(loader)
    ag.manual_seed(11)
    assert.are.same(first, ids_of(loader))
  end)

  it('resumes the same order from its state_dict', function()
    local a = data.DataLoader(ds, {batch_size = 4, shuffle = true, generator = 9})
    ids_of(a)
    local saved = a:state_dict()
    local next_epoch = ids_of(a)
    local b = data.DataLoader(ds, {batch_size = 4, shuffle = true, generator = 123})
    b:load_state_dict(saved)
    assert.are.same(next_epoch, ids_of(b))
  end)

  it('batches any dataset through get(i) and the default collate', function()
    local Pairs = data.Dataset:extend('Pairs')
    function Pairs:len() return 5 end
    function Pairs:get(i)
      return ag.full({2, 3}, i), i, {w = i / 2, tag = 'n' .. i}
    end
    local loader = data.DataLoader(Pairs(), {batch_size = 2})
    local it = loader:iter()
    local xb, ib, rest = it()
    assert.are.same({2, 2, 3}, xb.shape)
    assert.is_true(xb[2]:equal(ag.full({2, 3}, 2)))
    assert.are.equal('int64', ib.dtype)
    assert.are.same({1, 2}, ib:totable())
    assert.are.equal('float64', rest.w.dtype)
    assert.are.same({0.5, 1}, rest.w:totable())
    assert.are.same({'n1', 'n2'}, rest.tag)
    it(); local x3 = it()
    assert.are.same({1, 2, 3}, x3.shape)
    assert.is_nil(it())
  end)

  it('passes the samples to a collate_fn and yields what it returns', function()
    local seen
    local loader = data.DataLoader(ds, {batch_size = 3, collate_fn = function(samples)
      seen = samples
      return #samples, 'custom'
    end})
    local count, tag = loader:iter()()
    assert.are.equal(3, count)
    assert.are.equal('custom', tag)
    assert.are.equal(2, seen[1].n)
    assert.are.equal(3, seen[3][2]:item())
  end)

  it('says which sample does not match when stacking', function()
    local Ragged = data.Dataset:extend('Ragged')
    function Ragged:len() return 2 end
    function Ragged:get(i) return ag.zeros(i) end
    raises('sample 2 has shape %[2%] and dtype float32, sample 1 has shape %[1%]',
           function() return data.DataLoader(Ragged(), {batch_size = 2}):iter()() end)
  end)

  it('checks its options', function()
    raises('unknown option \'batchsize\'', data.DataLoader, ds, {batchsize = 3})
    raises('batch_size must be a positive integer', data.DataLoader, ds, {batch_size = 0})
    raises('argument 1 must be a dataset', data.DataLoader, {}, {})
  end)
end)

describe('ag.data.Subset and random_split', function()
  local ds = data.TensorDataset(ag.arange(1, 11):view(10, 1))

  it('Subset maps its indices into the dataset', function()
    local s = data.Subset(ds, {10, 3, 5})
    assert.are.equal(3, s:len())
    assert.are.equal(3, s:get(2):item())
    assert.are.same({{5}, {10}}, s:get_batch({3, 1}):totable())
  end)

  it('random_split partitions the dataset, reproducibly from a seed', function()
    local parts = data.random_split(ds, {0.7, 0.3}, {seed = 1})
    assert.are.equal(7, parts[1]:len())
    assert.are.equal(3, parts[2]:len())
    local all = {}
    for _, p in ipairs(parts) do for _, v in ipairs(ids_of(data.DataLoader(p, {batch_size = 4}))) do all[#all + 1] = v end end
    table.sort(all)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, all)
    local again = data.random_split(ds, {7, 3}, {seed = 1})
    assert.are.same(parts[2].indices, again[2].indices)
    raises('the lengths sum to 9', data.random_split, ds, {5, 4})
  end)
end)

describe('ag.datasets.fashion_mnist', function()
  it('loads the test split as float32 N x 1 x 28 x 28 in [0, 1] and int64 labels 1..10', function()
    local ds = datasets.fashion_mnist{split = 'test'}
    assert.are.equal(10000, ds:len())
    assert.are.same({10000, 1, 28, 28}, ds.images.shape)
    assert.are.equal('float32', ds.images.dtype)
    assert.are.same({10000}, ds.labels.shape)
    assert.are.equal('int64', ds.labels.dtype)
    assert.are.equal(0, ds.images:amin():item())
    assert.are.equal(1, ds.images:amax():item())
    assert.are.equal(1, ds.labels:amin():item())
    assert.are.equal(10, ds.labels:amax():item())
    assert.are.equal('Ankle boot', ds.classes[10])
  end)

  it('matches the raw bytes of the first test image and label (read with gzip -dc)', function()
    local img = tmp.run("gzip -dc '" .. FM .. "/t10k-images-idx3-ubyte.gz' | head -c 800")
    local lbl = tmp.run("gzip -dc '" .. FM .. "/t10k-labels-idx1-ubyte.gz' | head -c 9")
    local ds = datasets.fashion_mnist{split = 'test'}
    local x, y = ds:get(1)
    assert.are.equal(lbl:byte(9) + 1, y:item())    -- 0-based class 9, ankle boot -> 10
    assert.are.equal(10, y:item())
    local sum, checked = 0, 0
    for r = 1, 28 do
      for c = 1, 28 do
        local b = img:byte(16 + (r - 1) * 28 + c)
        sum = sum + b
        if b ~= 0 and checked < 20 then
          -- b / 255 rounded to float32 (as PyTorch's ToTensor), within half an ulp
          assert.is_true(math.abs(x[1][r][c]:item() - b / 255) < 6e-8)
          checked = checked + 1
        end
      end
    end
    assert.are.equal(20, checked)
    assert.is_true(math.abs(x:to('float64'):sum():item() * 255 - sum) < 1e-3)
  end)

  it('loads the training split', function()
    local ds = datasets.fashion_mnist{split = 'train'}
    assert.are.same({60000, 1, 28, 28}, ds.images.shape)
    assert.are.equal(10, ds.labels[1]:item())   -- the first training image is an ankle boot too
  end)

  it('keeps the first `limit` samples', function()
    local ds = datasets.fashion_mnist{split = 'test', limit = 100}
    assert.are.equal(100, ds:len())
  end)

  it('batches through a DataLoader', function()
    local ds = datasets.fashion_mnist{split = 'test', limit = 300}
    local loader = data.DataLoader(ds, {batch_size = 128, shuffle = true, generator = 0})
    local n = 0
    for x, y in loader:iter() do
      assert.are.same({1, 28, 28}, {x.shape[2], x.shape[3], x.shape[4]})
      n = n + y.shape[1]
    end
    assert.are.equal(300, n)
  end)

  it('says which package to install when the files are missing', function()
    raises('apt%-get install dataset%-fashion%-mnist', datasets.fashion_mnist, {root = '/nonexistent/fm'})
    raises("split must be 'train' or 'test'", datasets.fashion_mnist, {split = 'valid'})
  end)

  it('raises on a truncated file instead of returning a garbage tensor', function()
    local dir = tmp.new()
    local whole = tmp.read(FM .. '/t10k-images-idx3-ubyte.gz')
    tmp.write(dir .. '/t10k-images-idx3-ubyte.gz', whole:sub(1, 100000))
    os.execute(string.format("cp '%s/t10k-labels-idx1-ubyte.gz' '%s/'", FM, dir))
    local ok, err = pcall(datasets.fashion_mnist, {split = 'test', root = dir})
    tmp.remove(dir)
    assert.is_false(ok)
    assert.matches('truncated', err)
  end)
end)

describe('ag.datasets.text', function()
  local path = 'tests/fixtures/tiny.txt'
  local text = 'hello world\nthe quick brown fox\n'

  it('builds a sorted byte vocabulary and windows shifted by one', function()
    local ds = datasets.text{path = path, seq_len = 5}
    local chars = {}
    for ch in text:gmatch('.') do chars[ch] = true end
    local want = {}
    for ch in pairs(chars) do want[#want + 1] = ch end
    table.sort(want)
    assert.are.same(want, ds.vocab)
    assert.are.equal(#want, ds.vocab_size)
    assert.are.equal(math.floor((#text - 1 - 5) / 5) + 1, ds:len())
    local x, y = ds:get(2)
    assert.are.equal(text:sub(6, 10), ds:decode(x))
    assert.are.equal(text:sub(7, 11), ds:decode(y))
    assert.are.equal('int64', x.dtype)
    assert.are.equal(1, ds:encode('\n'):item())   -- the smallest byte gets id 1
  end)

  it('encodes and decodes', function()
    local ds = datasets.text{path = path, seq_len = 4}
    assert.are.equal('quick fox', ds:decode(ds:encode('quick fox')))
    raises('not in the vocabulary', ds.encode, ds, 'Z')
  end)

  it('batches windows as B x seq_len, equal to get(i)', function()
    local ds = datasets.text{path = path, seq_len = 6, stride = 3}
    local loader = data.DataLoader(ds, {batch_size = 4, shuffle = true, generator = 3})
    local total = 0
    for x, y in loader:iter() do
      assert.are.equal(6, x.shape[2])
      assert.is_true(x:narrow(2, 2, 5):equal(y:narrow(2, 1, 5)))
      total = total + x.shape[1]
    end
    assert.are.equal(ds:len(), total)
    local bx = ds:get_batch({3})
    assert.is_true(bx[1]:equal((ds:get(3))))
  end)

  it('reads the fortunes by default', function()
    local ds = datasets.text{seq_len = 100}
    assert.is_true(ds:len() > 10000)
    assert.is_true(ds.vocab_size > 60)
    assert.truthy(ds.text:find('\n%%\n'))    -- fortunes are separated by % lines
    local x = ds:get(1)
    assert.are.equal(ds.text:sub(1, 100), ds:decode(x))
  end)

  it('says what is wrong with its arguments', function()
    raises('cannot read', datasets.text, {path = '/nonexistent.txt'})
    raises('seq_len must be a positive integer', datasets.text, {path = path, seq_len = 0})
  end)
end)
