-- rate.lua: one token bucket shared by every relay node (Redis clock).
-- A node may take several tokens at once and spend them locally for a few
-- milliseconds, which keeps Redis off the hot path at high rates.
--
-- KEYS[1] hb:rate:<T>:<kind>   bucket hash {t = tokens, ts = last refill ms}
-- ARGV[1] refill rate, tokens per second
-- ARGV[2] bucket size (burst)
-- ARGV[3] tokens wanted (at least 1)
-- Returns {granted, 0} with granted >= 1, or {0, ms until a token is available}
local now = now_ms()
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local granted, wait = 0, 0
if tokens >= 1 then
  granted = math.min(math.floor(tokens), want)
  tokens = tokens - granted
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return { granted, wait }
