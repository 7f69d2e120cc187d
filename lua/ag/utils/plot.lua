-- utils/plot.lua: writes line charts as standalone SVG files (training curves a person can
-- open in any browser). No dependencies: axes, ticks, a legend and one polyline per series.
local Plot = {}

local COLORS = {'#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'}

local function nice_ticks(lo, hi, n)
  if hi <= lo then hi = lo + 1 end
  local raw = (hi - lo) / n
  local mag = 10 ^ math.floor(math.log10(raw))
  local step = mag
  for _, m in ipairs({1, 2, 5, 10}) do if m * mag >= raw then step = m * mag; break end end
  local ticks = {}
  local t = math.ceil(lo / step) * step
  while t <= hi + 1e-12 do ticks[#ticks + 1] = t; t = t + step end
  return ticks
end

local function esc(s) return (tostring(s):gsub('&', '&amp;'):gsub('<', '&lt;'):gsub('>', '&gt;')) end

-- One panel: series = {{name=, x={...}, y={...}}, ...}
local function panel(out, x0, y0, w, h, title, series, xlabel)
  local xmin, xmax, ymin, ymax = math.huge, -math.huge, math.huge, -math.huge
  for _, s in ipairs(series) do
    for i = 1, #s.y do
      local xv, yv = s.x and s.x[i] or i, s.y[i]
      if yv == yv and yv ~= math.huge and yv ~= -math.huge then
        xmin, xmax = math.min(xmin, xv), math.max(xmax, xv)
        ymin, ymax = math.min(ymin, yv), math.max(ymax, yv)
      end
    end
  end
  if xmin == math.huge then xmin, xmax, ymin, ymax = 0, 1, 0, 1 end
  if xmax == xmin then xmax = xmin + 1 end
  if ymax == ymin then ymax = ymin + 1; ymin = ymin - 1 end
  local pad = (ymax - ymin) * 0.05
  ymin, ymax = ymin - pad, ymax + pad
  local L, R, T, B = x0 + 60, x0 + w - 15, y0 + 30, y0 + h - 40
  local function px(v) return L + (v - xmin) / (xmax - xmin) * (R - L) end
  local function py(v) return B - (v - ymin) / (ymax - ymin) * (B - T) end
  out[#out + 1] = string.format('<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>', L, y0 + 18, esc(title))
  out[#out + 1] = string.format('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>', L, T, R - L, B - T)
  for _, t in ipairs(nice_ticks(ymin, ymax, 5)) do
    out[#out + 1] = string.format('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>', L, R, py(t), py(t))
    out[#out + 1] = string.format('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%g</text>', L - 5, py(t) + 4, t)
  end
  for _, t in ipairs(nice_ticks(xmin, xmax, 6)) do
    out[#out + 1] = string.format('<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%g</text>', px(t), B + 15, t)
  end
  out[#out + 1] = string.format('<text x="%d" y="%d" font-size="12" text-anchor="middle">%s</text>', (L + R) / 2, B + 32, esc(xlabel or ''))
  for k, s in ipairs(series) do
    local pts = {}
    for i = 1, #s.y do
      local yv = s.y[i]
      if yv == yv then pts[#pts + 1] = string.format('%.1f,%.1f', px(s.x and s.x[i] or i), py(yv)) end
    end
    local color = COLORS[(k - 1) % #COLORS + 1]
    out[#out + 1] = string.format('<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>', color, table.concat(pts, ' '))
    out[#out + 1] = string.format('<text x="%d" y="%d" font-size="12" fill="%s">%s</text>', R - 150, T + 16 * k, color, esc(s.name))
  end
end

-- Plot.svg(path, panels): panels = {{title=, xlabel=, series={...}}, ...} side by side.
function Plot.svg(path, panels)
  local w, h = 480, 320
  local out = {string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">', w * #panels, h),
               string.format('<rect width="%d" height="%d" fill="white"/>', w * #panels, h)}
  for i, p in ipairs(panels) do panel(out, (i - 1) * w, 0, w, h, p.title or '', p.series or {}, p.xlabel) end
  out[#out + 1] = '</svg>'
  local f = assert(io.open(path, 'w'))
  f:write(table.concat(out, '\n'), '\n')
  f:close()
  return path
end

return Plot
