package sms

import "github.com/redis/go-redis/v9"

// The outbox's Lua scripts. Every key they touch starts with the prefix
// passed as ARGV[1] ("{ns}:sms:"), whose hash tag puts them in one Cluster
// slot with the keys named in KEYS.
//
// Every script that changes a message's state changes the count of its
// old and new state (the states hash) in the same step, so the counts are
// those of the message hashes at every moment. Finished messages expire:
// the end set keeps, for each one given a TTL, its state and expiry, and
// sweepScript forgets them (hash and count together) when their time is up.

// luaStates defines the counting of message states.
//
// ready(p, now) makes sure the states hash exists before a script changes
// a state: when it is missing (the first use of a Redis holding messages
// of an older version, or a lost key) it recounts the message hashes and
// rebuilds the end set from their TTLs. It must run before the script's
// first state change.
//
// move(p, id, from, to, now, ttl) counts a message leaving state from
// (false for a new message) for state to; its end set entry, if any,
// follows it. ttl, when the script gives the hash that TTL, adds the entry.
const luaStates = `
local function ready(p, now)
  local sk = p .. 'states'
  if redis.call('EXISTS', sk) == 1 then return end
  local ek = p .. 'end'
  redis.call('DEL', ek)
  local n = {queued = 0, sending = 0, sent = 0, delivered = 0, failed = 0, expired = 0}
  local pat = (string.gsub(p .. 'msg:', '([%*%?%[%]\\])', '\\%1')) .. '*'
  local seen = {}
  local cur = '0'
  repeat
    local r = redis.call('SCAN', cur, 'MATCH', pat, 'COUNT', 1000)
    cur = r[1]
    for _, k in ipairs(r[2]) do
      local st = (not seen[k]) and redis.call('HGET', k, 'state')
      seen[k] = true
      if st then
        n[st] = (n[st] or 0) + 1
        local ttl = redis.call('PTTL', k)
        if ttl > 0 then redis.call('ZADD', ek, now + ttl, st .. ':' .. string.sub(k, #p + 5)) end
      end
    end
  until cur == '0'
  local args = {}
  for st, c in pairs(n) do table.insert(args, st); table.insert(args, c) end
  redis.call('HSET', sk, unpack(args))
end

local function move(p, id, from, to, now, ttl)
  local sk, ek = p .. 'states', p .. 'end'
  if from ~= to then
    if from then redis.call('HINCRBY', sk, from, -1) end
    redis.call('HINCRBY', sk, to, 1)
    if from then
      local at = redis.call('ZSCORE', ek, from .. ':' .. id)
      if at then
        redis.call('ZREM', ek, from .. ':' .. id)
        redis.call('ZADD', ek, at, to .. ':' .. id)
      end
    end
  end
  if ttl then redis.call('ZADD', ek, now + ttl, to .. ':' .. id) end
end
`

// luaEnqueue defines enqueue(p, m, now, inv): it numbers a message, writes
// its hash in state queued (counted) and schedules it in the due set at
// m.due. m is {kind, to, text, segs, due, exp, window}. It returns the
// message ID.
const luaEnqueue = luaStates + `
local function enqueue(p, m, now, inv)
  ready(p, now)
  local n = redis.call('INCR', p .. 'seq')
  local id = 'M' .. n
  local k = p .. 'msg:' .. id
  redis.call('HSET', k, 'id', id, 'inv', inv or '', 'kind', m.kind, 'to', m.to, 'text', m.text,
    'segs', m.segs, 'ref', (n % 65535) + 1, 'state', 'queued', 'attempts', 0, 'created', now,
    'updated', now, 'due', m.due, 'exp', m.exp or 0, 'window', m.window and 1 or 0)
  redis.call('ZADD', p .. 'due', m.due, id)
  move(p, id, false, 'queued', now)
  return id
end
`

// enqueueScript queues standalone messages (acknowledgements, opt-out
// confirmations). ARGV: 1 prefix, 2 now (ms), 3 JSON array of messages,
// 4 invitation ID or "". Returns the message IDs.
var enqueueScript = redis.NewScript(luaEnqueue + `
local p, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for _, m in ipairs(cjson.decode(ARGV[3])) do
  table.insert(out, enqueue(p, m, now, ARGV[4]))
end
return out
`)

// createScript creates an invitation with its messages, once per work
// order (or case) and once per idempotency key.
// KEYS: 1 invitation hash, 2 wo hash, 3 idem hash, 4 phone set, 5 token key
// or the invitation key again, 6 code key or the invitation key again.
// ARGV: 1 prefix, 2 now (ms), 3 invitation ID, 4 invitation JSON, 5 wo
// field or "", 6 idempotency key or "", 7 TTL of the invitation's keys (ms),
// 8 JSON array of messages, 9 "1" to ignore an existing work order mapping.
// Returns {"ok", message IDs...}, {"dup", id} (same idempotency key) or
// {"exists", id} (the work order already has an invitation).
var createScript = redis.NewScript(luaEnqueue + `
local p, now, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if ARGV[6] ~= '' then
  local old = redis.call('HGET', KEYS[3], ARGV[6])
  if old then return {'dup', old} end
end
if ARGV[5] ~= '' and ARGV[9] ~= '1' then
  local old = redis.call('HGET', KEYS[2], ARGV[5])
  if old then return {'exists', old} end
end
if KEYS[6] ~= KEYS[1] and redis.call('EXISTS', KEYS[6]) == 1 then
  return redis.error_reply('CODE_TAKEN')
end
local ttl = tonumber(ARGV[7])
local ids = {}
for _, m in ipairs(cjson.decode(ARGV[8])) do
  table.insert(ids, enqueue(p, m, now, id))
end
redis.call('HSET', KEYS[1], 'j', ARGV[4], 'v', 1, 'msgs', table.concat(ids, ','))
redis.call('PEXPIRE', KEYS[1], ttl)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[5], id) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], ARGV[6], id) end
redis.call('ZADD', KEYS[4], now, id)
redis.call('PEXPIRE', KEYS[4], ttl)
if KEYS[5] ~= KEYS[1] then redis.call('SET', KEYS[5], id, 'PX', ttl) end
if KEYS[6] ~= KEYS[1] then redis.call('SET', KEYS[6], id, 'PX', ttl) end
local out = {'ok'}
for _, x in ipairs(ids) do table.insert(out, x) end
return out
`)

// updateScript replaces an invitation whose version is as expected and
// queues messages with it (compare-and-set).
// KEYS: 1 invitation hash, 2 token key or KEYS[1], 3 code key or KEYS[1].
// ARGV: 1 prefix, 2 now (ms), 3 invitation ID, 4 expected version, 5 new
// JSON, 6 JSON array of messages ("[]" for none), 7 TTL (ms) of the keys.
// Returns {"ok", message IDs...}, or {"conflict"} / {"gone"}.
var updateScript = redis.NewScript(luaEnqueue + `
local p, now, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {'gone'} end
if v ~= ARGV[4] then return {'conflict'} end
local ids = {}
for _, m in ipairs(cjson.decode(ARGV[6])) do
  table.insert(ids, enqueue(p, m, now, id))
end
redis.call('HSET', KEYS[1], 'j', ARGV[5], 'v', tonumber(v) + 1)
if #ids > 0 then
  local msgs = redis.call('HGET', KEYS[1], 'msgs') or ''
  if msgs ~= '' then msgs = msgs .. ',' end
  redis.call('HSET', KEYS[1], 'msgs', msgs .. table.concat(ids, ','))
end
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  if KEYS[2] ~= KEYS[1] then redis.call('SET', KEYS[2], id, 'PX', ttl) end
  if KEYS[3] ~= KEYS[1] then redis.call('SET', KEYS[3], id, 'PX', ttl) end
end
local out = {'ok'}
for _, x in ipairs(ids) do table.insert(out, x) end
return out
`)

// claimScript takes due messages for sending, under a lease.
// KEYS: 1 due set, 2 suppression set.
// ARGV: 1 prefix, 2 now (ms), 3 limit, 4 lease (ms), 5 "1" if the send
// window is open, 6 next window opening (ms), 7 today (YYYYMMDD), 8 daily
// cap, 9 next day's window opening (ms), 10 TTL of terminal messages (ms).
//
// A message in state sending whose lease ended belonged to a process that
// died during the send: whether the gateway got it is unknown, and the
// smpp package's policy is to send again (at least once), with the same
// user reference. Returns a flat list of {id, action, lease token}, action
// send, resend (after a lapsed lease), suppressed, expired, deferred
// (window closed) or capped.
var claimScript = redis.NewScript(luaStates + `
local p, now = ARGV[1], tonumber(ARGV[2])
local ttl = tonumber(ARGV[10])
ready(p, now)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local k = p .. 'msg:' .. id
  local f = redis.call('HMGET', k, 'state', 'to', 'window', 'exp', 'capd', 'kind')
  local st = f[1]
  if (not st) or (st ~= 'queued' and st ~= 'sending') then
    redis.call('ZREM', KEYS[1], id)
  else
    local exp = tonumber(f[4]) or 0
    if f[6] ~= 'opt_out' and redis.call('SISMEMBER', KEYS[2], f[2]) == 1 then
      redis.call('HSET', k, 'state', 'failed', 'err', 'suppressed', 'updated', now)
      redis.call('ZREM', KEYS[1], id)
      redis.call('PEXPIRE', k, ttl)
      move(p, id, st, 'failed', now, ttl)
      table.insert(out, id); table.insert(out, 'suppressed'); table.insert(out, '')
    elseif exp > 0 and now >= exp then
      redis.call('HSET', k, 'state', 'expired', 'updated', now)
      redis.call('ZREM', KEYS[1], id)
      redis.call('PEXPIRE', k, ttl)
      move(p, id, st, 'expired', now, ttl)
      table.insert(out, id); table.insert(out, 'expired'); table.insert(out, '')
    elseif f[3] == '1' and ARGV[5] ~= '1' then
      redis.call('HSET', k, 'state', 'queued', 'due', ARGV[6], 'updated', now)
      redis.call('ZADD', KEYS[1], ARGV[6], id)
      move(p, id, st, 'queued', now)
      table.insert(out, id); table.insert(out, 'deferred'); table.insert(out, '')
    else
      local capped = false
      if f[6] ~= 'opt_out' and f[5] ~= ARGV[7] then
        local ck = p .. 'cap:' .. f[2] .. ':' .. ARGV[7]
        local n = redis.call('INCR', ck)
        if n == 1 then redis.call('PEXPIRE', ck, 172800000) end
        if n > tonumber(ARGV[8]) then
          redis.call('DECR', ck)
          capped = true
        else
          redis.call('HSET', k, 'capd', ARGV[7])
        end
      end
      if capped then
        redis.call('HSET', k, 'state', 'queued', 'due', ARGV[9], 'err', 'daily_cap', 'updated', now)
        redis.call('ZADD', KEYS[1], ARGV[9], id)
        move(p, id, st, 'queued', now)
        table.insert(out, id); table.insert(out, 'capped'); table.insert(out, '')
      else
        local a = redis.call('HINCRBY', k, 'attempts', 1)
        local lease = now + tonumber(ARGV[4])
        redis.call('HSET', k, 'state', 'sending', 'lease', lease, 'tok', a, 'updated', now)
        redis.call('ZADD', KEYS[1], lease, id)
        move(p, id, st, 'sending', now)
        table.insert(out, id)
        if st == 'sending' then table.insert(out, 'resend') else table.insert(out, 'send') end
        table.insert(out, tostring(a))
      end
    end
  end
end
return out
`)

// completeScript records the outcome of a send.
// KEYS: 1 message hash, 2 due set.
// ARGV: 1 prefix, 2 lease token, 3 outcome (sent, retry, failed), 4 now
// (ms), 5 provider ids (comma-separated), 6 next due (ms, for retry), 7
// error text, 8 provider name, 9 TTL of terminal messages and id mappings (ms).
// The ids are mapped to the message even when the lease was lost, so a
// receipt for either copy of a message sent twice finds it. Returns ok,
// stale (the lease was taken over) or gone.
var completeScript = redis.NewScript(luaStates + `
local p, now, ttl = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[9])
ready(p, now)
local f = redis.call('HMGET', KEYS[1], 'state', 'tok', 'inv', 'id', 'ids')
if not f[1] then return 'gone' end
local id = f[4]
local all = f[5] or ''
for pid in string.gmatch(ARGV[5], '[^,]+') do
  redis.call('SET', p .. 'rid:' .. ARGV[8] .. ':' .. pid, id, 'PX', ttl)
  if all ~= '' then all = all .. ',' end
  all = all .. pid
end
if all ~= '' then redis.call('HSET', KEYS[1], 'ids', all) end
local o = ARGV[3]
-- A gateway that delivers at once (Kannel's fake SMSC, some SMPP SMSCs) can
-- report delivery before the send returns: the message is then already
-- delivered under this lease. It was sent all the same: record that, and
-- mark the invitation sent so replies match it.
if f[1] == 'delivered' and f[2] == ARGV[2] and o == 'sent' then
  redis.call('HSET', KEYS[1], 'sent', now, 'provider', ARGV[8], 'updated', now)
  redis.call('ZREM', KEYS[2], id)
  redis.call('PEXPIRE', KEYS[1], ttl)
  move(p, id, 'delivered', 'delivered', now, ttl)
  if f[3] and f[3] ~= '' then
    local ik = p .. 'inv:' .. f[3]
    if redis.call('EXISTS', ik) == 1 then redis.call('HSETNX', ik, 'sent', now) end
  end
  return 'ok'
end
if f[1] ~= 'sending' or f[2] ~= ARGV[2] then return 'stale' end
if o == 'sent' then
  redis.call('HSET', KEYS[1], 'state', 'sent', 'sent', now, 'provider', ARGV[8], 'err', '', 'updated', now)
  redis.call('ZREM', KEYS[2], id)
  redis.call('PEXPIRE', KEYS[1], ttl)
  move(p, id, f[1], 'sent', now, ttl)
  if f[3] and f[3] ~= '' then
    local ik = p .. 'inv:' .. f[3]
    if redis.call('EXISTS', ik) == 1 then redis.call('HSETNX', ik, 'sent', now) end
  end
elseif o == 'retry' then
  redis.call('HSET', KEYS[1], 'state', 'queued', 'due', ARGV[6], 'err', ARGV[7], 'updated', now)
  redis.call('ZADD', KEYS[2], ARGV[6], id)
  move(p, id, f[1], 'queued', now)
else
  redis.call('HSET', KEYS[1], 'state', 'failed', 'err', ARGV[7], 'provider', ARGV[8], 'updated', now)
  redis.call('ZREM', KEYS[2], id)
  redis.call('PEXPIRE', KEYS[1], ttl)
  move(p, id, f[1], 'failed', now, ttl)
end
return 'ok'
`)

// receiptScript applies a delivery receipt.
// KEYS: 1 the provider id's mapping (rid:<prov>:<id>).
// ARGV: 1 prefix, 2 part key, 3 status (delivered, failed, expired), 4 now (ms), 5 TTL (ms),
// 6 our message ID when the gateway reports with it (else empty: KEYS[1] maps the gateway's id).
// A message is delivered once as many distinct parts were delivered as it
// has segments; a failure counts only while the message is not delivered.
// Returns {result, message ID}: result delivered, partial, failed,
// expired, ignored or unknown.
var receiptScript = redis.NewScript(luaStates + `
local p, now = ARGV[1], tonumber(ARGV[4])
ready(p, now)
local id = ARGV[6]
if id == nil or id == '' then id = redis.call('GET', KEYS[1]) end
if not id then return {'unknown', ''} end
local k = p .. 'msg:' .. id
local f = redis.call('HMGET', k, 'state', 'segs')
if not f[1] then return {'unknown', id} end
if ARGV[3] == 'delivered' then
  local dk = p .. 'dlv:' .. id
  redis.call('SADD', dk, ARGV[2])
  redis.call('PEXPIRE', dk, tonumber(ARGV[5]))
  if f[1] == 'delivered' then return {'ignored', id} end
  if redis.call('SCARD', dk) >= (tonumber(f[2]) or 1) then
    redis.call('HSET', k, 'state', 'delivered', 'delivered', now, 'updated', now)
    move(p, id, f[1], 'delivered', now)
    return {'delivered', id}
  end
  return {'partial', id}
end
if f[1] == 'sent' or f[1] == 'sending' then
  redis.call('HSET', k, 'state', ARGV[3], 'err', 'receipt', 'updated', now)
  move(p, id, f[1], ARGV[3], now)
  return {ARGV[3], id}
end
return {'ignored', id}
`)

// sweepScript forgets finished messages whose time is up, at most a batch:
// it deletes each hash (unless Redis expired it already) and takes it off
// its state's count.
// KEYS: 1 end set, 2 states hash. ARGV: 1 prefix, 2 now (ms), 3 limit.
// Returns how many it forgot.
var sweepScript = redis.NewScript(luaStates + `
local p, now = ARGV[1], tonumber(ARGV[2])
ready(p, now)
local ms = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(ms) do
  local st, id = string.match(m, '^([^:]+):(.*)$')
  redis.call('ZREM', KEYS[1], m)
  redis.call('DEL', p .. 'msg:' .. id)
  redis.call('HINCRBY', KEYS[2], st, -1)
end
return #ms
`)

// countsScript returns the states hash as a flat list, recounting it first
// if it is missing. ARGV: 1 prefix, 2 now (ms).
var countsScript = redis.NewScript(luaStates + `
ready(ARGV[1], tonumber(ARGV[2]))
return redis.call('HGETALL', ARGV[1] .. 'states')
`)
