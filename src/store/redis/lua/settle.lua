-- settle.lua: apply a consumer's outcome to one leased delivery.
-- The lease generation and expiry are checked first; a stale or expired lease
-- changes nothing.
--
-- KEYS[1] hb:{S}:qp    queue policies
-- KEYS[2..6] hb:{S}:q:<Q>:ready|delayed|leased|dead|st
-- ARGV[1] queue id
-- ARGV[2] op: ack | nack | reject | extend
-- ARGV[3] stream id of the message
-- ARGV[4] lease generation the caller holds
-- ARGV[5] reason ("" = none)
-- ARGV[6] nack: delay ms (-1 = backoff policy); extend: new lease length ms
-- Returns {"gone"} | {"stale"} | {"expired"} | {"ok", newState, leaseExpiresAt}
local q = ARGV[1]
local raw = redis.call('HGET', KEYS[1], q)
if not raw then return { 'gone' } end
local pol = parse_policy(raw)
local k = { ready = KEYS[2], delayed = KEYS[3], leased = KEYS[4], dead = KEYS[5], st = KEYS[6] }
local sid = ARGV[3]
local st = load_state(k, sid)
if not st then return { 'gone' } end
if st.s ~= 'leased' or tonumber(st.g) ~= tonumber(ARGV[4]) then return { 'stale' } end
local now = now_ms()
if st.e <= now then return { 'expired' } end
local op = ARGV[2]
local reason = ARGV[5]
local num = tonumber(ARGV[6])
if op == 'ack' then
  redis.call('ZREM', k.leased, sid)
  close_attempt(st, 'ack', nil, now)
  st.s = 'acked'; st.e = nil
  save_state(k, sid, st)
  return { 'ok', 'acked', 0 }
elseif op == 'nack' then
  local res = fail_attempt(k, pol, sid, st, now, 'nack', reason, num)
  save_state(k, sid, st)
  if res == 'ready' then wake(source_of(KEYS[1]), q, 1) end
  return { 'ok', res, 0 }
elseif op == 'reject' then
  redis.call('ZREM', k.leased, sid)
  close_attempt(st, 'reject', reason, now)
  st.s = 'dead'; st.e = nil; st.dt = now
  if reason ~= '' then st.dr = reason else st.dr = 'rejected' end
  redis.call('ZADD', k.dead, now, sid)
  save_state(k, sid, st)
  return { 'ok', 'dead', 0 }
elseif op == 'extend' then
  st.e = now + num
  redis.call('ZADD', k.leased, st.e, sid)
  save_state(k, sid, st)
  return { 'ok', 'leased', st.e }
end
return redis.error_reply('unknown op')
