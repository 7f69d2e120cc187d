-- resume_spec.lua: resuming from a checkpoint (model, optimizer, scheduler, data order, RNG
-- state and epoch, saved with ag.save) continues training exactly: the loss curve matches
-- an uninterrupted run step for step.
local ag = require 'ag'
local nn, F, optim, data = ag.nn, ag.nn.functional, ag.optim, ag.data

local function setup()
  ag.manual_seed(5)
  local X = ag.randn(96, 6)
  local Y = (X:narrow(2, 1, 1) * 2):gt(0):long():view(-1) + 1          -- classes 1..2
  local model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 2))
  local opt = optim.Adam(model:parameters(), {lr = 0.01})
  local sched = optim.lr_scheduler.StepLR(opt, {step_size = 5, gamma = 0.5})
  local loader = data.DataLoader(data.TensorDataset(X, Y), {batch_size = 16, shuffle = true, seed = 9})
  return model, opt, sched, loader
end

local function epoch(model, opt, sched, loader, losses)
  for x, y in loader:iter() do
    local loss = F.cross_entropy(model(x), y)
    opt:zero_grad()
    loss:backward()
    opt:step()
    sched:step()
    losses[#losses + 1] = loss:item()
  end
end

describe("resuming training from a checkpoint", function()
  it("reproduces the uninterrupted loss curve exactly", function()
    local straight = {}
    local m, o, s, l = setup()
    for _ = 1, 3 do epoch(m, o, s, l, straight) end

    local resumed = {}
    m, o, s, l = setup()
    epoch(m, o, s, l, resumed)
    local path = os.tmpname()
    ag.save(path, {model = m:state_dict(), optimizer = o:state_dict(), scheduler = s:state_dict(),
                   loader = l:state_dict(), rng = ag.get_rng_state(), epoch = 1})
    -- a fresh process would start here: new objects, different RNG state
    m, o, s, l = setup()
    ag.manual_seed(12345)
    local ck = ag.load(path)
    os.remove(path)
    m:load_state_dict(ck.model)
    o:load_state_dict(ck.optimizer)
    s:load_state_dict(ck.scheduler)
    l:load_state_dict(ck.loader)
    ag.set_rng_state(ck.rng)
    assert.are.equal(1, ck.epoch)
    for _ = 2, 3 do epoch(m, o, s, l, resumed) end

    assert.are.equal(#straight, #resumed)
    for i = 1, #straight do assert.are.equal(straight[i], resumed[i]) end
  end)
end)
