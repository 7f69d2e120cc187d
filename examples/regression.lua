-- regression.lua: the smallest complete example. Fits y = 3x - 2 + noise with one
-- nn.Linear(1, 1), MSE loss and plain SGD, then prints the weight and bias it learnt.
--   luajit examples/regression.lua [steps]
local here = debug.getinfo(1, 'S').source:match('^@(.*)/[^/]*$') or '.'
package.path = here .. '/../lua/?.lua;' .. here .. '/../lua/?/init.lua;' .. package.path
local ag = require 'ag'
local nn, optim = require 'ag.nn', require 'ag.optim'

ag.manual_seed(0)
local x = ag.rand(256, 1) * 4 - 2                     -- 256 points in [-2, 2)
local y = 3 * x - 2 + 0.1 * ag.randn(256, 1)          -- the line plus a little noise

local model = nn.Linear(1, 1)
local loss_fn = nn.MSELoss()
local opt = optim.SGD(model:parameters(), {lr = 0.1})

for step = 1, tonumber(arg[1]) or 200 do
  local loss = loss_fn(model(x), y)
  opt:zero_grad()
  loss:backward()
  opt:step()
  if step % 50 == 0 then print(string.format('step %4d  loss %.5f', step, loss:item())) end
end
print(string.format('weight %.4f (true 3)  bias %.4f (true -2)', model.weight:item(), model.bias:item()))
