-- utils_spec.lua: the helpers behind the example scripts: argument parsing, the progress
-- bar's plain-line mode, and the SVG training-curve writer.
local Args = require 'ag.utils.args'
local Progress = require 'ag.utils.progress'
local Plot = require 'ag.utils.plot'

describe("ag.utils.args", function()
  local spec = {{'epochs', 10, 'number of epochs'}, {'model', 'mlp', 'mlp or cnn'},
                {'batch_size', 128, 'batch size'}, {'verbose', false, 'more output'}}
  it("parses --name value, --name=value, dashes and flags with typed defaults", function()
    local o = Args.parse({'--epochs', '3', '--model=cnn', '--batch-size', '64', '--verbose'}, spec)
    assert.are.same({epochs = 3, model = 'cnn', batch_size = 64, verbose = true}, o)
    assert.are.same({epochs = 10, model = 'mlp', batch_size = 128, verbose = false}, Args.parse({}, spec))
  end)
  it("reports unknown options, bad numbers and --help", function()
    local o, err = Args.parse({'--nope'}, spec)
    assert.is_nil(o)
    assert.truthy(err:find('unknown option --nope', 1, true))
    o, err = Args.parse({'--epochs', 'x'}, spec)
    assert.truthy(err:find('expects a number', 1, true))
    o, err = Args.parse({'--help'}, spec)
    assert.truthy(err:find('--batch-size', 1, true))
  end)
end)

describe("ag.utils.progress", function()
  it("prints plain lines with counts, loss and ETA when not on a terminal", function()
    local lines = {}
    local out = {write = function(_, s) lines[#lines + 1] = s end, flush = function() end}
    local p = Progress.new{total = 4, title = 'epoch 1', tty = false, every = 2, out = out}
    for _ = 1, 4 do p:update(32, 0.25) end
    assert.are.equal(2, #lines)
    assert.truthy(lines[1]:find('epoch 1 [', 1, true))
    assert.truthy(lines[1]:find('2/4  loss 0.2500', 1, true))
    assert.truthy(lines[2]:find('4/4', 1, true))
    assert.truthy(lines[2]:find('samples/s  ETA 00:00', 1, true))
  end)
  it("formats durations", function()
    assert.are.equal('01:05', Progress.format_time(65))
    assert.are.equal('1:01:01', Progress.format_time(3661))
  end)
end)

describe("ag.utils.plot", function()
  it("writes an SVG with one polyline per series", function()
    local path = os.tmpname()
    Plot.svg(path, {{title = 'loss', series = {{name = 'train', y = {3, 2, 1}}, {name = 'test', y = {3.5, 2.5, 2}}}},
                    {title = 'accuracy', series = {{name = 'test', y = {0.5, 0.7, 0.8}}}}})
    local f = io.open(path)
    local svg = f:read('*a')
    f:close()
    os.remove(path)
    assert.truthy(svg:find('^<svg'))
    local _, n = svg:gsub('<polyline', '')
    assert.are.equal(3, n)
    assert.truthy(svg:find('>accuracy<', 1, true))
  end)
end)
