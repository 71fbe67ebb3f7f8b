-- count_failures.lua: add refused deliveries to a source's counter, unless
-- the source was deleted meanwhile (a plain HINCRBY would re-create the
-- source marker and resurrect a deleted source's key).
--
-- KEYS[1] hb:{S}:src  source marker hash
-- ARGV[1] how many refused deliveries to add
-- Returns the new count, or 0 when the source is gone
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'verify_failures', tonumber(ARGV[1]))
