import { luaScript } from './redis-link.ts';

/**
 * Server-side scripts. Each touches the keys of one hash tag only (see
 * keys.ts), so it runs in one slot of a Redis Cluster.
 */

/**
 * One batch of one incarnation, applied at most once.
 * KEYS: seq, stream, gauges, keyset.
 * ARGV: seq, tag, monitors "W:N,…", grace s, stream maxlen, meta ttl ms,
 *       mustExist ("1": this incarnation wrote before, so a missing seq key
 *       means Redis lost its data), reset ("1": payload is the absolute state),
 *       payload (lines, see codec.ts), sender clock ms (replication lag).
 * Returns {applied seq, 1} when applied, {stored seq, 0} for a batch already
 * applied (a retry), {-1} when Redis lost this incarnation's state.
 */
export const FLUSH = luaScript(
  'flush',
  `
local seq = tonumber(ARGV[1])
local cur = redis.call('GET', KEYS[1])
if not cur then
  if ARGV[7] == '1' and ARGV[8] ~= '1' then return {-1} end
  cur = 0
else
  cur = tonumber(cur)
end
if seq <= cur then return {cur, 0} end
local tag = ARGV[2]
local grace = tonumber(ARGV[4])
local mons = {}
local spanOf = {}
for w, n in string.gmatch(ARGV[3], '(%d+):(%d+)') do
  w = tonumber(w); n = tonumber(n)
  mons[#mons + 1] = {w, n}
  spanOf[w] = w * n
end
local touched = {}
local mlines = {}
local function touch(key, expireAt)
  if not touched[key] then
    touched[key] = true
    redis.call('SADD', KEYS[4], key)
    redis.call('PEXPIREAT', key, expireAt * 1000)
  end
end
if ARGV[8] == '1' then
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[4])) do redis.call('DEL', k) end
  redis.call('DEL', KEYS[4], KEYS[3])
end
for line in string.gmatch(ARGV[9], '[^\\n]+') do
  local t = string.sub(line, 1, 1)
  if t == 'c' then
    local mi, ts, addr, n = string.match(line, '^c (%d) (%d+) (%S+) (%-?%d+)$')
    if mi then
      ts = tonumber(ts)
      for _, m in ipairs(mons) do
        local start = ts - ts % m[1]
        local key = tag .. ':c:' .. mi .. ':' .. m[1] .. ':' .. start
        redis.call('HINCRBY', key, addr, n)
        touch(key, start + m[1] * m[2] + grace)
      end
    end
  elseif t == 'C' then
    local mi, w, start, addr, n = string.match(line, '^C (%d) (%d+) (%d+) (%S+) (%-?%d+)$')
    if mi and spanOf[tonumber(w)] then
      local key = tag .. ':c:' .. mi .. ':' .. w .. ':' .. start
      redis.call('HINCRBY', key, addr, n)
      touch(key, tonumber(start) + spanOf[tonumber(w)] + grace)
    end
  elseif t == 'g' then
    local addr, n = string.match(line, '^g (%S+) (%-?%d+)$')
    if addr then
      local v = redis.call('HINCRBY', KEYS[3], addr, n)
      if v <= 0 then redis.call('HDEL', KEYS[3], addr) end
    end
  elseif t == 'm' then
    mlines[#mlines + 1] = line
  elseif t == 's' then
    local sid, start, key, n = string.match(line, '^s (%S+) (%d+) (%S+) (%-?%d+)$')
    if sid then
      local w, nw = string.match(sid, '|(%d+),(%d+)$')
      if w then
        local hk = tag .. ':q:' .. sid .. ':' .. start
        local v = redis.call('HINCRBY', hk, key, n)
        if v == 0 then redis.call('HDEL', hk, key) end
        touch(hk, tonumber(start) + tonumber(w) * tonumber(nw) + grace)
      end
    end
  end
end
redis.call('SET', KEYS[1], seq, 'PX', ARGV[6])
if ARGV[8] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], seq .. '-1', 'r', '1', 'd', table.concat(mlines, '\\n'), 't', ARGV[10])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], seq .. '-1', 'd', ARGV[9], 't', ARGV[10])
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[4], ARGV[6])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
return {seq, 1}
`,
);

/**
 * An incarnation's absolute state, read atomically with its sequence so the
 * stream can be tailed from exactly there. Forgets keys that expired.
 * KEYS: seq, keyset, gauges. Returns {seq, gauges flat, key1, flat1, …}.
 */
export const SNAPSHOT = luaScript(
  'snapshot',
  `
local out = {redis.call('GET', KEYS[1]) or '0', redis.call('HGETALL', KEYS[3])}
for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local h = redis.call('HGETALL', k)
  if #h > 0 then
    out[#out + 1] = k
    out[#out + 1] = h
  else
    redis.call('SREM', KEYS[2], k)
  end
end
return out
`,
);

/**
 * Heartbeat and membership in one round trip, on Redis's clock (so leases do
 * not depend on the nodes' clocks agreeing).
 * KEYS: members, nodes. ARGV: incarnation, leaving ("1": mark it gone now),
 * lease ms, retention ms, info JSON.
 * Returns {now ms, "1" if this incarnation was a member before, inc1, last beat1, info1, …}.
 */
export const HEARTBEAT = luaScript(
  'heartbeat',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = now
if ARGV[2] == '1' then score = now - tonumber(ARGV[3]) - 1 end
local was = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], score, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
local cutoff = '(' .. tostring(now - tonumber(ARGV[4]))
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)) do redis.call('HDEL', KEYS[2], m) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {tostring(now), was and '1' or '0'}
for i = 1, #all, 2 do
  out[#out + 1] = all[i]
  out[#out + 1] = all[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], all[i]) or ''
end
return out
`,
);
