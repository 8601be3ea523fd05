-- wrk script: POST tracker-format bodies to /api/v1/ingest/events, rotating through pre-made files.
-- args: <server token> <file listing body paths> [delay ms between requests per connection (paced mode)]
--       [backoff ms after a 429, like a client honouring Retry-After; default 50]
--       [request path; default /api/v1/ingest/events (the peer benchmark posts to ClickHouse's own HTTP port)]
-- A connection whose last answer was 429 waits `backoff` ms before its next request: the tracker
-- and `fragstats import-log` back off on 429, and a generator that retries at once only measures
-- how fast the server can say no.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  bodies = {}
  for path in io.lines(args[2]) do
    local f = io.open(path, "rb")
    bodies[#bodies + 1] = f:read("*all")
    f:close()
  end
  pace = tonumber(args[3] or "0")
  backoff = tonumber(args[4] or "50")
  path = args[5] or "/api/v1/ingest/events"
  last_status = 0
  idx = math.random(#bodies)
  statuses = {}
  headers = {["Content-Type"] = "application/json", ["X-Server-Token"] = token}
end

function request()
  idx = idx % #bodies + 1
  return wrk.format("POST", path, headers, bodies[idx])
end

function delay()
  -- wrk calls response() then delay() for the same connection, one at a time per thread.
  -- Paced mode draws each think time uniformly from [0.5, 1.5) x pace (same mean rate): with one
  -- fixed delay every connection stays in step with the others and the server sees bursts of
  -- `connections` requests at once, which game servers sending independently never produce.
  local think = pace
  if pace > 0 then
    think = pace * (0.5 + math.random())
  end
  if last_status == 429 then
    return think + backoff
  end
  return think
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  last_status = status
end

function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do agg[tostring(k)] = (agg[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(agg) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "errors_connect": %d, "errors_read": %d, "errors_write": %d, ' ..
    '"errors_timeout": %d, "errors_status": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, table.concat(parts, ", ")))
end
