-- apply.lua: apply one casecore.Change atomically.
--
-- KEYS: every key the change touches; the arguments refer to them by index.
-- ARGV: flat sections, read in this order (built by builder in store.go; no
-- JSON to parse, so a change costs Redis only its writes):
--   now                        milliseconds, for the referral's score and event
--   n (0|1), [k, f, v]         idempotency: hash KEYS[k], field f, value
--                              "ratingID|fingerprint". If the field exists, nothing
--                              is written and {"DUP", existing value} is returned;
--                              if a condition fails, the field is not kept.
--   n, n × [k, version]        conditions: each record key must hold "<version>\n..."
--                              (0: must not exist), else nothing is written and
--                              {"CONFLICT", key} is returned.
--   n, n × [k, record]         records to write: SET KEYS[k] record ("<version>\n<json>").
--   n, n × [op, k, args...]    index and counter writes, in order; arguments per op:
--                                zadd score member | zrem member | sadd member | srem member
--                                hincrby field n | hset field value | happend field value max
--                                rpush value
--   0 | 1, [staff, refz, refh, member, score, window, threshold, nf, nf × [field, value]]
--                              referral: count a confirmed bad rating in KEYS[staff];
--                              on crossing the threshold write a referral (the fields,
--                              plus rating_ids and count) to KEYS[refh], indexed in KEYS[refz].
--   k, maxlen, n, n × [nf, nf values]
--                              events: XADD each field list to KEYS[k], capped at ~maxlen.
-- Returns {"OK"} or {"OK", referralID}, {"DUP", value}, {"CONFLICT", key}.
local A = ARGV
local i = 0
local function nxt() i = i + 1; return A[i] end
local function num() i = i + 1; return tonumber(A[i]) end

local now = num()

-- The idempotency key is claimed first (one HSETNX in the usual case of a
-- new key) and released again if a condition fails: nothing else has run
-- yet, and no other client sees the script half way.
local idemK, idemF
if num() == 1 then
  idemK, idemF = KEYS[num()], nxt()
  if redis.call('HSETNX', idemK, idemF, nxt()) == 0 then
    return {'DUP', redis.call('HGET', idemK, idemF)}
  end
end

for _ = 1, num() do
  local k = KEYS[num()]
  local want = num()
  local cur = redis.call('GET', k)
  local ver = 0
  if cur then ver = tonumber(string.match(cur, '^(%d+)\n')) or -1 end
  if ver ~= want then
    if idemK then redis.call('HDEL', idemK, idemF) end
    return {'CONFLICT', k}
  end
end

for _ = 1, num() do
  local k = KEYS[num()]
  redis.call('SET', k, nxt())
end

for _ = 1, num() do
  local op, k = nxt(), KEYS[num()]
  if op == 'zadd' then
    local score = nxt()
    redis.call('ZADD', k, score, nxt())
  elseif op == 'zrem' then redis.call('ZREM', k, nxt())
  elseif op == 'sadd' then redis.call('SADD', k, nxt())
  elseif op == 'srem' then redis.call('SREM', k, nxt())
  elseif op == 'hincrby' then
    local f = nxt()
    redis.call('HINCRBY', k, f, nxt())
  elseif op == 'hset' then
    local f = nxt()
    redis.call('HSET', k, f, nxt())
  elseif op == 'happend' then
    -- append to a comma-separated list, keeping at most max entries (the newest)
    local f, v, max = nxt(), nxt(), num()
    if redis.call('HSETNX', k, f, v) == 0 then -- not the first: append
      local cur = redis.call('HGET', k, f)
      local _, commas = string.gsub(cur, ',', ',')
      if commas + 1 >= max then cur = string.sub(cur, string.find(cur, ',', 1, true) + 1) end
      redis.call('HSET', k, f, cur .. ',' .. v)
    end
  elseif op == 'rpush' then redis.call('RPUSH', k, nxt())
  else return redis.error_reply('apply: unknown op ' .. tostring(op)) end
end

local result = {'OK'}
local extra
if num() == 1 then
  local staff, refz, refh = KEYS[num()], KEYS[num()], KEYS[num()]
  local member, score, window, threshold = nxt(), num(), num(), num()
  local ref = {}
  for _ = 1, num() do
    local f = nxt()
    ref[f] = nxt()
  end
  if not redis.call('ZSCORE', staff, member) then
    local lo = score - window
    local before = redis.call('ZCOUNT', staff, lo, score)
    redis.call('ZADD', staff, score, member)
    redis.call('ZREMRANGEBYSCORE', staff, '-inf', '(' .. (score - 2 * window))
    if before < threshold and before + 1 >= threshold then
      ref.rating_ids = redis.call('ZRANGEBYSCORE', staff, lo, score)
      ref.count = #ref.rating_ids
      redis.call('ZADD', refz, now, ref.id)
      redis.call('HSET', refh, ref.id, cjson.encode(ref))
      extra = {'type', 'staff_referral', 'referral_id', ref.id, 'case_id', ref.case_id,
        'unit_id', ref.unit_id, 'at', tostring(now)}
      result = {'OK', ref.id}
    end
  end
end

local ek, maxlen = KEYS[num()], nxt()
for _ = 1, num() do
  local e = {}
  for j = 1, num() do e[j] = nxt() end
  redis.call('XADD', ek, 'MAXLEN', '~', maxlen, '*', unpack(e))
end
if extra then redis.call('XADD', ek, 'MAXLEN', '~', maxlen, '*', unpack(extra)) end
return result
