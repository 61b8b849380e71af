package tasks

import "github.com/redis/go-redis/v9"

// Every change to the ledger is one of these Lua scripts, so no two workers can interleave inside
// one. Each reads the time with redis.call('TIME'): leases, posting marks and the reconciliation
// grace are all on Redis's clock, so a worker whose clock is off by minutes decides nothing
// differently (Redis ≥ 5 replicates scripts by their effects, which makes TIME in a writing
// script safe).
//
// The ledger hash of an idempotency key (Keys.Ledger) holds:
//
//	state         pending | submitting | succeeded | failed (LedgerState)
//	owner         the token of the delivery that holds the key; lease_until (ms) ends its hold
//	task_id       the asynq task that last took the key
//	fp            the fingerprint of the purchase first taken under the key (Order.Fingerprint)
//	attempts      purchase calls sent in this run
//	posting       "1" while a purchase call's outcome is unknown: the order may exist
//	post_started  when that call's posting mark was set (ms); post_ends: the call's deadline (ms)
//	rebuy         "never" when the key was replayed from an ambiguous dead letter: evidence that
//	              old cannot prove an absence, so reconciliation may find the order but never re-buy
//	last_error    the last failure, for `enqueue status` and the dead letter
//	result        the terminal result (JSON)
//	run           how many times the key was reopened for a replay

// luaNow is prepended to every script that needs the time.
const luaNow = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function str(n) return string.format('%.0f', n) end
`

// luaAcquire defines acquire, the taking of a key for an owner, which acquireScript and
// acquirePostScript share.
//
//	acquire(ledger, owner, lease ms, retention ms, task id, fingerprint ("" = do not check),
//	        "1" = refuse a key reopened for a replay, now ms)
//
// returns {claim, result, lease_until, now, posting, post_started, post_ends, attempts,
// last_error, rebuy}, claim being acquired | busy | succeeded | failed | conflict | reopened. A
// conflict is checked first: a different purchase under a bought key is not its duplicate.
// A key whose outcome is unknown loses its expiry; any other keeps the retention from now.
const luaAcquire = `
local function acquire(key, owner, lease, retention, task_id, fp, skip_reopened, now)
  local h = redis.call('HMGET', key, 'state', 'owner', 'lease_until', 'posting', 'post_started',
    'post_ends', 'attempts', 'result', 'last_error', 'fp', 'rebuy')
  local st = h[1]
  if fp ~= '' and h[10] and h[10] ~= fp then
    return {'conflict', '', '0', str(now), '', '', '', h[7] or '0', '', ''}
  end
  if st == 'succeeded' or st == 'failed' then
    return {st, h[8] or '', '0', str(now), '', '', '', h[7] or '0', '', ''}
  end
  if skip_reopened == '1' and st == 'pending' then
    return {'reopened', '', '0', str(now), '', '', '', h[7] or '0', '', ''}
  end
  if h[2] and h[2] ~= owner and tonumber(h[3] or '0') > now then
    return {'busy', '', h[3], str(now), '', '', '', h[7] or '0', '', ''}
  end
  local lease_until = now + tonumber(lease)
  redis.call('HSET', key, 'state', 'submitting', 'owner', owner, 'lease_until', str(lease_until), 'task_id', task_id)
  if fp ~= '' and not h[10] then redis.call('HSET', key, 'fp', fp) end
  if h[4] == '1' then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, retention) end
  return {'acquired', '', str(lease_until), str(now), h[4] or '', h[5] or '', h[6] or '', h[7] or '0', h[9] or '', h[11] or ''}
end
`

// luaPosting defines the posting mark's two steps, which markPostingScript and acquirePostScript
// share.
//
//	names_busy(first, idempotency key) looks at the name locks KEYS[first…] and returns how long
//	(ms) the longest one that another key holds still holds, or -1 when none is held by another.
//
//	mark(ledger, first, idempotency key, call timeout ms, lease ms, name hold ms, now ms) takes
//	the name locks KEYS[first…], sets the mark, extends the owner's lease over the call and
//	returns the number of calls sent for the key, this one included. The ledger loses its expiry:
//	an unknown outcome is never forgotten.
const luaPosting = `
local function names_busy(first, idem)
  local wait = -1
  for i = first, #KEYS do
    local holder = redis.call('GET', KEYS[i])
    if holder and holder ~= idem then
      local ttl = redis.call('PTTL', KEYS[i])
      if ttl > wait then wait = ttl end
    end
  end
  return wait
end
local function mark(key, first, idem, call_timeout, lease, name_hold, now)
  for i = first, #KEYS do redis.call('SET', KEYS[i], idem, 'PX', name_hold) end
  redis.call('HSET', key, 'posting', '1', 'post_started', str(now),
    'post_ends', str(now + tonumber(call_timeout)), 'lease_until', str(now + tonumber(lease)))
  redis.call('PERSIST', key)
  return redis.call('HINCRBY', key, 'attempts', 1)
end
`

// acquireScript takes a key for an owner (acquire, in luaAcquire).
//
//	KEYS[1] ledger
//	ARGV[1] owner, ARGV[2] lease (ms), ARGV[3] retention (ms), ARGV[4] task id,
//	ARGV[5] fingerprint ("" = do not check), ARGV[6] "1" = refuse a key reopened for a replay
//
// Returns what acquire returns.
var acquireScript = redis.NewScript(luaNow + luaAcquire + `
return acquire(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], now_ms())
`)

// markPostingScript records, before a purchase call, that the call may place an order.
//
//	KEYS[1] ledger, KEYS[2…] the name locks of the server names the order creates
//	ARGV[1] owner, ARGV[2] idempotency key, ARGV[3] the call's timeout (ms), ARGV[4] the owner's
//	lease from now (ms), ARGV[5] how long the name locks hold (ms)
//
// Returns {"ok", calls so far} | {"lost", "0"} (another owner) | {"name_busy", ms the longest
// lock still holds} (another key's call for one of the names is unresolved).
var markPostingScript = redis.NewScript(luaNow + luaPosting + `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {'lost', '0'} end
local wait = names_busy(2, ARGV[2])
if wait >= 0 then return {'name_busy', tostring(wait)} end
return {'ok', tostring(mark(KEYS[1], 2, ARGV[2], ARGV[3], ARGV[4], ARGV[5], now_ms()))}
`)

// acquirePostScript is acquireScript and, in the same step, when the key has no unknown outcome
// and calls left, its names are free and the fleet's next rate-limit slot is now, the rate-limit
// slot's reservation and markPostingScript: an order's first call costs one round trip
// before it goes out instead of three. Where any of these does not hold, it only acquires, and
// the caller takes the steps one by one (reconciling, waiting for its slot or for the names).
//
//	KEYS[1] ledger, KEYS[2] the rate limiter's key, KEYS[3…] name locks
//	ARGV[1…6] acquireScript's, ARGV[7] idempotency key, ARGV[8] the call's timeout (ms),
//	ARGV[9] the owner's lease over the call (ms), ARGV[10] how long the name locks hold (ms),
//	ARGV[11] the most calls the key may have sent already, ARGV[12] the limiter's interval (µs),
//	"" = no limiter
//
// Returns acquire's ten values followed by the calls sent, this one included ("0" = no mark
// set), and "" or the name locks' wait (ms) when another key holds one of the names.
var acquirePostScript = redis.NewScript(luaNow + luaAcquire + luaPosting + luaReserve + `
local now = now_ms()
local c = acquire(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], now)
c[11], c[12] = '0', ''
if c[1] ~= 'acquired' or c[5] == '1' or tonumber(c[8]) > tonumber(ARGV[11]) then return c end
local wait = names_busy(3, ARGV[7])
if wait >= 0 then
  c[12] = tostring(wait)
  return c
end
if ARGV[12] ~= '' and reserve(KEYS[2], ARGV[12], '0')[1] == 0 then return c end
c[11] = tostring(mark(KEYS[1], 3, ARGV[7], ARGV[8], ARGV[9], ARGV[10], now))
return c
`)

// clearPostingScript records that the last purchase call placed no order.
//
//	KEYS[1] ledger, KEYS[2…] name locks
//	ARGV[1] owner, ARGV[2] "1" = take the call back out of the count, ARGV[3] idempotency key,
//	ARGV[4] "" or the grace (ms): then only once the call's deadline plus the grace has passed,
//	ARGV[5] retention (ms), ARGV[6] the call timeout (ms), for a mark written without post_ends,
//	ARGV[7] "" or how long (ms) the name locks linger instead of being freed at once
//
// Returns {"ok", "0"} | {"lost", "0"} | {"early", ms left until the grace has passed}.
var clearPostingScript = redis.NewScript(luaNow + `
local now = now_ms()
local h = redis.call('HMGET', KEYS[1], 'owner', 'post_started', 'post_ends')
if h[1] ~= ARGV[1] then return {'lost', '0'} end
if ARGV[4] ~= '' then
  local ends = tonumber(h[3] or '') or (tonumber(h[2] or '0') + tonumber(ARGV[6]))
  local at = ends + tonumber(ARGV[4])
  if now < at then return {'early', str(at - now)} end
end
redis.call('HDEL', KEYS[1], 'posting', 'post_started', 'post_ends')
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', -1) end
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[3] then
    if ARGV[7] ~= '' then redis.call('PEXPIRE', KEYS[i], ARGV[7]) else redis.call('DEL', KEYS[i]) end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'ok', '0'}
`)

// releaseScript gives a key up without an outcome.
//
//	KEYS[1] ledger
//	ARGV[1] owner, ARGV[2] last error ("" = keep the one recorded)
//
// Returns 1, or 0 when another owner holds the key.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_error', ARGV[2]) end
return 1
`)

// succeedScript records a key's purchase, claims its order id and publishes the result.
//
//	KEYS[1] ledger, KEYS[2] results stream, KEYS[3] the order's claim, KEYS[4…] name locks
//	ARGV[1] result, ARGV[2] idempotency key, ARGV[3] retention (ms), ARGV[4] stream MAXLEN,
//	ARGV[5] "1" = the order was found by reconciliation: fail if another key claimed it
//
// Returns {"ok", result, ""} | {"ok", result, the key that had claimed the order} (a purchase
// call's own answer is proof, and takes the claim over) | {"succeeded", stored result, ""} |
// {"claimed", "", the key that holds the order}.
var succeedScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'succeeded' then
  return {'succeeded', redis.call('HGET', KEYS[1], 'result'), ''}
end
local holder = redis.call('GET', KEYS[3])
if holder == ARGV[2] then holder = false end
if holder and ARGV[5] == '1' then return {'claimed', '', holder} end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[1], 'state', 'succeeded', 'result', ARGV[1])
redis.call('HDEL', KEYS[1], 'owner', 'lease_until', 'posting', 'post_started', 'post_ends', 'rebuy')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'idempotency_key', ARGV[2], 'status', 'succeeded', 'result', ARGV[1])
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2] then redis.call('DEL', KEYS[i]) end
end
return {'ok', ARGV[1], holder or ''}
`)

// failScript records a key's failure, writes its dead letter and publishes the result.
//
//	KEYS[1] ledger, KEYS[2] results stream, KEYS[3] dead letter, KEYS[4] dead-letter index
//	ARGV[1] owner ("" = no check), ARGV[2] result, ARGV[3] idempotency key, ARGV[4] retention
//	(ms), ARGV[5] stream MAXLEN, ARGV[6] task id, ARGV[7…] the dead letter's field/value pairs
//
// Returns {"ok", result} | {state, stored result} when already terminal | {"lost", ""}. A key
// whose last call's outcome is unknown keeps no expiry, and its dead letter gets the call's
// post_started and post_ends, so a replay can restore the mark even after the ledger is gone.
var failScript = redis.NewScript(luaNow + `
local h = redis.call('HMGET', KEYS[1], 'state', 'owner', 'posting', 'post_started', 'post_ends', 'attempts')
if h[1] == 'succeeded' or h[1] == 'failed' then
  return {h[1], redis.call('HGET', KEYS[1], 'result')}
end
if ARGV[1] ~= '' and h[2] ~= ARGV[1] then return {'lost', ''} end
redis.call('HSET', KEYS[1], 'state', 'failed', 'result', ARGV[2])
redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
if h[3] == '1' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'idempotency_key', ARGV[3], 'status', 'dead_lettered', 'result', ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 7))
redis.call('HSET', KEYS[3], 'purchase_calls', h[6] or '0')
if h[3] == '1' then
  redis.call('HSET', KEYS[3], 'post_started', h[4] or '0', 'post_ends', h[5] or '')
end
redis.call('ZADD', KEYS[4], str(now_ms()), ARGV[6])
return {'ok', ARGV[2]}
`)

// reopenScript makes a failed key pending again for a replay.
//
//	KEYS[1] ledger
//	ARGV[1] "" or post_started (ms) of an unknown outcome to restore when the ledger has no record,
//	ARGV[2] its post_ends (ms; "" for a mark written before deadlines were recorded),
//	ARGV[3] "1" = the operator has checked that no order exists:
//	clear an unknown outcome and let the key buy again, ARGV[4] retention (ms)
//
// Returns 1 (reopened), 2 (restored from the dead letter), 0 (not failed: nothing to do). A
// reopened key whose outcome is unknown is marked rebuy=never unless ARGV[3] says otherwise.
var reopenScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'posting')
if not h[1] then
  if ARGV[1] == '' or ARGV[3] == '1' then return 0 end
  redis.call('HSET', KEYS[1], 'state', 'pending', 'posting', '1', 'post_started', ARGV[1],
    'post_ends', ARGV[2], 'attempts', '0', 'rebuy', 'never', 'run', '1')
  return 2
end
if h[1] ~= 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'attempts', '0')
redis.call('HDEL', KEYS[1], 'result')
redis.call('HINCRBY', KEYS[1], 'run', 1)
if h[2] == '1' then
  if ARGV[3] == '1' then
    redis.call('HDEL', KEYS[1], 'posting', 'post_started', 'post_ends', 'rebuy')
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
  else
    redis.call('HSET', KEYS[1], 'rebuy', 'never')
  end
end
return 1
`)

// luaReserve defines reserve, GCRA with a burst of one, reserving ahead: the key holds the theoretical
// arrival time (TAT), the earliest time the next slot may take. A caller takes max(TAT, now) as
// its slot and moves TAT one interval past it, so it waits for its own slot instead of coming back
// to compete for the next one, and the slots of waiting callers follow one another exactly.
// go-redis/redis_rate's GCRA admits only at TAT itself: a caller turned away sleeps and comes
// back late, and the fleet loses that lateness at every slot (a larger burst there would let
// callers take slots ahead, but it answers neither the slot nor Redis's time, and cannot decline
// a slot past the caller's deadline). Time is Redis's TIME, in µs since rateEpoch, in integers
// that a double holds exactly; the key holds TAT as redis_rate does, in seconds since rateEpoch,
// so that a redis_rate limiter of burst 1 on the same key waits for the slots reserved here, and
// this script for its admissions. Redis ≥ 5 replicates the script by its effects (see the
// top of this file), so reading TIME before writing is safe.
//
//	reserve(key, interval µs (≥ 1), longest wait µs the caller accepts or -1 for any), the key
//	holding TAT in seconds since rateEpoch, written to the µs ("%d.%06d") (missing: no slot is
//	reserved),
//
// returns {reserved, slot, now}: reserved is 1 when the slot was taken, 0 when it is further
// than the longest wait from now (then nothing changes); slot and now are µs since rateEpoch.
const luaReserve = `
local function reserve(key, interval, max_wait)
  local t = redis.call('TIME')
  local now = (tonumber(t[1]) - 1483228800) * 1000000 + tonumber(t[2])
  local slot = now
  local tat = redis.call('GET', key)
  if tat then
    -- read to the µs without floating point, rounding up: never earlier than was written
    local sec, frac = string.match(tat, '^(%d+)%.?(%d*)$')
    if sec then
      tat = tonumber(sec) * 1000000 + tonumber(string.sub(frac .. '000000', 1, 6))
      if string.find(string.sub(frac, 7), '[1-9]') then tat = tat + 1 end
    else
      tat = math.ceil(tonumber(tat) * 1000000)
    end
    if tat > slot then slot = tat end
  end
  max_wait = tonumber(max_wait)
  if max_wait >= 0 and slot - now > max_wait then
    return {0, slot, now}
  end
  local nxt = slot + tonumber(interval)
  redis.call('SET', key, string.format('%d.%06d', math.floor(nxt / 1000000), nxt % 1000000),
    'PX', string.format('%d', math.ceil((nxt - now) / 1000)))
  return {1, slot, now}
end
`

// reserveScript reserves a slot (reserve, in luaReserve).
//
//	KEYS[1] the limiter's key: TAT in seconds since rateEpoch, written to the µs ("%d.%06d");
//	        missing: no slot is reserved
//	ARGV[1] the interval between slots, µs (≥ 1)
//	ARGV[2] the longest wait the caller accepts, µs; -1 for any
//
// Returns what reserve returns.
var reserveScript = redis.NewScript(luaReserve + `
return reserve(KEYS[1], ARGV[1], ARGV[2])
`)

// readinessWriteScript writes a lifecycle record, unless it is terminal already (or, for a start,
// exists), and for a finish adds the order's event to the readiness stream in the same step. It
// answers {1, record} when it wrote, {0, stored record} when it did not.
//
//	KEYS[1] the order's lifecycle record (Keys.Readiness), KEYS[2] the readiness stream
//	ARGV[1] state, ARGV[2] the record (JSON), ARGV[3] mode: start | update | finish,
//	ARGV[4] retention (ms), ARGV[5] stream MAXLEN, ARGV[6] idempotency key
var readinessWriteScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if cur == 'ready' or cur == 'failed' or cur == 'timed_out' or (cur and ARGV[3] == 'start') then
  return {0, redis.call('HGET', KEYS[1], 'record') or ''}
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'record', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[3] == 'finish' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'idempotency_key', ARGV[6], 'state', ARGV[1], 'event', ARGV[2])
end
return {1, ARGV[2]}
`)

// pendingAgesScript answers {length of the pending list, then for each cutoff how many tasks have
// been pending since it or before}. The list is newest first; a task without "pending_since"
// (enqueued by an asynq older than 0.24) counts as the oldest.
//
//	KEYS[1] asynq's pending list of the queue
//	ARGV[1] asynq's task key prefix of the queue, ARGV[2…] the cutoffs (unix ns)
var pendingAgesScript = redis.NewScript(`
local n = redis.call('LLEN', KEYS[1])
local out = {n}
for i = 2, #ARGV do
  local cutoff = tonumber(ARGV[i])
  local lo, hi = 0, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local id = redis.call('LINDEX', KEYS[1], mid)
    local since = 0
    if id then since = tonumber(redis.call('HGET', ARGV[1] .. id, 'pending_since') or '0') or 0 end
    if since <= cutoff then hi = mid else lo = mid + 1 end
  end
  table.insert(out, n - lo)
end
return out
`)
