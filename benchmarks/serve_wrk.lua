-- wrk script for the serving benchmark: POST one fixed body, stop after a fixed number of responses,
-- print a JSON line with latency percentiles (microseconds) and status counts.
-- env: LEPTON_BODY (file with JSON bodies, one per line), LEPTON_PATH (URL path), LEPTON_HEADER_LEN (unused for JSON;
-- length, optional), LEPTON_REQUESTS (responses to wait for, all connections together; one wrk thread).
-- LEPTON_BODY may hold several bodies, one per line: requests then rotate through them.
-- LEPTON_FLAG: a file written when the last response arrived (the driver then stops wrk with SIGINT,
-- since wrk itself always runs for its full -d duration).
local f = assert(io.open(os.getenv("LEPTON_BODY"), "rb"))
local bodies = {}
for line in f:lines() do
  if #line > 0 then bodies[#bodies + 1] = line end
end
f:close()
wrk.method = "POST"
wrk.path = os.getenv("LEPTON_PATH")
wrk.body = bodies[1]
local flag = os.getenv("LEPTON_FLAG")
local next_body = 0
local hlen = os.getenv("LEPTON_HEADER_LEN")
if hlen and hlen ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = hlen
  wrk.headers["Content-Type"] = "application/octet-stream"
else
  wrk.headers["Content-Type"] = "application/json"
end
local limit = tonumber(os.getenv("LEPTON_REQUESTS") or "1000")

if #bodies > 1 then
  function request()
    next_body = next_body % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[next_body])
  end
end
local seen = 0
local codes = {}

function response(status, headers, body)
  seen = seen + 1
  codes[status] = (codes[status] or 0) + 1
  if seen == limit then
    if flag then
      local out = io.open(flag, "w")
      out:write("done")
      out:close()
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local parts = {}
  for _, p in ipairs({50, 90, 95, 99}) do
    parts[#parts + 1] = string.format('"p%d_us": %d', p, latency:percentile(p))
  end
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"timeouts": %d, "mean_us": %.1f, %s}\n', summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
    latency.mean, table.concat(parts, ", ")))
end
