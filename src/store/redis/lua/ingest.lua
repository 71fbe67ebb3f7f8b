-- ingest.lua: store one message and fan it out to the queues of its source
-- that routing chose, atomically. Either the message is in the log and in
-- each chosen queue's ready list, or nothing was written.
--
-- KEYS[1] hb:{S}:src     source marker hash (absent = source deleted; field
--                        bytes = stored size, for the tenant's quota; field
--                        rv = routing version, see attach_queue.lua)
-- KEYS[2] hb:{S}:log     the source's message stream
-- KEYS[3] hb:{S}:queues  set of queue ids attached to the source
-- ARGV[1] key prefix "hb:{S}:" (queue keys are derived from it; they share
--         the hash tag, so the script stays in one Cluster slot)
-- ARGV[2] dedupe key digest, or "" for no dedupe
-- ARGV[3] dedupe window in seconds
-- ARGV[4] routing version the caller decided at
-- ARGV[5] n: number of routing decisions that follow
-- ARGV[6 .. 5+2n] queue id, "1" (deliver) | "0" (filtered out) pairs; a
--         queue not listed gets the message
-- ARGV[6+2n ..] stream entry field/value pairs
-- Returns {"ok", streamId, queueCount} | {"dup", firstStreamId} | {"gone"}
--       | {"reroute"} (the routing version moved: nothing written)
if redis.call('EXISTS', KEYS[1]) == 0 then return { 'gone' } end
local prefix = ARGV[1]
local dk = ARGV[2]
if dk ~= '' then
  local prev = redis.call('GET', prefix .. 'dd:' .. dk)
  if prev then return { 'dup', prev } end
end
if (redis.call('HGET', KEYS[1], 'rv') or '0') ~= ARGV[4] then return { 'reroute' } end
local n = tonumber(ARGV[5])
local skip = {}
for i = 6, 5 + 2 * n, 2 do
  if ARGV[i + 1] == '0' then skip[ARGV[i]] = true end
end
local fields = {}
for i = 6 + 2 * n, #ARGV do fields[#fields + 1] = ARGV[i] end
local size = entry_size(fields)
local queues = redis.call('SMEMBERS', KEYS[3])
local to = {}
for _, q in ipairs(queues) do
  if not skip[q] then to[#to + 1] = q end
end
-- a message filtered out of some queue names the queues it went to, so a
-- missing state reads as "not delivered here" (see routed in common.lua)
if #to < #queues then
  fields[#fields + 1] = 'to'
  fields[#fields + 1] = table.concat(to, ' ')
end
local sid = redis.call('XADD', KEYS[2], '*', unpack(fields))
if dk ~= '' then
  redis.call('SET', prefix .. 'dd:' .. dk, sid, 'EX', tonumber(ARGV[3]))
end
redis.call('HINCRBY', KEYS[1], 'bytes', size)
-- no delivery state is written: a message newer than a queue's `since`
-- without state is fresh and ready (see load_state)
for _, q in ipairs(to) do
  redis.call('RPUSH', prefix .. 'q:' .. q .. ':ready', sid)
end
-- every ingest wakes the source's waiters: queues it reached, and tails
wake(source_of(KEYS[2]), '*', 1)
return { 'ok', sid, #to }
