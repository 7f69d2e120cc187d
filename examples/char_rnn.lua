-- char_rnn.lua: a character-level language model. Trains Embedding -> LSTM -> Linear on a
-- text (default: the fortune files of Debian's fortunes package) to predict the next
-- character, prints the training and held-out loss per epoch (nats per character), then
-- samples new text one character at a time with a temperature.
--   luajit examples/char_rnn.lua [--epochs 2] [--subset 200000] [--temperature 0.8] [--help]
local here = debug.getinfo(1, 'S').source:match('^@(.*)/[^/]*$') or '.'
package.path = here .. '/../lua/?.lua;' .. here .. '/../lua/?/init.lua;' .. package.path

local ag = require 'ag'
local nn, F, optim = require 'ag.nn', require 'ag.nn.functional', require 'ag.optim'
local data, datasets = require 'ag.data', require 'ag.datasets'
local Args = require 'ag.utils.args'
local Progress = require 'ag.utils.progress'

local opts, msg = Args.parse(arg, {
  {'path', '', 'text file or folder to learn (default: the fortunes)'},
  {'epochs', 2, 'number of epochs'},
  {'seq_len', 64, 'characters per training window (backpropagation through time)'},
  {'batch_size', 32, 'windows per mini-batch'},
  {'embed', 128, 'embedding size'},
  {'hidden', 256, 'LSTM hidden size'},
  {'lr', 2e-3, 'Adam learning rate'},
  {'clip', 5, 'clip the gradient norm to this (0: off)'},
  {'subset', 300000, 'learn only the first N characters (0: the whole text)'},
  {'temperature', 0.8, 'sampling temperature (lower: safer, higher: wilder)'},
  {'sample_len', 400, 'characters to sample after training'},
  {'prime', 'Q', 'text the sample starts from'},
  {'threads', 2, 'threads for ag (one OpenMP pool; GEMMs included)'},
  {'seed', 1, 'random seed'},
}, 'usage: luajit examples/char_rnn.lua [options]')
if not opts then print(msg) os.exit(msg:find('^usage') and 0 or 1) end
if opts.temperature <= 0 then error('--temperature must be > 0', 0) end
ag.set_num_threads(opts.threads)
ag.manual_seed(opts.seed)

-- the corpus: 90% for training, the last 10% held out, sharing one vocabulary
local full = datasets.text{path = opts.path ~= '' and opts.path or nil, seq_len = opts.seq_len}
local text = full.text
if opts.subset > 0 then text = text:sub(1, opts.subset) end
local cut = math.floor(#text * 0.9)
local train_set = datasets.text{text = text:sub(1, cut), seq_len = opts.seq_len, vocab = full.vocab}
local val_set = datasets.text{text = text:sub(cut + 1), seq_len = opts.seq_len, vocab = full.vocab}
local V = full.vocab_size
print(string.format('%d characters (%d training windows of %d), vocabulary of %d', #text, train_set:len(),
                    opts.seq_len, V))

local CharRNN = nn.Module:extend('CharRNN')
function CharRNN:init(vocab, embed, hidden)
  self.embed = nn.Embedding(vocab, embed)
  self.lstm = nn.LSTM(embed, hidden, {batch_first = true})
  self.head = nn.Linear(hidden, vocab)
end
-- ids [B, T] -> logits [B, T, V] and the LSTM state {h, c} after the last step
function CharRNN:forward(ids, state)
  local out, hc = self.lstm(self.embed(ids), state)
  return self.head(out), hc
end

local model = CharRNN(V, opts.embed, opts.hidden)
print(model)
local optimizer = optim.Adam(model:parameters(), {lr = opts.lr})
local train_loader = data.DataLoader(train_set, {batch_size = opts.batch_size, shuffle = true, seed = opts.seed,
                                                 drop_last = true})
local val_loader = data.DataLoader(val_set, {batch_size = opts.batch_size})

local function loss_of(x, y)
  local logits = model(x)
  return F.cross_entropy(logits:reshape(-1, V), y:reshape(-1))
end

local function evaluate()
  model:eval()
  local sum, n = 0, 0
  ag.no_grad(function()
    for x, y in val_loader:iter() do
      sum, n = sum + loss_of(x, y):item() * y:numel(), n + y:numel()
    end
  end)
  model:train()
  return n > 0 and sum / n or 0 / 0
end

print(string.format('loss before training: %.4f (uniform guess: ln %d = %.4f)', evaluate(), V, math.log(V)))
for epoch = 1, opts.epochs do
  local bar = Progress.new{total = train_loader:len(), title = string.format('epoch %d/%d', epoch, opts.epochs)}
  local sum, n = 0, 0
  for x, y in train_loader:iter() do
    local loss = loss_of(x, y)
    optimizer:zero_grad()
    loss:backward()
    if opts.clip > 0 then nn.utils.clip_grad_norm_(model:parameters(), opts.clip) end
    optimizer:step()
    local l = loss:item()
    sum, n = sum + l, n + 1
    bar:update(y:numel(), l)
  end
  local secs = bar:finish()
  print(string.format('epoch %d: train loss %.4f  val loss %.4f  (%.1fs)', epoch, sum / n, evaluate(), secs))
end

-- sampling: feed the prime, then draw each next character from softmax(logits / T)
local function draw(probs)   -- probs: a Lua list summing to 1
  local u, acc = ag.rand(1):item(), 0
  for i = 1, #probs do
    acc = acc + probs[i]
    if u < acc then return i end
  end
  return #probs
end

model:eval()
local prime = opts.prime ~= '' and opts.prime or full.vocab[1]
local out = {prime}
ag.no_grad(function()
  local logits, state = model(full:encode(prime):view(1, -1))
  local last = logits:select(2, logits.shape[2]):squeeze(1)
  for _ = 1, opts.sample_len do
    local id = draw(F.softmax(last / opts.temperature, 1):totable())
    out[#out + 1] = full.vocab[id]
    logits, state = model(ag.tensor({{id}}, {dtype = 'int64'}), state)
    last = logits:view(-1)
  end
end)
print(string.format('--- sample (temperature %g) ---', opts.temperature))
print(table.concat(out))
