-- ingest.lua: store messages of one source and fan each out to the queues
-- that routing chose for it. Each message is atomic on its own: it is in the
-- log and in each chosen queue's ready list, or nothing of it was written;
-- the messages of one call are the ingests that arrived together on one
-- node (see batch.rs), each with its own outcome.
--
-- KEYS[1] hb:{S}:src     source marker hash (absent = source deleted; field
--                        bytes = stored size, for the tenant's quota; field
--                        rv = routing version, see attach_queue.lua)
-- KEYS[2] hb:{S}:log     the source's message stream
-- KEYS[3] hb:{S}:queues  set of queue ids attached to the source
-- ARGV[1] key prefix "hb:{S}:" (queue keys are derived from it; they share
--         the hash tag, so the script stays in one Cluster slot)
-- ARGV[2] m: number of messages that follow, each as
--           dedupe key digest, or "" for no dedupe
--           dedupe window in seconds
--           routing version the caller decided at
--           n: number of routing decisions that follow
--           n pairs: queue id, "1" (deliver) | "0" (filtered out); a queue
--             not listed gets the message (the relay lists only the "0"s)
--           f: number of stream entry field/value arguments that follow
--           f arguments: field, value, field, value, ...
-- Returns one reply per message, in order: {"ok", streamId, queueCount}
--       | {"dup", firstStreamId} | {"gone"}
--       | {"reroute"} (the routing version moved: nothing written)
local m = tonumber(ARGV[2])
local out = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 1, m do out[i] = { 'gone' } end
  return out
end
local prefix = ARGV[1]
local rv = redis.call('HGET', KEYS[1], 'rv') or '0'
local queues = redis.call('SMEMBERS', KEYS[3])
local ready, order = {}, {}
local bytes, stored = 0, 0
local i = 3
for msg = 1, m do
  local dk, window, mrv, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local d = i + 4
  local nf = tonumber(ARGV[d + 2 * n])
  local f0 = d + 2 * n + 1
  i = f0 + nf
  local prev = false
  if dk ~= '' then prev = redis.call('GET', prefix .. 'dd:' .. dk) end
  if prev then
    out[msg] = { 'dup', prev }
  elseif mrv ~= rv then
    out[msg] = { 'reroute' }
  else
    -- the common case, every queue takes it: XADD straight from ARGV (no
    -- per-message table; ARGV strings are hashed once, and big ones cost)
    local to, sid = queues, nil
    for j = d + 1, d + 2 * n - 1, 2 do
      if ARGV[j] == '0' then to = nil end
    end
    if to then
      sid = redis.call('XADD', KEYS[2], '*', unpack(ARGV, f0, f0 + nf - 1))
    else
      local skip = {}
      for j = d, d + 2 * n - 1, 2 do
        if ARGV[j + 1] == '0' then skip[ARGV[j]] = true end
      end
      to = {}
      for _, q in ipairs(queues) do
        if not skip[q] then to[#to + 1] = q end
      end
      local fields = {}
      for j = f0, f0 + nf - 1 do fields[#fields + 1] = ARGV[j] end
      -- a message filtered out of some queues names the queues it went
      -- to, so a missing state reads as "not delivered here" (see routed
      -- in common.lua)
      if #to < #queues then
        fields[#fields + 1] = 'to'
        fields[#fields + 1] = table.concat(to, ' ')
      end
      sid = redis.call('XADD', KEYS[2], '*', unpack(fields))
    end
    -- the stored size counts every field but `to` (entry_size)
    local size = 0
    for j = f0, f0 + nf - 1 do size = size + #ARGV[j] end
    if dk ~= '' then
      redis.call('SET', prefix .. 'dd:' .. dk, sid, 'EX', tonumber(window))
    end
    bytes = bytes + size
    -- no delivery state is written: a message newer than a queue's `since`
    -- without state is fresh and ready (see load_state)
    for _, q in ipairs(to) do
      local l = ready[q]
      if not l then
        l = {}
        ready[q] = l
        order[#order + 1] = q
      end
      l[#l + 1] = sid
    end
    stored = stored + 1
    out[msg] = { 'ok', sid, #to }
  end
end
if bytes > 0 then redis.call('HINCRBY', KEYS[1], 'bytes', bytes) end
for _, q in ipairs(order) do
  redis.call('RPUSH', prefix .. 'q:' .. q .. ':ready', unpack(ready[q]))
end
-- every ingest wakes the source's waiters: queues it reached, and tails
if stored > 0 then wake(source_of(KEYS[2]), '*', stored) end
return out
