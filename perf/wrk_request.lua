-- wrk script for perf/loadgen.py: POST (or any method) bodies read from a file.
--
-- Environment (set by loadgen.py):
--   WRK_METHOD   HTTP method (default POST)
--   WRK_BODIES   file with one request body per line; each thread cycles through them,
--                starting at its own offset. "{n}" in a body becomes a value unique to
--                the run, thread and request (fresh subject_refs for durable writes).
--   WRK_HEADERS  "Name: value" lines
--   WRK_PREFIX   makes "{n}" unique across runs
-- A body line "<Authorization value><TAB><body>" carries its own Authorization header
-- (several tenants in one run); JSON never contains a raw tab.
-- At the end it prints one line "WRKJSON {...}" with counts and latency percentiles (us).

local method = os.getenv("WRK_METHOD") or "POST"
local prefix = os.getenv("WRK_PREFIX") or "r"
local bodies_path = os.getenv("WRK_BODIES")
local header_text = os.getenv("WRK_HEADERS") or ""

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   bodies = {}
   if bodies_path then
      for line in io.lines(bodies_path) do
         if #line > 0 then table.insert(bodies, line) end
      end
   end
   if #bodies == 0 then table.insert(bodies, "") end
   req_headers = {}
   for line in string.gmatch(header_text, "[^\n]+") do
      local name, value = string.match(line, "^([^:]+):%s*(.*)$")
      if name then req_headers[name] = value end
   end
   if req_headers["Content-Type"] == nil then req_headers["Content-Type"] = "application/json" end
   counter = 0
   position = (tid * 7919) % #bodies
   thread_prefix = prefix .. "-" .. tid .. "-"
end

function request()
   counter = counter + 1
   position = position % #bodies + 1
   local body = bodies[position]
   local tab = string.find(body, "\t", 1, true)
   if tab then
      req_headers["Authorization"] = string.sub(body, 1, tab - 1)
      body = string.sub(body, tab + 1)
   end
   if string.find(body, "{n}", 1, true) then
      body = string.gsub(body, "{n}", thread_prefix .. counter)
   end
   return wrk.format(method, nil, req_headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
      '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
