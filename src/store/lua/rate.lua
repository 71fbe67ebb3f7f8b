-- rate.lua: one token bucket shared by every relay node (Redis clock).
--
-- KEYS[1] hb:rate:<T>:<kind>   bucket hash {t = tokens, ts = last refill ms}
-- ARGV[1] refill rate, tokens per second
-- ARGV[2] bucket size (burst)
-- Returns {1, 0} when a token was taken, {0, ms until one is available}
local now = now_ms()
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local ok, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return { ok, wait }
