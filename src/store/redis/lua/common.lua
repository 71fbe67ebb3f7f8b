-- common.lua: helpers prepended to every hookbay engine script (not run alone).
--
-- Per (queue, message) delivery state lives in the queue's `st` hash as a JSON
-- object: s = ready|delayed|leased|acked|dead, a = attempts started,
-- g = lease generation (bumped on every lease, so an old lease token can never
-- settle a newer lease), e = lease expiry (ms), due = redelivery time (ms),
-- r = 1 when replayed, dr/dt = dead-letter reason/time, h = attempt history
-- [{n = attempt, l = leased at, o = outcome, r = reason, t = settled at}].
-- All times come from the Redis clock so every relay node agrees on them.

local HISTORY_CAP = 50

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- policy string: "leaseMs maxAttempts initialMs multiplier maxMs since", where
-- `since` is the last stream id of the source when the queue was attached:
-- every later message is in the queue.
local function parse_policy(raw)
  local p = {}
  for v in string.gmatch(raw, '%S+') do p[#p + 1] = v end
  return { lease = tonumber(p[1]), max = tonumber(p[2]), init = tonumber(p[3]),
           mult = tonumber(p[4]), cap = tonumber(p[5]), since = p[6] or '0-0' }
end

-- Stream ids ("ms-seq") compared numerically.
local function sid_parts(s)
  local a, b = string.match(s, '^(%d+)-(%d+)$')
  return tonumber(a or '0'), tonumber(b or '0')
end

local function sid_after(a, b)
  local a1, a2 = sid_parts(a)
  local b1, b2 = sid_parts(b)
  return a1 > b1 or (a1 == b1 and a2 > b2)
end

-- The source id inside a key's hash tag.
local function source_of(key)
  return string.match(key, '{(.-)}')
end

local function backoff_ms(pol, failed)
  local d = pol.init * (pol.mult ^ (failed - 1))
  if d > pol.cap then d = pol.cap end
  return math.floor(d)
end

local function qkeys(prefix, q)
  local b = prefix .. 'q:' .. q .. ':'
  return { ready = b .. 'ready', delayed = b .. 'delayed', leased = b .. 'leased',
           dead = b .. 'dead', st = b .. 'st' }
end

-- A stored state as a table, or nil when it is not one the scripts can
-- work with (not JSON; no state name or attempt count; a lease without
-- its expiry; a history that is not a list) — a bug or a damaged import.
-- Such a state never stops a queue nor fails a call: upkeep drops it from
-- the delayed and lease sets, retention trims its message, lease.lua leaves
-- it out of the ready list and settle.lua answers "gone" for it (both note
-- it in Redis's log), and replay.lua writes a fresh one.
local function decode_state(raw)
  local ok, st = pcall(cjson.decode, raw)
  if not ok or type(st) ~= 'table' or type(st.s) ~= 'string' or type(st.a) ~= 'number' then
    return nil
  end
  if st.s == 'leased' and type(st.e) ~= 'number' then return nil end
  if st.h ~= nil and type(st.h) ~= 'table' then return nil end
  return st
end

-- A message ingested after the queue was attached has no stored state until
-- it is first leased (ingest stays cheap): with `pol`, such a message reads
-- as fresh and ready. Without `pol`, a missing state reads as nil, and so
-- does an unreadable one (see decode_state).
-- (`read_state` is the same for a raw value the caller already holds.)
local function read_state(raw, sid, pol)
  if raw then return decode_state(raw) end
  if pol and sid_after(sid, pol.since) then return { s = 'ready', a = 0, g = 0 } end
  return nil
end

local function load_state(k, sid, pol)
  return read_state(redis.call('HGET', k.st, sid), sid, pol)
end

-- Note an unreadable state (see decode_state) in Redis's log.
local function log_unreadable(k, sid)
  redis.log(redis.LOG_WARNING, 'hookbay: unreadable delivery state ' .. k.st .. ' ' .. sid)
end

local function encode_state(st)
  if st.h and #st.h == 0 then st.h = nil end
  return cjson.encode(st)
end

local function save_state(k, sid, st)
  redis.call('HSET', k.st, sid, encode_state(st))
end

-- `cmd key a1 a2 ...` over the arguments in `args` (none: no call), at most
-- 1,000 per call (unpack's limit is a few thousand; pairs stay whole).
-- One call for many members costs far less than a call each: every
-- redis.call converts its arguments and reply, and every write command
-- is an entry of its own in the AOF.
local function call_many(cmd, key, args)
  for i = 1, #args, 1000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 999, #args)))
  end
end

-- The source's queue set or a queue's filter changed: bump the routing
-- version (never re-creating the marker of a deleted source).
local function bump_routes(src)
  if redis.call('EXISTS', src) == 1 then redis.call('HINCRBY', src, 'rv', 1) end
end

-- Tell waiting consumers that n deliveries became ready on queue q
-- ("*" = every queue of the source). One channel per source.
local function wake(src, q, n)
  if n > 0 then redis.call('PUBLISH', 'hookbay:wake:' .. src, q .. ' ' .. n) end
end

local function close_attempt(st, outcome, reason, now)
  local h = st.h
  if h and #h > 0 then
    local e = h[#h]
    e.o = outcome
    if reason and reason ~= '' then e.r = reason end
    e.t = now
  end
end

-- A leased delivery failed (nack or expired lease): dead-letter it once the
-- attempts are used up, otherwise schedule the redelivery.
-- Returns the new state name.
local function fail_attempt(k, pol, sid, st, now, outcome, reason, delay)
  redis.call('ZREM', k.leased, sid)
  close_attempt(st, outcome, reason, now)
  st.e = nil
  if st.a >= pol.max then
    st.s = 'dead'; st.dr = 'max_attempts'; st.dt = now
    redis.call('ZADD', k.dead, now, sid)
    return 'dead'
  end
  if delay == nil or delay < 0 then delay = backoff_ms(pol, st.a) end
  if delay == 0 then
    st.s = 'ready'
    redis.call('RPUSH', k.ready, sid)
    return 'ready'
  end
  st.s = 'delayed'; st.due = now + delay
  redis.call('ZADD', k.delayed, now + delay, sid)
  return 'delayed'
end

-- Stored size of a stream entry: the lengths of all its fields and values
-- (the same measure at ingest and at trim, so the counter balances). The
-- routing field `to` is bookkeeping, not the tenant's data: not counted
-- (the embedded store keeps no such field).
local function entry_size(fields)
  local n = 0
  for i = 1, #fields - 1, 2 do
    if fields[i] ~= 'to' then n = n + #fields[i] + #fields[i + 1] end
  end
  return n
end

-- Whether a stream entry (its flat field list) was delivered to queue q:
-- yes unless routing filtered it out (then `to` lists the queues it went to).
local function routed(fields, q)
  for i = 1, #fields - 1, 2 do
    if fields[i] == 'to' then
      for t in string.gmatch(fields[i + 1], '%S+') do
        if t == q then return true end
      end
      return false
    end
  end
  return true
end

-- Move due delayed deliveries to the ready list. Returns how many moved.
local function promote_due(k, now, limit)
  local due = redis.call('ZRANGEBYSCORE', k.delayed, '-inf', now, 'LIMIT', 0, limit)
  for _, sid in ipairs(due) do
    redis.call('ZREM', k.delayed, sid)
    local st = load_state(k, sid)
    if st and st.s == 'delayed' then
      st.s = 'ready'; st.due = nil
      save_state(k, sid, st)
      redis.call('RPUSH', k.ready, sid)
    end
  end
  return #due
end

-- Expired leases count as failed attempts. Returns {expired, made ready}.
local function reclaim_expired(k, pol, now, limit)
  local exp = redis.call('ZRANGEBYSCORE', k.leased, '-inf', now, 'LIMIT', 0, limit)
  local ready = 0
  for _, sid in ipairs(exp) do
    local st = load_state(k, sid)
    if st and st.s == 'leased' then
      if fail_attempt(k, pol, sid, st, now, 'expired', 'lease_expired', nil) == 'ready' then
        ready = ready + 1
      end
      save_state(k, sid, st)
    else
      redis.call('ZREM', k.leased, sid)
    end
  end
  return { #exp, ready }
end
