-- nn/layers/loss.lua: the losses as modules: CrossEntropyLoss, NLLLoss, MSELoss, L1Loss,
-- SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss and KLDivLoss. Each keeps its
-- options and calls the ag.nn.functional loss as loss(input, target). Class labels are
-- 1-based, as everywhere in ag. A class weight is a buffer, as in PyTorch.
local core = require 'ag.core'
local L = require 'ag.nn.layers.common'
local Module = L.Module

local M = {}

local REDUCTIONS = {mean = true, sum = true, none = true}

-- define(name, functional, option names, defaults, tensor options kept as buffers)
local function define(name, fname, names, defaults, buffers)
  local cls = Module:extend(name)
  M[name] = cls
  local all = {}
  for _, k in ipairs(names) do all[#all + 1] = k end
  all[#all + 1] = 'reduction'
  local is_buffer = {}
  for _, k in ipairs(buffers or {}) do is_buffer[k] = true end
  function cls:init(...)
    local a = L.args(name, all, defaults, ...)
    if a.reduction == nil then a.reduction = 'mean' end
    if not REDUCTIONS[a.reduction] and not (name == 'KLDivLoss' and a.reduction == 'batchmean') then
      error(string.format("ag.nn.%s: %s is not a valid value for reduction; use 'mean', 'sum' or 'none'", name,
                          tostring(a.reduction)), 3)
    end
    self._options = {}
    for _, k in ipairs(all) do
      local v = a[k]
      if is_buffer[k] then
        if v ~= nil and not core.is_tensor(v) then
          error(string.format("ag.nn.%s: %s must be a Tensor, got %s", name, k, core.typename(v)), 3)
        end
        if v ~= nil then self:register_buffer(k, v) end
      else
        self[k] = v
        self._options[#self._options + 1] = k
      end
    end
  end
  function cls:forward(input, target)
    L.check_input(name, input)
    local o = {}
    for _, k in ipairs(self._options) do o[k] = self[k] end
    for k in pairs(is_buffer) do o[k] = self[k] end
    return L.fn(fname, name)(input, target, o)
  end
  function cls:extra_repr()
    return self.reduction ~= 'mean' and ('reduction=' .. self.reduction) or ''
  end
  return cls
end

define('CrossEntropyLoss', 'cross_entropy', {'weight', 'ignore_index', 'label_smoothing'},
       {}, {'weight'})
define('NLLLoss', 'nll_loss', {'weight', 'ignore_index'}, {}, {'weight'})
define('MSELoss', 'mse_loss', {}, {})
define('L1Loss', 'l1_loss', {}, {})
define('SmoothL1Loss', 'smooth_l1_loss', {'beta'}, {beta = 1.0})
define('HuberLoss', 'huber_loss', {'delta'}, {delta = 1.0})
define('BCELoss', 'binary_cross_entropy', {'weight'}, {}, {'weight'})
define('BCEWithLogitsLoss', 'binary_cross_entropy_with_logits', {'weight', 'pos_weight'}, {},
       {'weight', 'pos_weight'})
define('KLDivLoss', 'kl_div', {'log_target'}, {log_target = false})

return M
