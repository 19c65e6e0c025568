-- wrk script for bench/circulation.py: one desk per wrk thread (run with -t N -c N).
--
-- Each argument after "--" is one desk: its session cookie, its CSRF token, its patron's id
-- (sent with each scan, as the desk page sends the patron it shows) and its copies'
-- barcodes, separated by spaces ("cookie token patron B1,B2,..."). The desk lends a pile of its
-- copies in lend-only mode, returns the pile in return-only mode, and goes on to the next
-- pile, as bench/circulation.py describes. done() prints one RESULT line for the script.

local PILE = 5
local desks = {}

function setup(thread)
  table.insert(desks, thread)
  thread:set("desk", #desks)
end

function init(args)
  local cookie, token, shown, barcodes = args[desk]:match("^(%S+) (%S+) (%S+) (%S+)$")
  session = cookie
  csrf = token
  patron = shown
  copies = {}
  for barcode in barcodes:gmatch("[^,]+") do
    table.insert(copies, barcode)
  end
  step = 0
  errors = 0
  locked = 0
end

-- Step n of the cycle: piles of PILE copies, each lent then returned.
local function scan(n)
  local piles = #copies / PILE
  local round = math.floor(n / (2 * PILE))
  local within = n % (2 * PILE)
  local mode = within < PILE and "lend" or "return"
  local copy = (round % piles) * PILE + within % PILE + 1
  return copies[copy], mode
end

-- The step moves on in response(), not here: wrk calls request() once more on the first
-- thread, before the run, to check the script, and that request is never sent.
function request()
  local barcode, mode = scan(step)
  return wrk.format("POST", "/desk/scan", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "shelfmark_session=" .. session,
    ["X-CSRF-Token"] = csrf,
    ["HX-Request"] = "true",
  }, "code=" .. barcode .. "&mode=" .. mode .. "&patron=" .. patron)
end

function response(status, headers, body)
  step = step + 1
  if status ~= 200 then
    errors = errors + 1
  end
  if body:find("database is locked", 1, true) then
    locked = locked + 1
  end
  -- The session cookie is re-sent when the desk's mode changes, as a browser would keep it.
  for name, value in pairs(headers) do
    if name:lower() == "set-cookie" then
      session = value:match("^shelfmark_session=([^;]+)") or session
    end
  end
end

function done(summary, latency, requests)
  local errors, locked = 0, 0
  for _, desk in ipairs(desks) do
    errors = errors + desk:get("errors")
    locked = locked + desk:get("locked")
  end
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f median_ms=%.3f p95_ms=%.3f p99_ms=%.3f "
      .. "errors=%d socket_errors=%d locked=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors, socket, locked))
end
