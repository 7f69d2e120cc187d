-- optim/init.lua: ag.optim: the optimizers (SGD, Adam, AdamW, RMSprop, Adagrad; each
-- update is one fused C kernel call per parameter), their base class Optimizer, and the
-- learning-rate schedulers in ag.optim.lr_scheduler.
--   local opt = ag.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
--   opt:zero_grad(); loss:backward(); opt:step()
local adam = require 'ag.optim.adam'

return {
  Optimizer = require 'ag.optim.optimizer',
  SGD = require 'ag.optim.sgd',
  Adam = adam.Adam,
  AdamW = adam.AdamW,
  RMSprop = require 'ag.optim.rmsprop',
  Adagrad = require 'ag.optim.adagrad',
  lr_scheduler = require 'ag.optim.lr_scheduler',
}
