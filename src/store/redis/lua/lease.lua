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
-- a delivery in the ready list twice (pushed again while still there) is
-- leased once: the later copy is dropped, as the state it would find is
-- no longer ready
local seen = {}
while n < want do
  -- a chunk at a time: its states read with one HMGET and written with one
  -- HSET and one ZADD (a command per delivery cost more than the rest)
  local sids = redis.call('LPOP', k.ready, math.min(want - n, 200))
  if not sids then break end
  local raws = redis.call('HMGET', k.st, unpack(sids))
  -- the chunk's log entries with one XRANGE over its span when it is a run
  -- of the log in order (a queue that takes every message); what that
  -- misses (filtered messages between, redeliveries) is read one by one
  local entries = {}
  local lo, hi = sids[1], sids[#sids]
  if #sids > 1 and not sid_after(lo, hi) then
    for _, e in ipairs(redis.call('XRANGE', KEYS[1], lo, hi, 'COUNT', #sids)) do
      entries[e[1]] = e[2]
    end
  end
  local states, leased, gone = {}, {}, {}
  for i, sid in ipairs(sids) do
    if not seen[sid] then
      seen[sid] = true
      local st = read_state(raws[i], sid, pol)
      -- unreadable: left out of the ready list, so it fails no lease
      if raws[i] and not st then log_unreadable(k, sid) end
      local fields = entries[sid]
      if not fields then
        local e = redis.call('XRANGE', KEYS[1], sid, sid)
        fields = e[1] and e[1][2]
      end
      if st and st.s == 'ready' and fields then
        st.a = st.a + 1
        st.g = (st.g or 0) + 1
        st.s = 'leased'
        st.e = now + lease
        st.h = st.h or {}
        table.insert(st.h, { n = st.a, l = now })
        if #st.h > HISTORY_CAP then table.remove(st.h, 1) end
        states[#states + 1] = sid
        states[#states + 1] = encode_state(st)
        leased[#leased + 1] = st.e
        leased[#leased + 1] = sid
        n = n + 1
        out[#out + 1] = { sid, st.a, st.g, st.e, pol.max, st.r or 0, fields }
      elseif st and not fields then
        -- the message left the log (source retention): forget the delivery
        gone[#gone + 1] = sid
      end
    end
  end
  call_many('HSET', k.st, states)
  call_many('ZADD', k.leased, leased)
  call_many('HDEL', k.st, gone)
end
if moved > 0 then wake(source_of(KEYS[1]), q, redis.call('LLEN', k.ready)) end
return out
