-- GCRA for one request, atomically, on one key (so it is safe on Redis
-- Cluster). The same arithmetic as gcra() in ratelimit.go, in microseconds.
--
-- KEYS[1]  the key; its value is the TAT, microseconds since the epoch
-- ARGV[1]  emission interval, microseconds
-- ARGV[2]  burst
-- Returns {allowed (0|1), remaining, retry_after_ms, reset_after_ms}.

-- Redis before 5 refuses writes after TIME unless the script replicates
-- its effects rather than itself; later versions always do.
if redis.replicate_commands then redis.replicate_commands() end

local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])

-- Redis's clock, not the callers': every replica of the API asks the same
-- clock, so their clock skew cannot widen or narrow the limit.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval

-- Round up: a caller that waits the time returned must find room.
if now < allow_at then
  return {0, 0, math.ceil((allow_at - now) / 1000), math.ceil((tat - now) / 1000)}
end

-- The key expires when the limit is whole again: from then on a missing
-- key means the same, and Redis holds nothing for idle keys.
local reset_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], new_tat, 'PX', reset_ms)
return {1, math.floor((now - allow_at) / interval), 0, reset_ms}
