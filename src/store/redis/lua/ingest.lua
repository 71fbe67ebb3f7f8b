-- ingest.lua: store one message and fan it out to every queue of its source,
-- atomically. Either the message is in the log and in every queue's ready
-- list, or nothing was written.
--
-- KEYS[1] hb:{S}:src     source marker hash (absent = source deleted; field
--                        bytes = stored size, for the tenant's quota)
-- KEYS[2] hb:{S}:log     the source's message stream
-- KEYS[3] hb:{S}:queues  set of queue ids attached to the source
-- ARGV[1] key prefix "hb:{S}:" (queue keys are derived from it; they share
--         the hash tag, so the script stays in one Cluster slot)
-- ARGV[2] dedupe key digest, or "" for no dedupe
-- ARGV[3] dedupe window in seconds
-- ARGV[4..] stream entry field/value pairs
-- Returns {"ok", streamId, queueCount} | {"dup", firstStreamId} | {"gone"}
if redis.call('EXISTS', KEYS[1]) == 0 then return { 'gone' } end
local prefix = ARGV[1]
local dk = ARGV[2]
if dk ~= '' then
  local prev = redis.call('GET', prefix .. 'dd:' .. dk)
  if prev then return { 'dup', prev } end
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local sid = redis.call('XADD', KEYS[2], '*', unpack(fields))
if dk ~= '' then
  redis.call('SET', prefix .. 'dd:' .. dk, sid, 'EX', tonumber(ARGV[3]))
end
redis.call('HINCRBY', KEYS[1], 'bytes', entry_size(fields))
-- no delivery state is written: a message newer than a queue's `since`
-- without state is fresh and ready (see load_state)
local queues = redis.call('SMEMBERS', KEYS[3])
for _, q in ipairs(queues) do
  redis.call('RPUSH', prefix .. 'q:' .. q .. ':ready', sid)
end
if #queues > 0 then wake(source_of(KEYS[2]), '*', 1) end
return { 'ok', sid, #queues }
