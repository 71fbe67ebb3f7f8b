-- reserve.lua: add an id to a tenant's set only while the set is below the
-- tenant's limit, so two concurrent creates cannot both pass a quota check.
--
-- KEYS[1] hb:tenant:<T>:sources | hb:tenant:<T>:queues
-- ARGV[1] id to add
-- ARGV[2] limit
-- Returns 1 when added (or already there), 0 when the limit is reached
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
