-- sampler.lua: random orders for the data pipeline. A Generator is a private Philox
-- stream (seed, offset) used by one DataLoader, so its shuffles are reproducible from its
-- seed whatever else draws from the global generator (ag.manual_seed).
local core = require 'ag.core'
local C = core.C

local S = {}

local Generator = {}
Generator.__index = Generator
S.Generator = Generator

-- Generator(seed) or Generator({seed=, offset=}) (a saved state)
setmetatable(Generator, {__call = function(_, seed)
  local st = type(seed) == 'table' and seed or {seed = seed, offset = 0}
  if type(st.seed) ~= 'number' or st.seed < 0 or st.seed ~= math.floor(st.seed) then
    error("ag.data.Generator: seed must be a non-negative integer, got " .. tostring(st.seed), 2)
  end
  return setmetatable({seed = st.seed, offset = st.offset or 0}, Generator)
end})

-- a random permutation of 1..n as an int64 tensor, drawn from this generator's stream
function Generator:randperm(n)
  local gs, go = C.agt_rng_seed(), C.agt_rng_offset()
  C.agt_rng_set_state(self.seed, self.offset)
  local p = C.agt_randperm(n)
  self.offset = tonumber(C.agt_rng_offset())
  C.agt_rng_set_state(gs, go)
  return core.wrap(p)
end

function Generator:get_state() return {seed = self.seed, offset = self.offset} end
function Generator:set_state(st) self.seed, self.offset = st.seed, st.offset end

-- permutation(n, gen): 1..n shuffled, as a Lua list; gen nil draws from the global generator
function S.permutation(n, gen)
  local perm = gen and gen:randperm(n) or core.wrap(C.agt_randperm(n))
  local p = require('ffi').cast('int64_t *', C.agt_data_ptr(perm.p))
  local out = {}
  for k = 1, n do out[k] = tonumber(p[k - 1]) end
  return out
end

return S
