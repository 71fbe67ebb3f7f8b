-- import.lua: store an exported message under its own stream id, with each
-- queue's delivery state, in one step (`hookbay import`; ids ascend per
-- source, so XADD accepts them).
--
-- KEYS[1] hb:{S}:src   source marker hash (field bytes = stored size)
-- KEYS[2] hb:{S}:log   message stream
-- KEYS[3] hb:{S}:qp    queue policies (a delivery of an unknown queue is skipped)
-- ARGV[1] key prefix "hb:{S}:" (queue keys derive from it, same hash tag)
-- ARGV[2] stream id
-- ARGV[3] number of deliveries D
-- ARGV[4 .. 3+3D] per delivery: queue id, state JSON (see common.lua),
--         score (due / lease expiry / dead-lettered ms; 0 when unused)
-- ARGV[4+3D ..] stream entry field/value pairs
-- Returns 1, or an error when the source is gone or the id is not new
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('import: source gone') end
local prefix = ARGV[1]
local sid = ARGV[2]
local d = tonumber(ARGV[3])
local fields = {}
for i = 4 + 3 * d, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], sid, unpack(fields))
redis.call('HINCRBY', KEYS[1], 'bytes', entry_size(fields))
for i = 0, d - 1 do
  local q = ARGV[4 + 3 * i]
  local json = ARGV[5 + 3 * i]
  local score = ARGV[6 + 3 * i]
  if redis.call('HEXISTS', KEYS[3], q) == 1 then
    local k = qkeys(prefix, q)
    local st = cjson.decode(json)
    redis.call('HSET', k.st, sid, json)
    if st.s == 'ready' then redis.call('RPUSH', k.ready, sid)
    elseif st.s == 'delayed' then redis.call('ZADD', k.delayed, score, sid)
    elseif st.s == 'leased' then redis.call('ZADD', k.leased, score, sid)
    elseif st.s == 'dead' then redis.call('ZADD', k.dead, score, sid) end
  end
end
return 1
