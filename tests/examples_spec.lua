-- examples_spec.lua: the CI smoke runs of examples/. Each example runs as a child process
-- (`luajit examples/X.lua ...`, with AG_LIBRARY passed through) on a small subset, and the
-- spec checks its exit status and that it really learnt something: regression recovers
-- the line, char_rnn's loss falls, fashion_mnist writes a loadable checkpoint and curves
-- and beats chance by far.
local ag = require 'ag'

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- runs `luajit examples/<name> <args>` from the repository root; returns status, output
local function run(name, args)
  local env = os.getenv('AG_LIBRARY')
  local cmd = (env and ('AG_LIBRARY=' .. sh_quote(env) .. ' ') or '') .. 'luajit examples/' .. name .. ' ' ..
              (args or '') .. ' 2>&1; echo "EXIT_STATUS=$?"'
  local p = assert(io.popen(cmd))
  local out = p:read('*a')
  p:close()
  local status = tonumber(out:match('EXIT_STATUS=(%d+)%s*$'))
  return status, out:gsub('EXIT_STATUS=%d+%s*$', '')
end

local function tmpdir()
  local p = io.popen('mktemp -d')
  local d = p:read('*l')
  p:close()
  return d
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

local function slurp(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

-- a small learnable corpus: a few sentences repeated with variations
local function write_corpus(path)
  local words = {'the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'to', 'its', 'bed'}
  local lines, seed = {}, 7
  for i = 1, 600 do
    local w = {}
    for k = 1, 6 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      w[k] = words[math.floor(seed / 65536) % #words + 1]
    end
    lines[i] = table.concat(w, ' ') .. '.'
  end
  local f = assert(io.open(path, 'wb'))
  f:write(table.concat(lines, '\n'), '\n')
  f:close()
end

describe('examples/regression.lua', function()
  it('fits y = 3x - 2 + noise: the learnt weight is about 3 and the bias about -2', function()
    local status, out = run('regression.lua')
    assert.are.equal(0, status, out)
    local w, b = out:match('weight (%-?[%d.]+).-bias (%-?[%d.]+)')
    assert.is_not_nil(w, out)
    assert.is_true(math.abs(tonumber(w) - 3) < 0.05, out)
    assert.is_true(math.abs(tonumber(b) + 2) < 0.05, out)
  end)

  it('prints a falling loss, ending near the noise variance 0.01', function()
    local status, out = run('regression.lua', '100')
    assert.are.equal(0, status, out)
    local losses = {}
    for l in out:gmatch('loss ([%d.]+)') do losses[#losses + 1] = tonumber(l) end
    assert.are.equal(2, #losses, out)           -- steps 50 and 100
    assert.is_true(losses[2] < 0.02, out)
  end)
end)

describe('examples/char_rnn.lua', function()
  local dir = tmpdir()
  local corpus = dir .. '/corpus.txt'
  write_corpus(corpus)

  it('--help lists the options and exits 0', function()
    local status, out = run('char_rnn.lua', '--help')
    assert.are.equal(0, status, out)
    for _, o in ipairs({'--epochs', '--seq-len', '--batch-size', '--hidden', '--lr', '--temperature',
                        '--sample-len', '--subset', '--seed'}) do
      assert.is_truthy(out:find(o, 1, true), o .. ' missing from:\n' .. out)
    end
  end)

  it('an unknown option is an error naming it, with exit status 1', function()
    local status, out = run('char_rnn.lua', '--hiden 3')
    assert.are.equal(1, status, out)
    assert.is_truthy(out:find('unknown option --hiden', 1, true), out)
  end)

  it('trains on a text file: the loss falls from ln(vocab) epoch by epoch, then it samples', function()
    local status, out = run('char_rnn.lua', '--path ' .. sh_quote(corpus) .. ' --epochs 3 --subset 12000 ' ..
                            '--seq-len 32 --batch-size 16 --embed 16 --hidden 64 --lr 0.01 --sample-len 60 ' ..
                            '--prime the --temperature 0.5')
    assert.are.equal(0, status, out)
    local before, uniform = out:match('loss before training: ([%d.]+) %(uniform guess: ln %d+ = ([%d.]+)%)')
    assert.is_not_nil(before, out)
    assert.is_true(math.abs(tonumber(before) - tonumber(uniform)) < 0.2, out)   -- an untrained model guesses
    local train, val = {}, {}
    for e, t, v in out:gmatch('epoch (%d+): train loss ([%d.]+)%s+val loss ([%d.]+)') do
      train[tonumber(e)], val[tonumber(e)] = tonumber(t), tonumber(v)
    end
    assert.are.equal(3, #train, out)
    assert.is_true(train[2] < train[1] and train[3] < train[2], out)
    assert.is_true(val[3] < val[1], out)
    assert.is_true(val[3] < tonumber(before) - 1.0, out)          -- far below guessing
    local sample = out:match('%-%-%- sample %(temperature 0.5%) %-%-%-\n(.*)$')
    assert.is_not_nil(sample, out)
    assert.are.equal('the', sample:sub(1, 3))
    assert.is_true(#sample >= 63, out)                            -- prime + 60 characters (+ newline)
  end)

  it('trains on the default corpus (the fortunes) for a few hundred characters', function()
    if not exists('/usr/share/games/fortunes/fortunes') then
      pending('the default corpus needs Debian\'s fortunes package (apt-get install fortunes)')
      return
    end
    local status, out = run('char_rnn.lua', '--epochs 1 --subset 3000 --seq-len 16 --batch-size 8 --embed 8 ' ..
                            '--hidden 16 --sample-len 20')
    assert.are.equal(0, status, out)
    assert.is_truthy(out:match('epoch 1: train loss [%d.]+%s+val loss [%d.]+'), out)
    assert.is_truthy(out:find('--- sample', 1, true), out)
  end)

  it('refuses a temperature of 0 with a message', function()
    local status, out = run('char_rnn.lua', '--path ' .. sh_quote(corpus) .. ' --temperature 0')
    assert.are_not.equal(0, status, out)
    assert.is_truthy(out:find('--temperature must be > 0', 1, true), out)
  end)
end)

describe('examples/fashion_mnist.lua', function()
  local have_data = exists('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz')

  it('one epoch on 2000 images: exit 0, a checkpoint ag.load reads, curves.svg, accuracy > 0.5', function()
    if not have_data then
      pending('needs Debian\'s dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)')
      return
    end
    local dir = tmpdir()
    local status, out = run('fashion_mnist.lua', '--epochs 1 --subset 2000 --out ' .. sh_quote(dir))
    assert.are.equal(0, status, out)
    local acc = tonumber(out:match('final test accuracy ([%d.]+)'))
    assert.is_not_nil(acc, out)
    assert.is_true(acc > 0.5, out)

    local ck = ag.load(dir .. '/checkpoint.safetensors')
    assert.are.equal(1, ck.epoch)
    assert.are.equal(acc, tonumber(string.format('%.4f', ck.history.test_acc[1])))
    -- the MLP's first Linear (784 -> 512) is in the state dict and loads back into a model
    local shapes = {}
    for k, v in pairs(ck.model) do shapes[k] = table.concat(v.shape, 'x') end
    local found = false
    for _, s in pairs(shapes) do found = found or s == '512x784' end
    assert.is_true(found, 'no 512x784 weight in the checkpoint')
    local nn = require 'ag.nn'
    local m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                            nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    m:load_state_dict(ck.model)
    assert.are.equal(ck.model['7.bias']:sum():item(), m:parameters()[6]:sum():item())

    local svg = slurp(dir .. '/curves.svg')
    assert.is_truthy(svg:find('<svg', 1, true))
    assert.is_truthy(svg:find('</svg>', 1, true))
    assert.is_truthy(svg:find('accuracy', 1, true))
  end)

  it('--help exits 0 and lists --epochs and --subset', function()
    local status, out = run('fashion_mnist.lua', '--help')
    assert.are.equal(0, status, out)
    assert.is_truthy(out:find('--epochs', 1, true))
    assert.is_truthy(out:find('--subset', 1, true))
  end)
end)
