-- table.lua: reads the `RESULT key value` lines of the benchmark scripts on stdin and
-- prints the markdown table: benchmark | ag | PyTorch | ratio | target. A key seen in
-- several rounds keeps its best value (the highest GFLOP/s or GB/s, the lowest time);
-- a `*_ratio` key, measured within one process, is averaged over the rounds.
local r, sum, cnt = {}, {}, {}
for line in io.lines() do
  local k, v = line:match('^RESULT (%S+) (%S+)')
  v = tonumber(v)
  if k and v and k:find('_ratio$') then
    sum[k], cnt[k] = (sum[k] or 0) + v, (cnt[k] or 0) + 1
    r[k] = sum[k] / cnt[k]
  elseif k and v then
    local higher = k:find('gflops') or k:find('gbs')
    if r[k] == nil or (higher and v > r[k]) or (not higher and v < r[k]) then r[k] = v end
  end
end
local function f(v, fmt) return v and string.format(fmt or '%.3f', v) or 'n/a' end
local function ratio(a, b) return (a and b) and string.format('%.2f', a / b) or 'n/a' end
local function mark(ok) if ok == nil then return '' end return ok and ' ✔' or ' ✘' end
local function le(v, t) return v and (v <= t) end

print('| benchmark | ag | PyTorch | ratio | target |')
print('|---|---:|---:|---:|---|')
local function row(...) print('| ' .. table.concat({...}, ' | ') .. ' |') end
row('`a + b`, 16 float32, µs/op (alloc + GC finalizer)', f(r.add16_us), f(r.add16_us_torch),
    ratio(r.add16_us, r.add16_us_torch), '≤ 0.4 µs' .. mark(le(r.add16_us, 0.4)))
local mm_ratio = r.mm_cblas_ratio
row('matmul 1024² f32, GFLOP/s: ag vs direct `cblas_sgemm`', f(r.mm_gflops, '%.1f'),
    'cblas ' .. f(r.mm_gflops_cblas, '%.1f'), f(mm_ratio, '%.3f'),
    'ag/cblas ≥ 0.97' .. mark(mm_ratio and mm_ratio >= 0.97))
row('matmul 1024² f32, GFLOP/s: ag vs `torch.mm`', f(r.mm_gflops, '%.1f'), f(r.mm_gflops_torch, '%.1f'),
    ratio(r.mm_gflops_torch, r.mm_gflops), 'time ratio ag/PyTorch')
row('autograd forward with recording, µs/op', f(r.ag_fwd_us), f(r.ag_fwd_us_torch),
    ratio(r.ag_fwd_us, r.ag_fwd_us_torch), '≤ 0.5 µs' .. mark(le(r.ag_fwd_us, 0.5)))
row('autograd forward + backward, µs/op', f(r.ag_fwdbwd_us), f(r.ag_fwdbwd_us_torch),
    ratio(r.ag_fwdbwd_us, r.ag_fwdbwd_us_torch), '≤ 1.0 µs' .. mark(le(r.ag_fwdbwd_us, 1.0)))
for _, op in ipairs({'add', 'mul', 'exp'}) do
  local gbs, gbs1, mem = r['ew_' .. op .. '_gbs'], r['ew_' .. op .. '_gbs_1t'], r.ew_memcpy_gbs
  row(string.format('%s, 4M float32, ms/op', op == 'exp' and '`exp`' or (op == 'add' and '`a + b`' or '`a * b`')),
      f(r['ew_' .. op .. '_ms']), f(r['ew_' .. op .. '_ms_torch']),
      ratio(r['ew_' .. op .. '_ms'], r['ew_' .. op .. '_ms_torch']),
      string.format('memcpy-bound: %s GB/s vs memcpy %s; 1 thread %s GB/s (%s)', f(gbs, '%.1f'),
                    f(mem, '%.1f'), f(gbs1, '%.1f'), (gbs1 and mem) and string.format('%.2f×', gbs1 / mem) or 'n/a'))
end
-- rows for any other `KEY` / `KEY_torch` pair (benchmarks added later)
local known = {add16_us = 1, mm_gflops = 1, ag_fwd_us = 1, ag_fwdbwd_us = 1, ew_add_ms = 1, ew_mul_ms = 1, ew_exp_ms = 1}
local extra = {}
for k, v in pairs(r) do
  if not known[k] and r[k .. '_torch'] then extra[#extra + 1] = k end
end
table.sort(extra)
for _, k in ipairs(extra) do row('`' .. k .. '`', f(r[k]), f(r[k .. '_torch']), ratio(r[k], r[k .. '_torch']), '') end
print()
print(string.format('ratio: ag time / PyTorch time (below 1: ag is faster), except the cblas row ' ..
                    '(ag GFLOP/s / cblas GFLOP/s in the same process, mean of the rounds). memcpy: ffi.copy of 16 MB (one thread), %s ms; GB/s count ' ..
                    'the bytes an op must read and write.', f(r.ew_memcpy_ms)))
