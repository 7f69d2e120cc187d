-- utils/progress.lua: a live progress bar for training loops (batches done, loss,
-- samples/s, ETA), redrawn in place on a terminal and printed as plain lines otherwise.
local ffi = require 'ffi'
pcall(ffi.cdef, 'int isatty(int fd);')

local Progress = {}
Progress.__index = Progress

pcall(ffi.cdef, [[
typedef long time_t_ag; typedef struct { time_t_ag tv_sec; long tv_nsec; } ag_timespec;
int clock_gettime(int clk, ag_timespec *ts);
]])
local ts = ffi.new('ag_timespec')
local function wall()
  ffi.C.clock_gettime(1, ts)            -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
Progress.wall = wall

local function fmt_time(s)
  if s ~= s or s == math.huge then return '--:--' end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format('%d:%02d:%02d', s / 3600, s % 3600 / 60, s % 60) end
  return string.format('%02d:%02d', s / 60, s % 60)
end
Progress.format_time = fmt_time

-- opts: total (batches), title, width, out (file, default io.stdout), tty (force on/off),
-- every (plain-line mode: print every n batches; default total/10)
function Progress.new(opts)
  local self = setmetatable({}, Progress)
  self.total = opts.total or 0
  self.title = opts.title or ''
  self.width = opts.width or 24
  self.out = opts.out or io.stdout
  if opts.tty ~= nil then self.tty = opts.tty else self.tty = ffi.C.isatty(1) == 1 end
  self.every = opts.every or math.max(1, math.floor(self.total / 10))
  self.start = wall()
  self.done, self.samples = 0, 0
  return self
end

-- The status line for the current state (also what plain mode prints).
function Progress:line(loss)
  local elapsed = wall() - self.start
  local rate = self.samples / math.max(elapsed, 1e-9)
  local eta = self.done > 0 and elapsed / self.done * (self.total - self.done) or math.huge
  local filled = self.total > 0 and math.floor(self.width * self.done / self.total) or 0
  local bar = string.rep('=', filled) .. (filled < self.width and '>' or '') ..
              string.rep(' ', math.max(0, self.width - filled - 1))
  return string.format('%s [%s] %d/%d  loss %.4f  %.0f samples/s  ETA %s', self.title, bar,
                       self.done, self.total, loss or 0 / 0, rate, fmt_time(eta))
end

function Progress:update(batch_size, loss)
  self.done = self.done + 1
  self.samples = self.samples + (batch_size or 0)
  if self.tty then
    self.out:write('\r' .. self:line(loss) .. '\027[K')
    self.out:flush()
  elseif self.done % self.every == 0 or self.done == self.total then
    self.out:write(self:line(loss) .. '\n')
    self.out:flush()
  end
end

function Progress:finish()
  if self.tty then self.out:write('\n') end
  return wall() - self.start
end

return Progress
