-- reap.lua: periodic upkeep of one source, run by every relay node (it is
-- idempotent): promote due redeliveries, turn expired leases into failed
-- attempts, and trim messages past retention that no queue still needs.
--
-- KEYS[1] hb:{S}:src     source marker hash (field retention_ms)
-- KEYS[2] hb:{S}:log     message stream
-- KEYS[3] hb:{S}:queues  queue ids of the source
-- KEYS[4] hb:{S}:qp      queue policies
-- KEYS[5] hb:{S}:trim    retention scan cursor (last stream id checked)
-- ARGV[1] key prefix "hb:{S}:" (queue keys derive from it, same hash tag)
-- ARGV[2] max items handled per step
-- Returns {ready, delayed, leased, dead, expired, trimmed} totals
if redis.call('EXISTS', KEYS[1]) == 0 then return { 0, 0, 0, 0, 0, 0 } end
local prefix = ARGV[1]
local limit = tonumber(ARGV[2])
local now = now_ms()
local queues = redis.call('SMEMBERS', KEYS[3])
local keys = {}
local t = { 0, 0, 0, 0, 0, 0 }
for _, q in ipairs(queues) do
  local raw = redis.call('HGET', KEYS[4], q)
  if raw then
    local pol = parse_policy(raw)
    local k = qkeys(prefix, q)
    keys[#keys + 1] = { k = k, pol = pol, q = q }
    local moved = promote_due(k, now, limit)
    local rec = reclaim_expired(k, pol, now, limit)
    t[5] = t[5] + rec[1]
    local ready = redis.call('LLEN', k.ready)
    if moved + rec[2] > 0 then wake(source_of(KEYS[1]), q, ready) end
    t[1] = t[1] + ready
    t[2] = t[2] + redis.call('ZCARD', k.delayed)
    t[3] = t[3] + redis.call('ZCARD', k.leased)
    t[4] = t[4] + redis.call('ZCARD', k.dead)
  end
end
local retention = tonumber(redis.call('HGET', KEYS[1], 'retention_ms') or '0')
if retention > 0 then
  local cutoff = now - retention
  local cursor = redis.call('GET', KEYS[5])
  local from = '-'
  if cursor then from = '(' .. cursor end
  local entries = redis.call('XRANGE', KEYS[2], from, tostring(cutoff), 'COUNT', limit)
  for _, e in ipairs(entries) do
    local sid = e[1]
    local pending = false
    for _, kp in ipairs(keys) do
      local pol = nil
      if routed(e[2], kp.q) then pol = kp.pol end
      local st = load_state(kp.k, sid, pol)
      if st and (st.s == 'ready' or st.s == 'delayed' or st.s == 'leased') then
        pending = true
        break
      end
    end
    if not pending then
      redis.call('XDEL', KEYS[2], sid)
      redis.call('HINCRBY', KEYS[1], 'bytes', -entry_size(e[2]))
      for _, kp in ipairs(keys) do
        redis.call('HDEL', kp.k.st, sid)
        redis.call('ZREM', kp.k.dead, sid)
      end
      t[6] = t[6] + 1
    end
  end
  if #entries < limit then
    redis.call('DEL', KEYS[5])
  else
    redis.call('SET', KEYS[5], entries[#entries][1])
  end
end
return t
