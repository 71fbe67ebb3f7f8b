-- seal_import.lua: after an import, set every queue's `since` to the
-- source's last stream id, so only messages imported with an explicit
-- delivery state belong to a queue (none reads as fresh by absence of
-- state, see load_state in common.lua).
--
-- KEYS[1] hb:{S}:qp    queue policies
-- KEYS[2] hb:{S}:log   message stream
-- Returns the number of queues sealed
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local since = '0-0'
if #last > 0 then since = last[1][1] end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local p = {}
  for v in string.gmatch(all[i + 1], '%S+') do p[#p + 1] = v end
  p[6] = since
  redis.call('HSET', KEYS[1], all[i], table.concat(p, ' ', 1, 6))
end
return #all / 2
