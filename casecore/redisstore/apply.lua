-- apply.lua: apply one casecore.Change atomically.
--
-- KEYS: every key the change touches; the payload refers to them by index.
-- ARGV[1]: the payload, JSON:
--   idem:    {k, f, v}        idempotency hash index, key, "ratingID|fingerprint".
--                             If the field exists, nothing is written and
--                             {"DUP", existing value} is returned.
--   conds:   [[k, version]]   each record key must hold "<version>\n..." (0: must not exist),
--                             else nothing is written and {"CONFLICT", k} is returned.
--   sets:    [[k, a]]         records to write: ARGV[a] ("<version>\n<json>") to KEYS[k].
-- ARGV[2...]: the records, passed apart so the payload stays small to parse.
--   ops:     [[op, k, ...]]   index and counter writes, in order:
--              zadd k score member | zrem k member | sadd k member | srem k member
--              hincrby k field n | hset k field value | happend k field value max | rpush k value
--   referral (optional): {staff, refz, refh, member, score, window, threshold, ref}
--                             count a confirmed bad rating; on crossing the
--                             threshold write a referral (ref: its fields).
--   events:  {k, maxlen, list: [[field, value, ...]]}
-- Returns {"OK"} or {"OK", referralID}, {"DUP", value}, {"CONFLICT", key}.
local p = cjson.decode(ARGV[1])

if p.idem then
  local v = redis.call('HGET', KEYS[p.idem[1]], p.idem[2])
  if v then return {'DUP', v} end
end

for _, c in ipairs(p.conds or {}) do
  local cur = redis.call('GET', KEYS[c[1]])
  local ver = 0
  if cur then ver = tonumber(string.match(cur, '^(%d+)\n')) or -1 end
  if ver ~= c[2] then return {'CONFLICT', KEYS[c[1]]} end
end

if p.idem then redis.call('HSET', KEYS[p.idem[1]], p.idem[2], p.idem[3]) end
for _, s in ipairs(p.sets or {}) do redis.call('SET', KEYS[s[1]], ARGV[s[2]]) end

for _, o in ipairs(p.ops or {}) do
  local op, k = o[1], KEYS[o[2]]
  if op == 'zadd' then redis.call('ZADD', k, o[3], o[4])
  elseif op == 'zrem' then redis.call('ZREM', k, o[3])
  elseif op == 'sadd' then redis.call('SADD', k, o[3])
  elseif op == 'srem' then redis.call('SREM', k, o[3])
  elseif op == 'hincrby' then redis.call('HINCRBY', k, o[3], o[4])
  elseif op == 'hset' then redis.call('HSET', k, o[3], o[4])
  elseif op == 'happend' then
    -- append to a comma-separated list, keeping at most o[5] entries (the newest)
    local cur = redis.call('HGET', k, o[3])
    if cur then
      local _, commas = string.gsub(cur, ',', ',')
      if o[5] and commas + 1 >= o[5] then cur = string.sub(cur, string.find(cur, ',', 1, true) + 1) end
      redis.call('HSET', k, o[3], cur .. ',' .. o[4])
    else
      redis.call('HSET', k, o[3], o[4])
    end
  elseif op == 'rpush' then redis.call('RPUSH', k, o[3])
  else return redis.error_reply('apply: unknown op ' .. tostring(op)) end
end

local result = {'OK'}
local r = p.referral
if r then
  local staff = KEYS[r.staff]
  if not redis.call('ZSCORE', staff, r.member) then
    local lo = r.score - r.window
    local before = redis.call('ZCOUNT', staff, lo, r.score)
    redis.call('ZADD', staff, r.score, r.member)
    redis.call('ZREMRANGEBYSCORE', staff, '-inf', '(' .. (r.score - 2 * r.window))
    if before < r.threshold and before + 1 >= r.threshold then
      local ref = r.ref
      ref.rating_ids = redis.call('ZRANGEBYSCORE', staff, lo, r.score)
      ref.count = #ref.rating_ids
      redis.call('ZADD', KEYS[r.refz], p.now, ref.id)
      redis.call('HSET', KEYS[r.refh], ref.id, cjson.encode(ref))
      table.insert(p.events.list, {'type', 'staff_referral', 'referral_id', ref.id, 'case_id', ref.case_id,
        'unit_id', ref.unit_id, 'at', tostring(p.now)})
      result = {'OK', ref.id}
    end
  end
end

if p.events then
  for _, e in ipairs(p.events.list) do
    redis.call('XADD', KEYS[p.events.k], 'MAXLEN', '~', p.events.maxlen, '*', unpack(e))
  end
end
return result
