-- lease.lua: hand up to N ready deliveries of one queue to one consumer.
-- Due redeliveries and expired leases are handled first, so a consumer never
-- waits on the background reaper.
--
-- KEYS[1] hb:{S}:log   message stream
-- KEYS[2] hb:{S}:qp    queue policies (field = queue id)
-- KEYS[3..7] hb:{S}:q:<Q>:ready|delayed|leased|dead|st
-- ARGV[1] queue id
-- ARGV[2] max deliveries to lease
-- ARGV[3] lease duration in ms (0 = the queue's default)
-- Returns {"gone"} | {"ok", now, {sid, attempt, gen, expiresAt, maxAttempts,
--          replayed, {field, value, ...}}, ...}
local q = ARGV[1]
local raw = redis.call('HGET', KEYS[2], q)
if not raw then return { 'gone' } end
local pol = parse_policy(raw)
local k = { ready = KEYS[3], delayed = KEYS[4], leased = KEYS[5], dead = KEYS[6], st = KEYS[7] }
local now = now_ms()
local moved = promote_due(k, now, 100)
local rec = reclaim_expired(k, pol, now, 100)
moved = moved + rec[2]
local lease = tonumber(ARGV[3])
if lease <= 0 then lease = pol.lease end
local want = tonumber(ARGV[2])
local out = { 'ok', now }
local n = 0
while n < want do
  local sid = redis.call('LPOP', k.ready)
  if not sid then break end
  local st = load_state(k, sid, pol)
  local entry = redis.call('XRANGE', KEYS[1], sid, sid)
  if st and st.s == 'ready' and #entry == 1 then
    st.a = st.a + 1
    st.g = (st.g or 0) + 1
    st.s = 'leased'
    st.e = now + lease
    st.h = st.h or {}
    table.insert(st.h, { n = st.a, l = now })
    if #st.h > HISTORY_CAP then table.remove(st.h, 1) end
    save_state(k, sid, st)
    redis.call('ZADD', k.leased, st.e, sid)
    n = n + 1
    out[#out + 1] = { sid, st.a, st.g, st.e, pol.max, st.r or 0, entry[1][2] }
  elseif st and #entry == 0 then
    -- the message left the log (source retention): forget the delivery
    redis.call('HDEL', k.st, sid)
  end
end
if moved > 0 then wake(source_of(KEYS[1]), q, redis.call('LLEN', k.ready)) end
return out
