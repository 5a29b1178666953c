/**
 * Lua scripts over one deduplication entry, a Redis hash: `s` state (`p` pending, `d` done),
 * `f` fingerprint, `t` holder token, `x` expiry (ms, by the store's clock: lease end while
 * pending, TTL end when done), `ok` and `r` the stored response, `n` the fencing token of the
 * latest claim (kept through complete and release). The next claim's is `n + 1` or the Redis
 * server's `TIME` in ms, whichever is larger, so a key whose hash Redis expired (or that never
 * had one) still gets a token larger than every earlier one. The logical expiry `x` decides; a
 * Redis TTL a grace period later only collects keys nobody asks about again. A released entry
 * stays pending with no `t` and `x` 0 (expired) until that TTL.
 */

// Fragments shared by the plain and the owned scripts (same KEYS[1] and ARGV positions).

/** Answers a claim of an unexpired entry: `conflict`, `pending` or `done`. ARGV[1] = now, ARGV[3] = fingerprint. */
const ANSWER_LIVE_ENTRY = `
local v = redis.call('HMGET', KEYS[1], 's', 'f', 'x', 'ok', 'r')
if v[1] and tonumber(v[3]) > tonumber(ARGV[1]) then
  if v[2] ~= ARGV[3] then return { 'conflict' } end
  if v[1] == 'p' then return { 'pending', v[3] } end
  return { 'done', v[4], v[5] }
end
`;

/**
 * Creates the pending entry with the next fencing token `n`: the old entry's plus one, or the
 * server's `TIME` in ms when larger. `TIME` is read here, by the server that expires the hash
 * (its Redis TTL runs on the same clock), so a hash that expired gives way to a larger token.
 * Effects replication (always on since Redis 7; asked for on Redis 6) lets a script write after
 * `TIME`. ARGV[2] = expiresAt, ARGV[3] = fingerprint, ARGV[4] = token, ARGV[5] = redisTtlMs.
 */
const CREATE_PENDING_ENTRY = `
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local n = math.max((tonumber(redis.call('HGET', KEYS[1], 'n')) or 0) + 1,
  tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000))
n = string.format('%.0f', n)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', 'p', 'f', ARGV[3], 't', ARGV[4], 'x', ARGV[2], 'n', n)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
`;

/** Gives up the pending entry if ARGV[1] (the token) holds it, else returns 0: keeps it, expired, without a holder. */
const GIVE_UP_ENTRY = `
local v = redis.call('HMGET', KEYS[1], 's', 't')
if v[1] ~= 'p' or v[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'x', '0')
redis.call('HDEL', KEYS[1], 't')
`;

/**
 * Extends the pending entry's lease if ARGV[1] (the token) holds it unexpired, else returns 0.
 * ARGV[2] = now, ARGV[3] = expiresAt, ARGV[4] = redisTtlMs.
 */
const EXTEND_LEASE = `
local v = redis.call('HMGET', KEYS[1], 's', 't', 'x')
if v[1] ~= 'p' or v[2] ~= ARGV[1] or tonumber(v[3]) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'x', ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
`;

/** Stores the response if ARGV[1] (the token) holds the pending entry, else returns 0. */
const STORE_RESPONSE = `
local v = redis.call('HMGET', KEYS[1], 's', 't')
if v[1] ~= 'p' or v[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 's', 'd', 'x', ARGV[2], 'ok', ARGV[3], 'r', ARGV[4])
redis.call('HDEL', KEYS[1], 't')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
`;

/**
 * KEYS[1] = entry. ARGV = now, expiresAt, fingerprint, token, redisTtlMs, full ('1': the
 * store's bound set had no room for this entry, so answer but create nothing).
 * Returns `{'claimed', fencingToken}`, `{'pending', expiresAt}`, `{'done', ok, payload}`,
 * `{'conflict'}` or `{'full'}`.
 */
export const CLAIM_SCRIPT = `${ANSWER_LIVE_ENTRY}if ARGV[6] == '1' then return { 'full' } end
${CREATE_PENDING_ENTRY}return { 'claimed', n }
`;

/**
 * KEYS[1] = entry. ARGV = token, expiresAt, ok ('1'/'0'), payload, redisTtlMs.
 * Stores the response if `token` still holds the pending entry. Returns 1 or 0.
 */
export const COMPLETE_SCRIPT = `${STORE_RESPONSE}return 1
`;

/** KEYS[1] = entry. ARGV = token. Gives the pending entry up if `token` holds it. Returns 1 or 0. */
export const RELEASE_SCRIPT = `${GIVE_UP_ENTRY}return 1
`;

/**
 * KEYS[1] = entry. ARGV = token, now, expiresAt, redisTtlMs. Makes the lease end at `expiresAt`
 * if `token` holds the pending entry and its lease has not ended by `now`. Returns 1 or 0.
 */
export const RENEW_SCRIPT = `${EXTEND_LEASE}return 1
`;

/**
 * The owned variants: KEYS[2] is the owner's quota set (a sorted set of its keys scored by
 * expiry, store clock), in the same Cluster slot as the entry. A claim that would create a new
 * unexpired entry first drops the set's expired members, then refuses when the owner holds
 * `maxEntries` of them; complete moves the key's score to the response's expiry, release
 * removes it. The set's Redis TTL follows its longest-lived entry's, so an idle owner's set
 * vanishes with its entries.
 */

/**
 * KEYS = entry, quota set. ARGV = now, expiresAt, fingerprint, token, redisTtlMs, maxEntries,
 * key, full (as for `CLAIM_SCRIPT`; the owner's quota is checked first).
 * Returns what `CLAIM_SCRIPT` does, or `{'quota', held}`.
 */
export const OWNED_CLAIM_SCRIPT = `${ANSWER_LIVE_ENTRY}redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[7])
local held = redis.call('ZCARD', KEYS[2])
if held >= tonumber(ARGV[6]) then return { 'quota', tostring(held) } end
if ARGV[8] == '1' then return { 'full' } end
${CREATE_PENDING_ENTRY}redis.call('ZADD', KEYS[2], ARGV[2], ARGV[7])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return { 'claimed', n }
`;

/**
 * KEYS = entry, quota set. ARGV = token, expiresAt, ok ('1'/'0'), payload, redisTtlMs, key.
 * Stores the response if `token` still holds the pending entry. Returns 1 or 0.
 */
export const OWNED_COMPLETE_SCRIPT = `${STORE_RESPONSE}redis.call('ZADD', KEYS[2], ARGV[2], ARGV[6])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1
`;

/** KEYS = entry, quota set. ARGV = token, key. Gives the pending entry up if `token` holds it. */
export const OWNED_RELEASE_SCRIPT = `${GIVE_UP_ENTRY}redis.call('ZREM', KEYS[2], ARGV[2])
return 1
`;

/**
 * KEYS = entry, quota set. ARGV = token, now, expiresAt, redisTtlMs, key. As `RENEW_SCRIPT`,
 * and moves the key's score in the quota set to the new lease end. Returns 1 or 0.
 */
export const OWNED_RENEW_SCRIPT = `${EXTEND_LEASE}redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return 1
`;

/**
 * The bound on all entries (`maxEntries`): KEYS[1] is the store's bound set, a sorted set with
 * one member per entry (a digest of its Redis key) scored by the entry's expiry (store clock).
 * It has a key (and Cluster slot) of its own, so it cannot be updated in the entry's script;
 * instead a claim reserves its entry's member first, then runs the claim script.
 */

/**
 * KEYS[1] = bound set. ARGV = now, member, expiresAt, maxEntries, redisTtlMs.
 * Drops expired members; if `member` is already there, raises its score to `expiresAt` and
 * returns 1; else adds it and returns 2 when fewer than `maxEntries` members remain, or returns
 * 0 (full) and adds nothing. The set's Redis TTL follows its longest-lived member.
 */
export const BOUND_RESERVE_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
local result = 1
if not score then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
  result = 2
end
if not score or tonumber(score) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return result
`;

/**
 * KEYS[1] = bound set. ARGV = member, expiresAt, redisTtlMs. Adds `member`, or raises its
 * score to `expiresAt` (never lowers it): run before a complete, so the entry never outlives
 * its member. Returns 1.
 */
export const BOUND_EXTEND_SCRIPT = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`;

/**
 * The batch variants (`claimMany`, `completeMany`): one script call runs the items of a batch
 * in order, each as its single scripts would. KEYS are the distinct keys of the call; each item
 * names its entry and its owner's quota set by index into KEYS (quota 0: none). On a plain Redis
 * the bound set is KEYS[1] of the same call ("bounded" scripts: one call per batch); on a
 * Cluster, whose bound set lives in a slot of its own, the store reserves (or raises) the
 * batch's places in one call on the bound set, then runs one call per hash tag.
 */

/**
 * Lua functions shared by the batch scripts. Work the single scripts repeat per item is done
 * once per call, with the same outcome (nothing else runs during a script): `TIME` is read once;
 * an owner's quota set is pruned of expired members once; the Redis TTLs of the sets (the bound
 * set, the quota sets) are raised once at the end, to the longest any item asked for
 * (`run_batch` runs the items, then `apply_ttls`, also when an item failed: a write refused at
 * `maxmemory` leaves the items before it written, as single calls would, sets' TTLs included); and a new claim reads the old fencing
 * token with the entry and clears only the response fields the old entry had.
 */
const BATCH_FUNCTIONS = `
if redis.replicate_commands then redis.replicate_commands() end
local clock_ms = nil
local function server_ms()
  if not clock_ms then
    local clock = redis.call('TIME')
    clock_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  end
  return clock_ms
end
local set_ttls = {}
local function want_ttl(set, ttl)
  local t = tonumber(ttl)
  if not set_ttls[set] or t > set_ttls[set] then set_ttls[set] = t end
end
local function apply_ttls()
  for set, ttl in pairs(set_ttls) do
    if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
  end
end
local function run_batch(items)
  local ok, result = pcall(items)
  apply_ttls()
  if not ok then error(result) end
  return result
end
local pruned = {}
local function claim_item(entry, quota, now, expiresAt, fingerprint, token, ttl, maxEntries, key, full)
  local v = redis.call('HMGET', entry, 's', 'f', 'x', 'ok', 'r', 'n')
  if v[1] and tonumber(v[3]) > now then
    if v[2] ~= fingerprint then return { 'conflict' } end
    if v[1] == 'p' then return { 'pending', v[3] } end
    return { 'done', v[4], v[5] }
  end
  if quota then
    if not pruned[quota] then
      redis.call('ZREMRANGEBYSCORE', quota, '-inf', now)
      pruned[quota] = true
    end
    redis.call('ZREM', quota, key)
    local held = redis.call('ZCARD', quota)
    if held >= tonumber(maxEntries) then return { 'quota', tostring(held) } end
  end
  if full then return { 'full' } end
  local n = string.format('%.0f', math.max((tonumber(v[6]) or 0) + 1, server_ms()))
  if v[4] or v[5] then redis.call('HDEL', entry, 'ok', 'r') end
  redis.call('HSET', entry, 's', 'p', 'f', fingerprint, 't', token, 'x', expiresAt, 'n', n)
  redis.call('PEXPIRE', entry, ttl)
  if quota then
    redis.call('ZADD', quota, expiresAt, key)
    want_ttl(quota, ttl)
  end
  return { 'claimed', n }
end
local function complete_item(entry, quota, token, expiresAt, ok, payload, ttl, key)
  local v = redis.call('HMGET', entry, 's', 't')
  if v[1] ~= 'p' or v[2] ~= token then return 0 end
  redis.call('HSET', entry, 's', 'd', 'x', expiresAt, 'ok', ok, 'r', payload)
  redis.call('HDEL', entry, 't')
  redis.call('PEXPIRE', entry, ttl)
  if quota then
    redis.call('ZADD', quota, expiresAt, key)
    want_ttl(quota, ttl)
  end
  return 1
end
local function reserve_member(bound, member, expiresAt, maxEntries, ttl)
  local score = redis.call('ZSCORE', bound, member)
  local result = 1
  if not score then
    if redis.call('ZCARD', bound) >= tonumber(maxEntries) then return 0 end
    result = 2
  end
  if not score or tonumber(score) < tonumber(expiresAt) then
    redis.call('ZADD', bound, expiresAt, member)
  end
  want_ttl(bound, ttl)
  return result
end
local function extend_member(bound, member, expiresAt, ttl)
  local score = redis.call('ZSCORE', bound, member)
  if not score or tonumber(score) < tonumber(expiresAt) then
    redis.call('ZADD', bound, expiresAt, member)
  end
  want_ttl(bound, ttl)
end
local function quota_of(index)
  local i = tonumber(index)
  if i > 0 then return KEYS[i] end
  return nil
end
`;

/**
 * Claims on a Cluster (places already reserved). ARGV = now, count, then per item 9 fields:
 * entry index, quota index, expiresAt, fingerprint, token (the holder part for an owned entry),
 * redisTtlMs, maxEntries, key, full ('1': no place in the bound set). Returns one reply per
 * item, as `CLAIM_SCRIPT` or `OWNED_CLAIM_SCRIPT` would give.
 */
export const CLAIM_MANY_SCRIPT = `${BATCH_FUNCTIONS}
return run_batch(function()
  local now = tonumber(ARGV[1])
  local results = {}
  for i = 0, tonumber(ARGV[2]) - 1 do
    local b = 2 + i * 9
    results[i + 1] = claim_item(KEYS[tonumber(ARGV[b + 1])], quota_of(ARGV[b + 2]), now,
      ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], ARGV[b + 9] == '1')
  end
  return results
end)
`;

/**
 * Claims on a plain Redis, bound set included: KEYS[1] = bound set. ARGV = now, maxEntries
 * (the store's), count, then per item 9 fields: entry index, quota index, expiresAt,
 * fingerprint, token, redisTtlMs, maxEntries (the owner's), key, member. Per item, as the single
 * calls: reserve its place, claim, give the place back when the quota refused a new one.
 */
export const CLAIM_MANY_BOUNDED_SCRIPT = `${BATCH_FUNCTIONS}
return run_batch(function()
  local now = tonumber(ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local results = {}
  for i = 0, tonumber(ARGV[3]) - 1 do
    local b = 3 + i * 9
    local reserved = reserve_member(KEYS[1], ARGV[b + 9], ARGV[b + 3], ARGV[2], ARGV[b + 6])
    local result = claim_item(KEYS[tonumber(ARGV[b + 1])], quota_of(ARGV[b + 2]), now,
      ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], reserved == 0)
    if result[1] == 'quota' and reserved == 2 then redis.call('ZREM', KEYS[1], ARGV[b + 9]) end
    results[i + 1] = result
  end
  return results
end)
`;

/**
 * Completes on a Cluster (places already raised). ARGV = count, then per item 8 fields: entry
 * index, quota index, token (the holder part for an owned entry), expiresAt, ok ('1'/'0'),
 * payload, redisTtlMs, key. Returns one 1 or 0 per item.
 */
export const COMPLETE_MANY_SCRIPT = `${BATCH_FUNCTIONS}
return run_batch(function()
  local results = {}
  for i = 0, tonumber(ARGV[1]) - 1 do
    local b = 1 + i * 8
    results[i + 1] = complete_item(KEYS[tonumber(ARGV[b + 1])], quota_of(ARGV[b + 2]), ARGV[b + 3],
      ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8])
  end
  return results
end)
`;

/**
 * Completes on a plain Redis: KEYS[1] = bound set. ARGV = count, then per item 9 fields: those
 * of `COMPLETE_MANY_SCRIPT`, then the member. Per item: raise its place, then store.
 */
export const COMPLETE_MANY_BOUNDED_SCRIPT = `${BATCH_FUNCTIONS}
return run_batch(function()
  local results = {}
  for i = 0, tonumber(ARGV[1]) - 1 do
    local b = 1 + i * 9
    extend_member(KEYS[1], ARGV[b + 9], ARGV[b + 4], ARGV[b + 7])
    results[i + 1] = complete_item(KEYS[tonumber(ARGV[b + 1])], quota_of(ARGV[b + 2]), ARGV[b + 3],
      ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8])
  end
  return results
end)
`;

/**
 * The bound set alone, on a Cluster. KEYS[1] = bound set. ARGV = now, maxEntries, count, then per
 * item: member, expiresAt, redisTtlMs. Reserves each as `BOUND_RESERVE_SCRIPT` would; returns one
 * 0, 1 or 2 per item.
 */
export const BOUND_RESERVE_MANY_SCRIPT = `${BATCH_FUNCTIONS}
return run_batch(function()
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
  local results = {}
  for i = 0, tonumber(ARGV[3]) - 1 do
    local b = 3 + i * 3
    results[i + 1] = reserve_member(KEYS[1], ARGV[b + 1], ARGV[b + 2], ARGV[2], ARGV[b + 3])
  end
  return results
end)
`;

/**
 * The bound set alone, on a Cluster. KEYS[1] = bound set. ARGV = count, then per item: member,
 * expiresAt, redisTtlMs. Raises each as `BOUND_EXTEND_SCRIPT` would. Returns 1.
 */
export const BOUND_EXTEND_MANY_SCRIPT = `${BATCH_FUNCTIONS}
return run_batch(function()
  for i = 0, tonumber(ARGV[1]) - 1 do
    local b = 1 + i * 3
    extend_member(KEYS[1], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3])
  end
  return 1
end)
`;
