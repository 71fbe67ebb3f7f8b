-- replay.lua: make stored messages deliverable again on one queue with their
-- original ids, attempts reset and `replayed` set; works whatever the current
-- state (acked, dead, delayed, even leased: that lease becomes stale).
--
-- KEYS[1] hb:{S}:log   message stream
-- KEYS[2] hb:{S}:qp    queue policies
-- KEYS[3..7] hb:{S}:q:<Q>:ready|delayed|leased|dead|st
-- ARGV[1] queue id
-- ARGV[2] mode: ids | range | dead
-- ARGV[3] limit (range/dead: max messages)
-- ARGV[4..] ids: stream ids; range: from id, to id
-- Returns {"gone"} | {"ok", replayed}
local q = ARGV[1]
local raw = redis.call('HGET', KEYS[2], q)
if not raw then return { 'gone' } end
local pol = parse_policy(raw)
local k = { ready = KEYS[3], delayed = KEYS[4], leased = KEYS[5], dead = KEYS[6], st = KEYS[7] }
local mode = ARGV[2]
local limit = tonumber(ARGV[3])
local sids = {}
if mode == 'ids' then
  for i = 4, #ARGV do sids[#sids + 1] = ARGV[i] end
elseif mode == 'range' then
  for _, e in ipairs(redis.call('XRANGE', KEYS[1], ARGV[4], ARGV[5], 'COUNT', limit)) do
    sids[#sids + 1] = e[1]
  end
else
  sids = redis.call('ZRANGE', k.dead, 0, limit - 1)
end
local now = now_ms()
local n = 0
for _, sid in ipairs(sids) do
  if #redis.call('XRANGE', KEYS[1], sid, sid) == 1 then
    local raw = redis.call('HGET', k.st, sid)
    local st = read_state(raw, sid, pol)
    if raw and not st then
      -- unreadable (see decode_state): out of every list and set, and a
      -- fresh state whose lease generation no token issued before can hold
      redis.call('LREM', k.ready, 0, sid)
      redis.call('ZREM', k.delayed, sid)
      redis.call('ZREM', k.leased, sid)
      redis.call('ZREM', k.dead, sid)
      st = { a = 0, g = now }
    elseif not st then
      st = { a = 0, g = 0 }
    end
    if st.s == 'ready' then redis.call('LREM', k.ready, 0, sid)
    elseif st.s == 'delayed' then redis.call('ZREM', k.delayed, sid)
    elseif st.s == 'leased' then
      redis.call('ZREM', k.leased, sid)
      close_attempt(st, 'replaced', 'replayed', now)
    elseif st.s == 'dead' then redis.call('ZREM', k.dead, sid) end
    st.s = 'ready'; st.a = 0; st.r = 1
    st.e = nil; st.due = nil; st.dr = nil; st.dt = nil
    save_state(k, sid, st)
    redis.call('RPUSH', k.ready, sid)
    n = n + 1
  end
end
wake(source_of(KEYS[1]), q, n)
return { 'ok', n }
