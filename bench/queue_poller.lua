-- wrk script for bench/queue_endpoint.py: every thread polls the queue page as the page
-- script does, sending back the ETag it got last (when "conditional"), and counts the
-- statuses it was answered with.
--   QUEUE_POLLER_TOKEN=<token> wrk -s bench/queue_poller.lua URL -- conditional <etag>
--   QUEUE_POLLER_TOKEN=<token> wrk -s bench/queue_poller.lua URL -- unconditional
-- (the token from the environment: a command line is readable by anyone on the machine)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("QUEUE_POLLER_TOKEN")
  conditional = args[1] == "conditional"
  etag = args[2] -- pollers that already have the page
  statuses = {}
end

function request()
  local headers = { ["Authorization"] = "Token " .. token }
  if conditional and etag then
    headers["If-None-Match"] = etag
  end
  return wrk.format("GET", nil, headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if headers["ETag"] then
    etag = headers["ETag"]
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  for status, n in pairs(totals) do
    io.write(string.format("STATUS %d %d\n", status, n))
  end
  local errors = summary.errors
  io.write(string.format("REQUESTS %d\n", summary.requests))
  io.write(string.format("DURATION_US %d\n", summary.duration))
  io.write(string.format("ERRORS %d\n",
    errors.connect + errors.read + errors.write + errors.status + errors.timeout))
  io.write(string.format("LATENCY_P50_US %d\n", latency:percentile(50)))
  io.write(string.format("LATENCY_P99_US %d\n", latency:percentile(99)))
end
