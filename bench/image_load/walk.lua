-- wrk script: walk a fixed list of request paths (one per line, from the file named by the
-- first script argument) and print one JSON summary line prefixed "WRKJSON ".
--
--   wrk -t2 -c8 -d15s --timeout 60s -s walk.lua http://127.0.0.1:PORT -- paths.txt loop
--   wrk -t2 -c8 -d300s --timeout 60s -s walk.lua http://127.0.0.1:PORT -- paths.txt once 2 /tmp/mark-
--
-- loop: each thread walks its share of the list (every T-th path, T threads) round and round
--       until -d ends.
-- once: each thread requests each path of its share once, then stops and creates the file
--       MARKER..id (fifth argument); wrk itself still sleeps for -d, so the caller sends it
--       SIGINT once every thread's marker exists, and wrk then prints its summary with the
--       duration up to that moment (bench_image_server.py does this). Up to (connections per thread - 1) requests per thread past the end of the
--       share are issued (repeats of the share's first paths); they are counted if they
--       complete before the last path of the share.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local file = args[1]
  mode = args[2] or "loop"
  local all = {}
  for line in io.lines(file) do
    if #line > 0 then table.insert(all, line) end
  end
  -- setup() numbered the threads; the count is the number of wrk threads (-t)
  nthreads = tonumber(args[3] or "1")
  marker = args[4]
  paths = {}
  for i = id + 1, #all, nthreads do table.insert(paths, all[i]) end
  if #paths == 0 then paths = { all[1] } end
  idx = 0
  done_count = 0
  bad = 0
end

function request()
  idx = idx + 1
  if idx > #paths then idx = 1 end
  return wrk.format("GET", paths[idx])
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  done_count = done_count + 1
  if mode == "once" and done_count == #paths then
    if marker then
      local f = io.open(marker .. id, "w")
      if f then f:close() end
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do bad_total = bad_total + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, ' ..
    '"p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "non200": %d, ' ..
    '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, ' ..
    '"err_timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean, bad_total,
    e.connect, e.read, e.write, e.status, e.timeout))
end
