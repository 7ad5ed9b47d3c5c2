-- wrk script: POST /api/v1/ratings, each request a new rating.
-- env: HCP_TOKEN, HCP_PREFIX, HCP_BAD_EVERY (1 = all bad, 10 = one in ten)
local token = os.getenv("HCP_TOKEN")
local prefix = os.getenv("HCP_PREFIX") or "w"
local badEvery = tonumber(os.getenv("HCP_BAD_EVERY") or "1")
local counter = 0
local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local i = counter
  local level = "satisfied"
  if i % badEvery == 0 then level = "dissatisfied" end
  local body = string.format('{"idempotency_key":"%s-%d-%d","channel":"hotline_ivr","level":"%s","work_order_id":"WO%d%08d","unit_id":"fh-g%02d","staff_id":"s-%05d","post":"窗口受理","rater_phone":"138%08d"}',
    prefix, tid, i, level, tid, i, i % 40 + 1, i % 5000, (tid * 10000000 + i) % 100000000)
  return wrk.format(nil, "/api/v1/ratings", nil, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
