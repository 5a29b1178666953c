/**
 * Lua scripts over one stream's log, a single Redis hash (so the whole log sits in one Cluster
 * slot and vanishes as a whole):
 *
 * | field            | value                                             |
 * |------------------|---------------------------------------------------|
 * | `epoch`          | the log's incarnation                             |
 * | `head`           | newest offset (0 before the first event)          |
 * | `earliest`       | oldest retained offset (`head + 1` when none)     |
 * | `<offset>`       | the stored event (`record-blob.ts` layout)        |
 * | `i:<id>`         | the offset of the event with that id              |
 *
 * Offset fields are all digits and the others are not, so the three kinds never collide.
 * Each script runs atomically on the server: offsets, dedup and retention are one step, which
 * gives prefix visibility with any number of appending processes.
 */

/** Most events one script call deletes for retention beyond those it appends. */
export const MAX_TRIM_PER_CALL = 10_000;

// Deletes events from the front of the log while retention asks for it. Forgets their ids.
// Returns the new earliest offset. `cutoff` is nil when age retention is off.
const TRIM = `
local function trim(key, head, earliest, maxLength, cutoff, budget)
  while earliest <= head and budget > 0 do
    local overLength = maxLength > 0 and head - earliest + 1 > maxLength
    if not overLength and not cutoff then break end
    local blob = redis.call('HGET', key, earliest)
    if not overLength and blob and struct.unpack('>d', blob) >= cutoff then break end
    if blob then
      local idLength = struct.unpack('>H', blob, 9)
      redis.call('HDEL', key, earliest, 'i:' .. string.sub(blob, 11, 10 + idLength))
    end
    earliest = earliest + 1
    budget = budget - 1
  end
  return earliest
end
`;

/**
 * Appends entries. KEYS[1] = log. ARGV = now, newEpoch, maxLength (0 = off), maxAgeMs (0 =
 * off), maxTrim, then id, blob pairs. Creates the log with `newEpoch` if it does not exist.
 * Returns `{ epoch, offset… }` with a negative offset for a duplicate id.
 */
export const APPEND_SCRIPT = `${TRIM}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local maxLength = tonumber(ARGV[3])
local maxAge = tonumber(ARGV[4])
local meta = redis.call('HMGET', key, 'epoch', 'head', 'earliest')
local epoch = meta[1]
local head = tonumber(meta[2]) or 0
local earliest = tonumber(meta[3]) or head + 1
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', key, 'epoch', epoch)
end
local out = { epoch }
local count = (#ARGV - 5) / 2
local cutoff = nil
if maxAge > 0 then cutoff = now - maxAge end
-- Age retention first, so an id whose event has expired is no longer a duplicate.
local budget = tonumber(ARGV[5]) + count
if cutoff then
  local before = earliest
  earliest = trim(key, head, earliest, 0, cutoff, budget)
  budget = budget - (earliest - before)
end
for i = 1, count do
  local id = ARGV[4 + 2 * i]
  local idField = 'i:' .. id
  local existing = redis.call('HGET', key, idField)
  if existing then
    out[#out + 1] = -tonumber(existing)
  else
    head = head + 1
    redis.call('HSET', key, head, ARGV[5 + 2 * i], idField, head)
    out[#out + 1] = head
  end
end
earliest = trim(key, head, earliest, maxLength, cutoff, budget)
redis.call('HSET', key, 'head', head, 'earliest', earliest)
return out
`;

/**
 * Reads the log's state and events `after < offset ≤ after + limit` (limit 0: state only),
 * applying age retention first. KEYS[1] = log. ARGV = after, limit, now, maxAgeMs (0 = off),
 * maxTrim. Returns `{}` when the log does not exist (nothing is written then), else
 * `{ epoch, head, earliest, blob… }`.
 */
export const READ_SCRIPT = `${TRIM}
local key = KEYS[1]
local meta = redis.call('HMGET', key, 'epoch', 'head', 'earliest')
if not meta[1] then return {} end
local head = tonumber(meta[2]) or 0
local earliest = tonumber(meta[3]) or head + 1
local maxAge = tonumber(ARGV[4])
if maxAge > 0 then
  local before = earliest
  earliest = trim(key, head, earliest, 0, tonumber(ARGV[3]) - maxAge, tonumber(ARGV[5]))
  if earliest ~= before then redis.call('HSET', key, 'earliest', earliest) end
end
local out = { meta[1], head, earliest }
local from = math.max(tonumber(ARGV[1]) + 1, earliest)
local last = math.min(head, from + tonumber(ARGV[2]) - 1)
local chunk = 500
while from <= last do
  local upto = math.min(last, from + chunk - 1)
  local fields = {}
  for offset = from, upto do fields[#fields + 1] = offset end
  local blobs = redis.call('HMGET', key, unpack(fields))
  for i = 1, #blobs do
    if not blobs[i] then return redis.error_reply('STORE_CORRUPT offset ' .. (from + i - 1) .. ' is missing') end
    out[#out + 1] = blobs[i]
  end
  from = upto + 1
end
return out
`;

/**
 * Drops the log and starts a new epoch with head 0. KEYS[1] = log. ARGV = newEpoch.
 * Returns the new epoch.
 */
export const RESET_SCRIPT = `
redis.call('UNLINK', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'head', 0, 'earliest', 1)
return ARGV[1]
`;
