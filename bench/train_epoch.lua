-- train_epoch.lua: epochs of the MLP 784-512-256-10 (batch 128, SGD lr 0.05 momentum 0.9)
-- on Fashion-MNIST's 60000 training images through ag.data.DataLoader (shuffled), against
-- PyTorch in the same run (bench/train_epoch.py). One warm-up epoch, then the median of
-- BENCH_EPOCHS (3) timed epochs, in seconds; target ag/torch <= 0.6. Peak RSS: VmHWM of
-- each process after its timed epochs (target: at most PyTorch's), with VmRSS after start-up
-- and after loading the data to show where it comes from. 2 threads each side
-- (BENCH_THREADS); BENCH_NO_TORCH=1 skips PyTorch. Prints RESULT lines, then a table.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'

local function status_kb(key)
  local f = assert(io.open('/proc/self/status'))
  local s = f:read('*a')
  f:close()
  return tonumber(s:match(key .. ':%s*(%d+)')) or 0
end

local ag = require 'ag'
local nn, F, optim = require 'ag.nn', require 'ag.nn.functional', require 'ag.optim'
local data, datasets = require 'ag.data', require 'ag.datasets'

local threads = tonumber(os.getenv('BENCH_THREADS')) or 2
ag.set_num_threads(threads)
ag.manual_seed(0)
local rss_import = status_kb('VmRSS')
local EPOCHS = tonumber(os.getenv('BENCH_EPOCHS')) or 3

local train = datasets.fashion_mnist{split = 'train', root = os.getenv('FASHION_MNIST')}
collectgarbage()
local rss_data, hwm_data = status_kb('VmRSS'), status_kb('VmHWM')
local loader = data.DataLoader(train, {batch_size = 128, shuffle = true, seed = 0})

local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                            nn.Linear(256, 10))
local opt = optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})

local function epoch()
  local total = 0
  for x, y in loader:iter() do
    local loss = F.cross_entropy(model(x), y)
    opt:zero_grad()
    loss:backward()
    opt:step()
    total = total + loss:item()
  end
  return total
end

local times = {}
for e = 0, EPOCHS do
  local t0 = U.now()
  epoch()
  if e > 0 then times[#times + 1] = U.now() - t0 end
end
table.sort(times)
local mine = {epoch = times[math.floor(#times / 2) + 1], epoch_min = times[1], rss_import = rss_import / 1024,
              rss_data = rss_data / 1024, hwm_data = hwm_data / 1024, peak = status_kb('VmHWM') / 1024}
U.result('train_epoch_mlp_s', mine.epoch)
U.result('train_epoch_mlp_min_s', mine.epoch_min)
U.result('rss_import_mb', mine.rss_import)
U.result('rss_data_mb', mine.rss_data)
U.result('peak_rss_data_mb', mine.hwm_data)
U.result('peak_rss_mb', mine.peak)

if os.getenv('BENCH_NO_TORCH') ~= '1' then
  local theirs = {}
  for _, line in ipairs(U.torch_lines('train_epoch.py')) do   -- PyTorch's better number of its two runs
    print(line)
    local k, v = line:match('^RESULT (%S+)_torch (%S+)')
    if k then theirs[k] = math.min(theirs[k] or math.huge, tonumber(v)) end
  end
  local function row(name, a, t, unit, target)
    io.stderr:write(string.format('%-34s %10s %10s %7s %8s\n', name .. ' (' .. unit .. ')', string.format('%.2f', a),
                                  t and string.format('%.2f', t) or '-', t and string.format('%.2f', a / t) or '-',
                                  target or ''))
  end
  io.stderr:write(string.format('%-34s %10s %10s %7s %8s\n', 'MLP epoch, 60000 images', 'ag', 'torch', 'ratio',
                                'target'))
  row('epoch, median', mine.epoch, theirs.train_epoch_mlp_s, 's', '<= 0.6')
  row('epoch, min', mine.epoch_min, theirs.train_epoch_mlp_min_s, 's')
  row('epoch, torch DataLoader', mine.epoch, theirs.train_epoch_mlp_dataloader_s, 's')
  row('RSS after start-up', mine.rss_import, theirs.rss_import_mb, 'MB')
  row('RSS after loading the data', mine.rss_data, theirs.rss_data_mb, 'MB')
  row('peak RSS (VmHWM) after loading', mine.hwm_data, theirs.peak_rss_data_mb, 'MB')
  row('peak RSS (VmHWM) after training', mine.peak, theirs.peak_rss_mb, 'MB', '<= 1')
  io.stderr:write(string.format('threads: %d each side; 1 warm-up + %d timed epochs\n', threads, EPOCHS))
end
