-- optim/lr_scheduler.lua: ag.optim.lr_scheduler: learning-rate schedules that set each
-- parameter group's lr when stepped (once per epoch, or per batch for OneCycleLR), with
-- PyTorch's formulas (its chainable forms, so the sequences agree to the last bit):
-- StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, LambdaLR and
-- ReduceLROnPlateau. Epoch counters start at 0 as in PyTorch (they count, they don't index).
--   local sched = ag.optim.lr_scheduler.StepLR(opt, 30, {gamma = 0.1})
--   for epoch = 1, 90 do train(); sched:step() end
local core = require 'ag.core'

local S = {}

-- positional arguments in `names` order, or a trailing options table, or both
local function args(who, names, defaults, ...)
  local n = select('#', ...)
  local list = {...}
  local r, known = {}, {}
  for _, k in ipairs(names) do known[k] = true end
  if n > 0 and core.is_options(list[n]) then
    for k, v in pairs(list[n]) do
      if not known[k] then
        error(string.format("ag.optim.lr_scheduler.%s: unknown option '%s' (expected one of: %s)", who,
                            tostring(k), table.concat(names, ', ')), 4)
      end
      r[k] = v
    end
    n = n - 1
  end
  if n > #names then
    error(string.format("ag.optim.lr_scheduler.%s: too many arguments (%d)", who, n), 4)
  end
  for i = 1, n do if list[i] ~= nil then r[names[i]] = list[i] end end
  for k, v in pairs(defaults) do if r[k] == nil then r[k] = v end end
  return r
end

local function check_optimizer(who, opt)
  if type(opt) ~= 'table' or type(opt.param_groups) ~= 'table' then
    error(string.format("ag.optim.lr_scheduler.%s: %s is not an Optimizer", who, core.typename(opt)), 4)
  end
end

local function class(name, parent)
  local cls = {__name = name}
  cls.__index = cls
  return setmetatable(cls, {__index = parent, __call = function(c, ...) return c.new(c, ...) end,
                            __tostring = function() return 'ag.optim.lr_scheduler.' .. name end})
end

-- the base: LRScheduler (PyTorch's _LRScheduler)
local LRScheduler = class('LRScheduler')
S.LRScheduler = LRScheduler
S._LRScheduler = LRScheduler

-- subclasses call this at the end of their constructor
function LRScheduler:_setup(optimizer, last_epoch)
  last_epoch = last_epoch or -1
  self.optimizer = optimizer
  if last_epoch == -1 then
    for _, g in ipairs(optimizer.param_groups) do
      if g.initial_lr == nil then g.initial_lr = g.lr end
    end
  else
    for i, g in ipairs(optimizer.param_groups) do
      if g.initial_lr == nil then
        error(string.format("ag.optim.lr_scheduler.%s: param 'initial_lr' is not specified in " ..
                            "param_groups[%d] when resuming an optimizer", self.__name, i), 4)
      end
    end
  end
  self.base_lrs = {}
  for i, g in ipairs(optimizer.param_groups) do self.base_lrs[i] = g.initial_lr end
  self.last_epoch = last_epoch
  self._step_count = 0
  self:step()
end

function LRScheduler:get_lr() error("ag.optim.lr_scheduler: get_lr is not implemented for " .. self.__name, 2) end

-- step(): advance one epoch; step(epoch) jumps to `epoch` (closed form where there is one)
function LRScheduler:step(epoch)
  self._step_count = self._step_count + 1
  local values
  if epoch == nil then
    self.last_epoch = self.last_epoch + 1
    values = self:get_lr()
  else
    self.last_epoch = epoch
    values = self._get_closed_form_lr and self:_get_closed_form_lr() or self:get_lr()
  end
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = values[i] end
  self._last_lr = {}
  for i, g in ipairs(self.optimizer.param_groups) do self._last_lr[i] = g.lr end
end

function LRScheduler:get_last_lr() return {unpack(self._last_lr)} end

local function plain_copy(v)
  if type(v) ~= 'table' then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = plain_copy(x) end
  return c
end

-- everything but the optimizer and functions (numbers, booleans, strings, tables of them)
function LRScheduler:state_dict()
  local sd = {}
  for k, v in pairs(self) do
    if k ~= 'optimizer' and type(v) ~= 'function' and k ~= 'lr_lambdas' then sd[k] = plain_copy(v) end
  end
  return sd
end
function LRScheduler:load_state_dict(sd)
  if type(sd) ~= 'table' then
    error("ag.optim.lr_scheduler.load_state_dict: expected a table from scheduler:state_dict(), got " ..
          core.typename(sd), 2)
  end
  for k, v in pairs(sd) do
    if k ~= 'optimizer' then self[k] = plain_copy(v) end
  end
end

local function groups_lr(self)
  local out = {}
  for i, g in ipairs(self.optimizer.param_groups) do out[i] = g.lr end
  return out
end

-- StepLR(optimizer, step_size, {gamma = 0.1}): lr *= gamma every step_size epochs
local StepLR = class('StepLR', LRScheduler)
S.StepLR = StepLR
function StepLR.new(cls, optimizer, ...)
  check_optimizer('StepLR', optimizer)
  local a = args('StepLR', {'step_size', 'gamma', 'last_epoch'}, {gamma = 0.1, last_epoch = -1}, ...)
  if type(a.step_size) ~= 'number' or a.step_size < 1 or a.step_size ~= math.floor(a.step_size) then
    error("ag.optim.lr_scheduler.StepLR: step_size must be a positive integer, got " .. tostring(a.step_size), 3)
  end
  local self = setmetatable({step_size = a.step_size, gamma = a.gamma}, cls)
  self:_setup(optimizer, a.last_epoch)
  return self
end
function StepLR:get_lr()
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return groups_lr(self) end
  local out = groups_lr(self)
  for i, v in ipairs(out) do out[i] = v * self.gamma end
  return out
end
function StepLR:_get_closed_form_lr()
  local out = {}
  for i, b in ipairs(self.base_lrs) do out[i] = b * self.gamma ^ math.floor(self.last_epoch / self.step_size) end
  return out
end

-- MultiStepLR(optimizer, milestones, {gamma = 0.1}): lr *= gamma at each milestone epoch
local MultiStepLR = class('MultiStepLR', LRScheduler)
S.MultiStepLR = MultiStepLR
function MultiStepLR.new(cls, optimizer, ...)
  check_optimizer('MultiStepLR', optimizer)
  local a = args('MultiStepLR', {'milestones', 'gamma', 'last_epoch'}, {gamma = 0.1, last_epoch = -1}, ...)
  if type(a.milestones) ~= 'table' then
    error("ag.optim.lr_scheduler.MultiStepLR: milestones must be a table of epochs, got " ..
          core.typename(a.milestones), 3)
  end
  local counts = {}
  for _, m in ipairs(a.milestones) do counts[m] = (counts[m] or 0) + 1 end
  local self = setmetatable({milestones = counts, gamma = a.gamma}, cls)
  self:_setup(optimizer, a.last_epoch)
  return self
end
function MultiStepLR:get_lr()
  local c = self.milestones[self.last_epoch]
  local out = groups_lr(self)
  if not c then return out end
  for i, v in ipairs(out) do out[i] = v * self.gamma ^ c end
  return out
end
function MultiStepLR:_get_closed_form_lr()
  local passed = 0
  for m, c in pairs(self.milestones) do if m <= self.last_epoch then passed = passed + c end end
  local out = {}
  for i, b in ipairs(self.base_lrs) do out[i] = b * self.gamma ^ passed end
  return out
end

-- ExponentialLR(optimizer, gamma): lr *= gamma every epoch
local ExponentialLR = class('ExponentialLR', LRScheduler)
S.ExponentialLR = ExponentialLR
function ExponentialLR.new(cls, optimizer, ...)
  check_optimizer('ExponentialLR', optimizer)
  local a = args('ExponentialLR', {'gamma', 'last_epoch'}, {last_epoch = -1}, ...)
  if type(a.gamma) ~= 'number' then error("ag.optim.lr_scheduler.ExponentialLR: gamma is required", 3) end
  local self = setmetatable({gamma = a.gamma}, cls)
  self:_setup(optimizer, a.last_epoch)
  return self
end
function ExponentialLR:get_lr()
  local out = groups_lr(self)
  if self.last_epoch == 0 then return out end
  for i, v in ipairs(out) do out[i] = v * self.gamma end
  return out
end
function ExponentialLR:_get_closed_form_lr()
  local out = {}
  for i, b in ipairs(self.base_lrs) do out[i] = b * self.gamma ^ self.last_epoch end
  return out
end

-- CosineAnnealingLR(optimizer, T_max, {eta_min = 0})
local CosineAnnealingLR = class('CosineAnnealingLR', LRScheduler)
S.CosineAnnealingLR = CosineAnnealingLR
function CosineAnnealingLR.new(cls, optimizer, ...)
  check_optimizer('CosineAnnealingLR', optimizer)
  local a = args('CosineAnnealingLR', {'T_max', 'eta_min', 'last_epoch'}, {eta_min = 0, last_epoch = -1}, ...)
  if type(a.T_max) ~= 'number' or a.T_max <= 0 then
    error("ag.optim.lr_scheduler.CosineAnnealingLR: T_max must be a positive number, got " .. tostring(a.T_max), 3)
  end
  local self = setmetatable({T_max = a.T_max, eta_min = a.eta_min}, cls)
  self:_setup(optimizer, a.last_epoch)
  return self
end
function CosineAnnealingLR:get_lr()
  local e, T, emin, pi = self.last_epoch, self.T_max, self.eta_min, math.pi
  local out = groups_lr(self)
  if e == 0 then return out end
  if self._step_count == 1 and e > 0 then
    for i, b in ipairs(self.base_lrs) do out[i] = emin + (b - emin) * (1 + math.cos(e * pi / T)) / 2 end
    return out
  end
  if (e - 1 - T) % (2 * T) == 0 then
    for i, b in ipairs(self.base_lrs) do out[i] = out[i] + (b - emin) * (1 - math.cos(pi / T)) / 2 end
    return out
  end
  for i, v in ipairs(out) do
    out[i] = (1 + math.cos(pi * e / T)) / (1 + math.cos(pi * (e - 1) / T)) * (v - emin) + emin
  end
  return out
end
function CosineAnnealingLR:_get_closed_form_lr()
  local out = {}
  for i, b in ipairs(self.base_lrs) do
    out[i] = self.eta_min + (b - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
  end
  return out
end

-- LambdaLR(optimizer, lr_lambda): lr = initial_lr * lr_lambda(epoch); one function or one per group
local LambdaLR = class('LambdaLR', LRScheduler)
S.LambdaLR = LambdaLR
function LambdaLR.new(cls, optimizer, ...)
  check_optimizer('LambdaLR', optimizer)
  local a = args('LambdaLR', {'lr_lambda', 'last_epoch'}, {last_epoch = -1}, ...)
  local fns = a.lr_lambda
  local n = #optimizer.param_groups
  if type(fns) == 'function' then
    local f = fns
    fns = {}
    for i = 1, n do fns[i] = f end
  elseif type(fns) == 'table' then
    if #fns ~= n then
      error(string.format("ag.optim.lr_scheduler.LambdaLR: Expected %d lr_lambdas, but got %d", n, #fns), 3)
    end
  else
    error("ag.optim.lr_scheduler.LambdaLR: lr_lambda must be a function or a table of functions, got " ..
          core.typename(fns), 3)
  end
  local self = setmetatable({lr_lambdas = fns}, cls)
  self:_setup(optimizer, a.last_epoch)
  return self
end
function LambdaLR:get_lr()
  local out = {}
  for i, b in ipairs(self.base_lrs) do out[i] = b * self.lr_lambdas[i](self.last_epoch) end
  return out
end

-- OneCycleLR(optimizer, max_lr, {total_steps | epochs + steps_per_epoch, pct_start = 0.3,
-- anneal_strategy = 'cos', cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95,
-- div_factor = 25, final_div_factor = 1e4, three_phase = false}); step it after every batch
local OneCycleLR = class('OneCycleLR', LRScheduler)
S.OneCycleLR = OneCycleLR

local function per_group(who, what, v, n)
  if type(v) == 'table' then
    if #v ~= n then
      error(string.format("ag.optim.lr_scheduler.%s: expected %d values for %s, got %d", who, n, what, #v), 4)
    end
    return v
  end
  local out = {}
  for i = 1, n do out[i] = v end
  return out
end

local function positive_int(v) return type(v) == 'number' and v > 0 and v == math.floor(v) end

function OneCycleLR.new(cls, optimizer, ...)
  local who = 'OneCycleLR'
  check_optimizer(who, optimizer)
  local a = args(who, {'max_lr', 'total_steps', 'epochs', 'steps_per_epoch', 'pct_start', 'anneal_strategy',
                       'cycle_momentum', 'base_momentum', 'max_momentum', 'div_factor', 'final_div_factor',
                       'three_phase', 'last_epoch'},
                 {pct_start = 0.3, anneal_strategy = 'cos', cycle_momentum = true, base_momentum = 0.85,
                  max_momentum = 0.95, div_factor = 25, final_div_factor = 1e4, three_phase = false,
                  last_epoch = -1}, ...)
  local self = setmetatable({}, cls)
  local total
  if a.total_steps == nil and a.epochs == nil and a.steps_per_epoch == nil then
    error("ag.optim.lr_scheduler.OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)", 3)
  elseif a.total_steps ~= nil then
    if not positive_int(a.total_steps) then
      error("ag.optim.lr_scheduler.OneCycleLR: Expected positive integer total_steps, but got " ..
            tostring(a.total_steps), 3)
    end
    total = a.total_steps
  else
    if not positive_int(a.epochs) then
      error("ag.optim.lr_scheduler.OneCycleLR: Expected positive integer epochs, but got " .. tostring(a.epochs), 3)
    end
    if not positive_int(a.steps_per_epoch) then
      error("ag.optim.lr_scheduler.OneCycleLR: Expected positive integer steps_per_epoch, but got " ..
            tostring(a.steps_per_epoch), 3)
    end
    total = a.epochs * a.steps_per_epoch
  end
  self.total_steps = total
  local pct = a.pct_start
  if type(pct) ~= 'number' or pct < 0 or pct > 1 then
    error("ag.optim.lr_scheduler.OneCycleLR: Expected float between 0 and 1 pct_start, but got " .. tostring(pct), 3)
  end
  if a.three_phase then
    self._schedule_phases = {
      {end_step = pct * total - 1, start_lr = 'initial_lr', end_lr = 'max_lr',
       start_momentum = 'max_momentum', end_momentum = 'base_momentum'},
      {end_step = 2 * pct * total - 2, start_lr = 'max_lr', end_lr = 'initial_lr',
       start_momentum = 'base_momentum', end_momentum = 'max_momentum'},
      {end_step = total - 1, start_lr = 'initial_lr', end_lr = 'min_lr',
       start_momentum = 'max_momentum', end_momentum = 'max_momentum'}}
  else
    self._schedule_phases = {
      {end_step = pct * total - 1, start_lr = 'initial_lr', end_lr = 'max_lr',
       start_momentum = 'max_momentum', end_momentum = 'base_momentum'},
      {end_step = total - 1, start_lr = 'max_lr', end_lr = 'min_lr',
       start_momentum = 'base_momentum', end_momentum = 'max_momentum'}}
  end
  if a.anneal_strategy ~= 'cos' and a.anneal_strategy ~= 'linear' then
    error("ag.optim.lr_scheduler.OneCycleLR: anneal_strategy must by one of 'cos' or 'linear', instead got " ..
          tostring(a.anneal_strategy), 3)
  end
  self.anneal_strategy = a.anneal_strategy
  local n = #optimizer.param_groups
  if a.max_lr == nil then error("ag.optim.lr_scheduler.OneCycleLR: max_lr is required", 3) end
  local max_lrs = per_group(who, 'max_lr', a.max_lr, n)
  if a.last_epoch == -1 then
    for i, g in ipairs(optimizer.param_groups) do
      g.initial_lr = max_lrs[i] / a.div_factor
      g.max_lr = max_lrs[i]
      g.min_lr = g.initial_lr / a.final_div_factor
    end
  end
  self.cycle_momentum = a.cycle_momentum
  if self.cycle_momentum then
    local d = optimizer.defaults or {}
    if d.momentum == nil and d.betas == nil then
      error("ag.optim.lr_scheduler.OneCycleLR: optimizer must support momentum with `cycle_momentum` option enabled", 3)
    end
    self.use_beta1 = d.betas ~= nil
    local maxm = per_group(who, 'max_momentum', a.max_momentum, n)
    local basem = per_group(who, 'base_momentum', a.base_momentum, n)
    if a.last_epoch == -1 then
      for i, g in ipairs(optimizer.param_groups) do
        if self.use_beta1 then g.betas = {maxm[i], g.betas[2]} else g.momentum = maxm[i] end
        g.max_momentum = maxm[i]
        g.base_momentum = basem[i]
      end
    end
  end
  self:_setup(optimizer, a.last_epoch)
  return self
end

function OneCycleLR:_anneal(start, stop, pct)
  if self.anneal_strategy == 'linear' then return (stop - start) * pct + start end
  local cos_out = math.cos(math.pi * pct) + 1
  return stop + (start - stop) / 2.0 * cos_out
end

function OneCycleLR:get_lr()
  local lrs = {}
  local step_num = self.last_epoch
  if step_num > self.total_steps then
    error(string.format("ag.optim.lr_scheduler.OneCycleLR: Tried to step %d times. The specified number of " ..
                        "total steps is %d", step_num + 1, self.total_steps), 3)
  end
  local phases = self._schedule_phases
  for gi, g in ipairs(self.optimizer.param_groups) do
    local start_step = 0
    local lr, mom
    for i, ph in ipairs(phases) do
      local end_step = ph.end_step
      if step_num <= end_step or i == #phases then
        local pct = (step_num - start_step) / (end_step - start_step)
        lr = self:_anneal(g[ph.start_lr], g[ph.end_lr], pct)
        if self.cycle_momentum then mom = self:_anneal(g[ph.start_momentum], g[ph.end_momentum], pct) end
        break
      end
      start_step = ph.end_step
    end
    lrs[gi] = lr
    if self.cycle_momentum then
      if self.use_beta1 then g.betas = {mom, g.betas[2]} else g.momentum = mom end
    end
  end
  return lrs
end

-- ReduceLROnPlateau(optimizer, {mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4,
-- threshold_mode = 'rel', cooldown = 0, min_lr = 0, eps = 1e-8}); step(metric) each epoch
local ReduceLROnPlateau = class('ReduceLROnPlateau')
S.ReduceLROnPlateau = ReduceLROnPlateau
function ReduceLROnPlateau.new(cls, optimizer, ...)
  local who = 'ReduceLROnPlateau'
  check_optimizer(who, optimizer)
  local a = args(who, {'mode', 'factor', 'patience', 'threshold', 'threshold_mode', 'cooldown', 'min_lr', 'eps'},
                 {mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, threshold_mode = 'rel', cooldown = 0,
                  min_lr = 0, eps = 1e-8}, ...)
  if a.factor >= 1.0 then error("ag.optim.lr_scheduler.ReduceLROnPlateau: Factor should be < 1.0.", 3) end
  if a.mode ~= 'min' and a.mode ~= 'max' then
    error("ag.optim.lr_scheduler.ReduceLROnPlateau: mode " .. tostring(a.mode) .. " is unknown!", 3)
  end
  if a.threshold_mode ~= 'rel' and a.threshold_mode ~= 'abs' then
    error("ag.optim.lr_scheduler.ReduceLROnPlateau: threshold mode " .. tostring(a.threshold_mode) ..
          " is unknown!", 3)
  end
  local self = setmetatable({optimizer = optimizer, factor = a.factor, patience = a.patience,
                             cooldown = a.cooldown, cooldown_counter = 0, mode = a.mode, threshold = a.threshold,
                             threshold_mode = a.threshold_mode, eps = a.eps, last_epoch = 0}, cls)
  self.min_lrs = per_group(who, 'min_lr', a.min_lr, #optimizer.param_groups)
  self.mode_worse = a.mode == 'min' and math.huge or -math.huge
  self:_reset()
  self._last_lr = groups_lr(self)
  return self
end
function ReduceLROnPlateau:_reset()
  self.best = self.mode_worse
  self.cooldown_counter = 0
  self.num_bad_epochs = 0
end
function ReduceLROnPlateau:is_better(a, best)
  if self.mode == 'min' and self.threshold_mode == 'rel' then return a < best * (1.0 - self.threshold) end
  if self.mode == 'min' then return a < best - self.threshold end
  if self.threshold_mode == 'rel' then return a > best * (self.threshold + 1.0) end
  return a > best + self.threshold
end
function ReduceLROnPlateau:step(metrics, epoch)
  local current = metrics
  if core.is_tensor(current) then current = current:item() end
  if type(current) ~= 'number' then
    error("ag.optim.lr_scheduler.ReduceLROnPlateau.step: expected the metric as a number, got " ..
          core.typename(metrics), 2)
  end
  epoch = epoch or self.last_epoch + 1
  self.last_epoch = epoch
  if self:is_better(current, self.best) then
    self.best = current
    self.num_bad_epochs = 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0
  end
  if self.num_bad_epochs > self.patience then
    for i, g in ipairs(self.optimizer.param_groups) do
      local old = g.lr
      local new = math.max(old * self.factor, self.min_lrs[i])
      if old - new > self.eps then g.lr = new end
    end
    self.cooldown_counter = self.cooldown
    self.num_bad_epochs = 0
  end
  self._last_lr = groups_lr(self)
end
ReduceLROnPlateau.get_last_lr = LRScheduler.get_last_lr
ReduceLROnPlateau.state_dict = LRScheduler.state_dict
ReduceLROnPlateau.load_state_dict = LRScheduler.load_state_dict

return S
