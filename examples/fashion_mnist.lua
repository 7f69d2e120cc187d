-- fashion_mnist.lua: the main job. Trains an MLP (default) or a small CNN on Fashion-MNIST
-- from Debian's dataset-fashion-mnist, with a live progress bar, per-epoch test accuracy,
-- a cosine learning-rate schedule, a checkpoint per epoch (resumable with --resume) and the
-- loss/accuracy curves as SVG.
--   luajit examples/fashion_mnist.lua [--model mlp|cnn] [--epochs 10] [--help]
local here = debug.getinfo(1, 'S').source:match('^@(.*)/[^/]*$') or '.'
package.path = here .. '/../lua/?.lua;' .. here .. '/../lua/?/init.lua;' .. package.path

local ag = require 'ag'
local nn, F, optim = require 'ag.nn', require 'ag.nn.functional', require 'ag.optim'
local data, datasets = require 'ag.data', require 'ag.datasets'
local Args = require 'ag.utils.args'
local Progress = require 'ag.utils.progress'
local Plot = require 'ag.utils.plot'

local opts, msg = Args.parse(arg, {
  {'model', 'mlp', 'mlp (784-512-256-10) or cnn (2 conv + pool + BN, 2 FC)'},
  {'epochs', 10, 'number of epochs'},
  {'batch_size', 128, 'mini-batch size'},
  {'lr', 0, 'learning rate (0: 1e-3 for adam, 0.05 for sgd)'},
  {'optimizer', 'adam', 'adam or sgd (momentum 0.9)'},
  {'threads', 2, 'threads for ag (one OpenMP pool; GEMMs included)'},
  {'seed', 1, 'random seed'},
  {'subset', 0, 'use only the first N training and N/6 test images (0: all)'},
  {'resume', '', 'checkpoint to resume from'},
  {'out', 'runs/fashion_mnist', 'folder for checkpoints and curves'},
}, 'usage: luajit examples/fashion_mnist.lua [options]')
if not opts then print(msg) os.exit(msg:find('^usage') and 0 or 1) end

ag.set_num_threads(opts.threads)
ag.manual_seed(opts.seed)
os.execute('mkdir -p "' .. opts.out .. '"')

local function mlp()
  return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                       nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
end
local function cnn()
  return nn.Sequential(nn.Conv2d(1, 32, 3, {padding = 1}), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                       nn.Conv2d(32, 64, 3, {padding = 1}), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                       nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
end
local builders = {mlp = mlp, cnn = cnn}
if not builders[opts.model] then error("--model must be mlp or cnn, got " .. opts.model, 0) end
local model = builders[opts.model]()
print(model)

local lr = opts.lr > 0 and opts.lr or (opts.optimizer == 'sgd' and 0.05 or 1e-3)
local optimizer
if opts.optimizer == 'sgd' then optimizer = optim.SGD(model:parameters(), {lr = lr, momentum = 0.9})
elseif opts.optimizer == 'adam' then optimizer = optim.Adam(model:parameters(), {lr = lr})
else error("--optimizer must be adam or sgd, got " .. opts.optimizer, 0) end

-- the learning rate follows a cosine from lr down to 0 over the epochs, stepped per epoch
local scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, opts.epochs)

local limit_train = opts.subset > 0 and opts.subset or nil
local limit_test = opts.subset > 0 and math.max(1, math.floor(opts.subset / 6)) or nil
local train_set = datasets.fashion_mnist{split = 'train', limit = limit_train}
local test_set = datasets.fashion_mnist{split = 'test', limit = limit_test}
local train_loader = data.DataLoader(train_set, {batch_size = opts.batch_size, shuffle = true, seed = opts.seed})
local test_loader = data.DataLoader(test_set, {batch_size = 1000})

local history = {train_loss = {}, test_loss = {}, test_acc = {}}
local start_epoch = 1
if opts.resume ~= '' then
  local ck = ag.load(opts.resume)
  model:load_state_dict(ck.model)
  optimizer:load_state_dict(ck.optimizer)
  scheduler:load_state_dict(ck.scheduler)
  train_loader:load_state_dict(ck.loader)
  ag.set_rng_state(ck.rng)
  history = ck.history
  start_epoch = ck.epoch + 1
  print(string.format('resumed from %s at epoch %d', opts.resume, ck.epoch))
end

local function evaluate()
  model:eval()
  local correct, total, loss_sum = 0, 0, 0
  ag.no_grad(function()
    for x, y in test_loader:iter() do
      local logits = model(x)
      loss_sum = loss_sum + F.cross_entropy(logits, y, {reduction = 'sum'}):item()
      correct = correct + logits:argmax(2):eq(y):sum():item()
      total = total + y:numel()
    end
  end)
  model:train()
  return loss_sum / total, correct / total
end

for epoch = start_epoch, opts.epochs do
  model:train()
  local bar = Progress.new{total = train_loader:len(), title = string.format('epoch %d/%d', epoch, opts.epochs)}
  local loss_sum, seen = 0, 0
  for x, y in train_loader:iter() do
    local loss = F.cross_entropy(model(x), y)
    optimizer:zero_grad()
    loss:backward()
    optimizer:step()
    local l = loss:item()
    loss_sum, seen = loss_sum + l * y:numel(), seen + y:numel()
    bar:update(y:numel(), l)
  end
  local secs = bar:finish()
  scheduler:step()
  local test_loss, test_acc = evaluate()
  history.train_loss[epoch], history.test_loss[epoch], history.test_acc[epoch] = loss_sum / seen, test_loss, test_acc
  print(string.format('epoch %d: train loss %.4f  test loss %.4f  test accuracy %.4f  (%.1fs, %.0f samples/s)',
                      epoch, loss_sum / seen, test_loss, test_acc, secs, seen / secs))
  ag.save(opts.out .. '/checkpoint.safetensors', {model = model:state_dict(), optimizer = optimizer:state_dict(),
          scheduler = scheduler:state_dict(),
          loader = train_loader:state_dict(), rng = ag.get_rng_state(), history = history, epoch = epoch})
  Plot.svg(opts.out .. '/curves.svg', {
    {title = 'loss', xlabel = 'epoch', series = {{name = 'train', y = history.train_loss}, {name = 'test', y = history.test_loss}}},
    {title = 'test accuracy', xlabel = 'epoch', series = {{name = opts.model, y = history.test_acc}}},
  })
end
print(string.format('final test accuracy %.4f; checkpoint %s/checkpoint.safetensors, curves %s/curves.svg',
                    history.test_acc[opts.epochs] or 0, opts.out, opts.out))
