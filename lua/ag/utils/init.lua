-- utils/init.lua: ag.utils: the example scripts' helpers (args, progress, plot).
return {
  args = require 'ag.utils.args',
  progress = require 'ag.utils.progress',
  plot = require 'ag.utils.plot',
}
