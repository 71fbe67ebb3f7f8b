-- drop_queue.lua: detach a queue from its source and delete its delivery
-- state in one step, so ingest never fans out to a half-deleted queue.
-- UNLINK frees a big queue's memory off Redis's main thread.
--
-- KEYS[1] hb:{S}:queues  queue ids of the source
-- KEYS[2] hb:{S}:qp      queue policies
-- KEYS[3..7] hb:{S}:q:<Q>:ready|delayed|leased|dead|st
-- KEYS[8] hb:{S}:src     source marker (routing version bumped)
-- ARGV[1] queue id
-- Returns 1 if the queue existed, else 0
local existed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('UNLINK', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
bump_routes(KEYS[8])
return existed
