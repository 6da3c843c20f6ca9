-- wrk script for bench/bench_receiver.py: cycle through pre-signed, pre-formatted requests.
--
-- WRK_REQUESTS names a file of raw HTTP requests, each preceded by a line with its length in
-- bytes. Each request is sent once, in order; past the end the cycle starts again and the
-- bench sees the repeats as duplicates (it sizes the file so that this does not happen).
-- WRK_PAUSE_MS > 0 paces each connection: a random pause of 0.5x to 1.5x that many ms before
-- each request (an open-ish load below saturation, without all connections in step).
-- done() prints one JSON line: requests, seconds, p50/p90/p99/max latency in ms, errors.

local pause = tonumber(os.getenv("WRK_PAUSE_MS") or "0")
local reqs, n, i = {}, 0, 0

function init(args)
  local f = assert(io.open(os.getenv("WRK_REQUESTS"), "rb"))
  while true do
    local line = f:read("*l")
    if not line then break end
    n = n + 1
    reqs[n] = f:read(tonumber(line))
  end
  f:close()
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

if pause > 0 then
  local lo, hi = math.max(0, math.floor(pause * 0.5)), math.ceil(pause * 1.5)
  function delay()
    return math.random(lo, hi)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
