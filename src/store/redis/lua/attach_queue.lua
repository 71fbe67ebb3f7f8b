-- attach_queue.lua: attach a new queue to its source, or update the policy
-- of an attached one. A new queue records the source's last stream id as its
-- `since`: every message after it is in the queue (ingest writes no
-- per-queue state, see common.lua).
--
-- KEYS[1] hb:{S}:queues  queue ids of the source
-- KEYS[2] hb:{S}:qp      queue policies
-- KEYS[3] hb:{S}:log     message stream
-- KEYS[4] hb:{S}:src     source marker: its routing version `rv` is bumped,
--                        so an ingest that routed without this change
--                        re-routes (see ingest.lua)
-- ARGV[1] queue id
-- ARGV[2] policy "leaseMs maxAttempts initialMs multiplier maxMs"
-- ARGV[3] "create" | "update"
-- Returns 1 when written, 0 when updating a queue that is not attached
local q = ARGV[1]
if ARGV[3] == 'create' then
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  local since = '0-0'
  if #last > 0 then since = last[1][1] end
  redis.call('HSET', KEYS[2], q, ARGV[2] .. ' ' .. since)
  redis.call('SADD', KEYS[1], q)
  bump_routes(KEYS[4])
  return 1
end
local old = redis.call('HGET', KEYS[2], q)
if redis.call('SISMEMBER', KEYS[1], q) == 0 or not old then return 0 end
redis.call('HSET', KEYS[2], q, ARGV[2] .. ' ' .. parse_policy(old).since)
bump_routes(KEYS[4])
return 1
