-- drop_source.lua: delete a source's engine state (log, queues, policies,
-- delivery state) in one step. Dedupe keys expire on their own. UNLINK:
-- the keys are gone at once, their memory is freed off Redis's main
-- thread (a source with millions of messages does not stall Redis).
--
-- KEYS[1] hb:{S}:src, KEYS[2] hb:{S}:log, KEYS[3] hb:{S}:queues,
-- KEYS[4] hb:{S}:qp, KEYS[5] hb:{S}:trim
-- ARGV[1] key prefix "hb:{S}:"
-- Returns the number of queues removed
local queues = redis.call('SMEMBERS', KEYS[3])
for _, q in ipairs(queues) do
  local k = qkeys(ARGV[1], q)
  redis.call('UNLINK', k.ready, k.delayed, k.leased, k.dead, k.st)
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return #queues
