-- settle.lua: apply consumers' outcomes to leased deliveries of one queue,
-- one item after another (the script as a whole is atomic, so each item is
-- too). For each item the lease generation and expiry are checked first; a
-- stale or expired lease changes nothing.
--
-- KEYS[1] hb:{S}:qp    queue policies
-- KEYS[2..6] hb:{S}:q:<Q>:ready|delayed|leased|dead|st
-- ARGV[1] queue id
-- ARGV[2] n: number of items
-- ARGV[3 + 5i ..] per item: op (ack | nack | reject | extend), stream id,
--         lease generation the caller holds, reason ("" = none), number
--         (nack: delay ms, -1 = backoff policy; extend: new lease ms)
-- Returns {"gone"} when the queue is gone, else {"ok", r1, r2, …} with one
-- reply per item: {"gone"} | {"stale"} | {"expired"} |
-- {"ok", newState, leaseExpiresAt}
local q = ARGV[1]
local raw = redis.call('HGET', KEYS[1], q)
if not raw then return { 'gone' } end
local pol = parse_policy(raw)
local k = { ready = KEYS[2], delayed = KEYS[3], leased = KEYS[4], dead = KEYS[5], st = KEYS[6] }
local now = now_ms()
local woken = 0

local function settle_one(op, sid, gen, reason, num)
  local st = load_state(k, sid)
  if not st then return { 'gone' } end
  if st.s ~= 'leased' or tonumber(st.g) ~= gen then return { 'stale' } end
  if st.e <= now then return { 'expired' } end
  if op == 'ack' then
    redis.call('ZREM', k.leased, sid)
    close_attempt(st, 'ack', nil, now)
    st.s = 'acked'; st.e = nil
    save_state(k, sid, st)
    return { 'ok', 'acked', 0 }
  elseif op == 'nack' then
    local res = fail_attempt(k, pol, sid, st, now, 'nack', reason, num)
    save_state(k, sid, st)
    if res == 'ready' then woken = woken + 1 end
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
end

local out = { 'ok' }
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local b = 3 + 5 * i
  out[#out + 1] = settle_one(ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2]), ARGV[b + 3],
    tonumber(ARGV[b + 4]))
end
wake(source_of(KEYS[1]), q, woken)
return out
