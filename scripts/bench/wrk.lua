-- wrk script of scripts/bench/emulator.py: one route, its expected status checked on every answer,
-- a JSON summary written to $BENCH_RESULT. Register and delete make a new request every time
-- (a new email; the next task to delete); the others send one fixed request.
local route = os.getenv("BENCH_ROUTE")
local expected = tonumber(os.getenv("BENCH_EXPECTED"))
local token = os.getenv("BENCH_TOKEN") or ""
local body = os.getenv("BENCH_BODY") or ""

local headers = {}
if token ~= "" then headers["Authorization"] = "Bearer " .. token end
if body ~= "" then headers["Content-Type"] = "application/json" end

wrk.method = os.getenv("BENCH_METHOD")
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers = headers
if body ~= "" then wrk.body = body end

if route == "register" then
  local prefix = os.getenv("BENCH_REGISTER_PREFIX")
  local n = 0
  request = function()
    n = n + 1
    return wrk.format("POST", "/auth/register", {["Content-Type"] = "application/json"},
      string.format('{"email":"%s-%d@bench.example","password":"bench-password-7c1e9a"}', prefix, n))
  end
elseif route == "delete" then
  local next_id = tonumber(os.getenv("BENCH_DELETE_FIRST"))
  local prefix = os.getenv("BENCH_DELETE_PREFIX")
  request = function()
    local id = next_id
    next_id = next_id + 1
    return wrk.format("DELETE", prefix .. "/" .. id, headers, nil)
  end
end

mismatches = 0
first_error = ""
function response(status, _, answer)
  if status ~= expected then
    mismatches = mismatches + 1
    if first_error == "" then first_error = route .. ": " .. status .. " " .. string.sub(answer or "", 1, 200) end
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

local function quote(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, _)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  local first = ""
  for _, thread in ipairs(threads) do
    errors = errors + thread:get("mismatches")
    if first == "" then first = thread:get("first_error") end
  end
  if first == "" and errors > 0 then
    first = string.format("socket errors: connect %d, read %d, write %d, timeout %d", summary.errors.connect,
      summary.errors.read, summary.errors.write, summary.errors.timeout)
  end
  local file = assert(io.open(os.getenv("BENCH_RESULT"), "w"))
  file:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d, "first_error": %s}',
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99),
    first == "" and "null" or quote(first)))
  file:close()
end
