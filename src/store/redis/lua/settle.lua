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

-- every item's state read with one HMGET up front; each state is written
-- once at the end (one HSET), and acked deliveries leave the lease set in
-- one ZREM: a command per item cost more than the rest of the item. An item
-- sees the items before it (a sid twice in one call: the second finds the
-- first's outcome), as when each wrote at once. An unreadable state (see
-- decode_state) answers its item "gone" and is noted in Redis's log.
local n = tonumber(ARGV[2])
local sids = {}
for i = 0, n - 1 do sids[i + 1] = ARGV[4 + 5 * i] end
local raws = {}
if n > 0 then raws = redis.call('HMGET', k.st, unpack(sids)) end
local states, changed, acked = {}, {}, {}

local function settle_one(i, op, sid, gen, reason, num)
  local st = states[sid]
  if st == nil then
    st = read_state(raws[i], sid) or false
    if raws[i] and not st then log_unreadable(k, sid) end
    states[sid] = st
  end
  if not st then return { 'gone' } end
  if st.s ~= 'leased' or tonumber(st.g) ~= gen then return { 'stale' } end
  if st.e <= now then return { 'expired' } end
  if op == 'ack' or op == 'nack' or op == 'reject' or op == 'extend' then
    changed[#changed + 1] = sid
  end
  if op == 'ack' then
    acked[#acked + 1] = sid
    close_attempt(st, 'ack', nil, now)
    st.s = 'acked'; st.e = nil
    return { 'ok', 'acked', 0 }
  elseif op == 'nack' then
    local res = fail_attempt(k, pol, sid, st, now, 'nack', reason, num)
    if res == 'ready' then woken = woken + 1 end
    return { 'ok', res, 0 }
  elseif op == 'reject' then
    redis.call('ZREM', k.leased, sid)
    close_attempt(st, 'reject', reason, now)
    st.s = 'dead'; st.e = nil; st.dt = now
    if reason ~= '' then st.dr = reason else st.dr = 'rejected' end
    redis.call('ZADD', k.dead, now, sid)
    return { 'ok', 'dead', 0 }
  elseif op == 'extend' then
    st.e = now + num
    redis.call('ZADD', k.leased, st.e, sid)
    return { 'ok', 'leased', st.e }
  end
  return redis.error_reply('unknown op')
end

local out = { 'ok' }
for i = 0, n - 1 do
  local b = 3 + 5 * i
  out[#out + 1] = settle_one(i + 1, ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2]), ARGV[b + 3],
    tonumber(ARGV[b + 4]))
end
-- an acked delivery is never leased again within the call (only
-- lease.lua leases), so its removal from the lease set can wait till here
call_many('ZREM', k.leased, acked)
local written, seen = {}, {}
for _, sid in ipairs(changed) do
  if not seen[sid] then
    seen[sid] = true
    written[#written + 1] = sid
    written[#written + 1] = encode_state(states[sid])
  end
end
call_many('HSET', k.st, written)
wake(source_of(KEYS[1]), q, woken)
return out
