/**
 * Lua scripts over one deduplication entry, a Redis hash: `s` state (`p` pending, `d` done),
 * `f` fingerprint, `t` holder token, `x` expiry (ms, by the store's clock: lease end while
 * pending, TTL end when done), `ok` and `r` the stored response. The logical expiry `x` decides;
 * a Redis TTL a grace period later only collects keys nobody asks about again.
 */

/**
 * KEYS[1] = entry. ARGV = now, expiresAt, fingerprint, token, redisTtlMs.
 * Returns `{'claimed'}`, `{'pending', expiresAt}`, `{'done', ok, payload}` or `{'conflict'}`.
 */
export const CLAIM_SCRIPT = `
local v = redis.call('HMGET', KEYS[1], 's', 'f', 'x', 'ok', 'r')
if v[1] and tonumber(v[3]) > tonumber(ARGV[1]) then
  if v[2] ~= ARGV[3] then return { 'conflict' } end
  if v[1] == 'p' then return { 'pending', v[3] } end
  return { 'done', v[4], v[5] }
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', 'p', 'f', ARGV[3], 't', ARGV[4], 'x', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return { 'claimed' }
`;

/**
 * KEYS[1] = entry. ARGV = token, expiresAt, ok ('1'/'0'), payload, redisTtlMs.
 * Stores the response if `token` still holds the pending entry. Returns 1 or 0.
 */
export const COMPLETE_SCRIPT = `
local v = redis.call('HMGET', KEYS[1], 's', 't')
if v[1] ~= 'p' or v[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 's', 'd', 'x', ARGV[2], 'ok', ARGV[3], 'r', ARGV[4])
redis.call('HDEL', KEYS[1], 't')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

/** KEYS[1] = entry. ARGV = token. Deletes the pending entry if `token` holds it. Returns 1 or 0. */
export const RELEASE_SCRIPT = `
local v = redis.call('HMGET', KEYS[1], 's', 't')
if v[1] ~= 'p' or v[2] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;
