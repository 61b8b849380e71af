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

// acquireScript takes a key for an owner.
//
//	KEYS[1] ledger
//	ARGV[1] owner, ARGV[2] lease (ms), ARGV[3] retention (ms), ARGV[4] task id,
//	ARGV[5] fingerprint ("" = do not check), ARGV[6] "1" = refuse a key reopened for a replay
//
// Returns {claim, result, lease_until, now, posting, post_started, post_ends, attempts,
// last_error, rebuy}, claim being acquired | busy | succeeded | failed | conflict | reopened. A
// conflict is checked first: a different purchase under a bought key is not its duplicate.
// A key whose outcome is unknown loses its expiry; any other keeps the retention from now.
var acquireScript = redis.NewScript(luaNow + `
local now = now_ms()
local h = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lease_until', 'posting', 'post_started',
  'post_ends', 'attempts', 'result', 'last_error', 'fp', 'rebuy')
local st = h[1]
if ARGV[5] ~= '' and h[10] and h[10] ~= ARGV[5] then
  return {'conflict', '', '0', str(now), '', '', '', h[7] or '0', '', ''}
end
if st == 'succeeded' or st == 'failed' then
  return {st, h[8] or '', '0', str(now), '', '', '', h[7] or '0', '', ''}
end
if ARGV[6] == '1' and st == 'pending' then
  return {'reopened', '', '0', str(now), '', '', '', h[7] or '0', '', ''}
end
if h[2] and h[2] ~= ARGV[1] and tonumber(h[3] or '0') > now then
  return {'busy', '', h[3], str(now), '', '', '', h[7] or '0', '', ''}
end
local lease_until = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'state', 'submitting', 'owner', ARGV[1], 'lease_until', str(lease_until), 'task_id', ARGV[4])
if ARGV[5] ~= '' and not h[10] then redis.call('HSET', KEYS[1], 'fp', ARGV[5]) end
if h[4] == '1' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {'acquired', '', str(lease_until), str(now), h[4] or '', h[5] or '', h[6] or '', h[7] or '0', h[9] or '', h[11] or ''}
`)

// markPostingScript records, before a purchase call, that the call may place an order.
//
//	KEYS[1] ledger, KEYS[2…] the name locks of the server names the order creates
//	ARGV[1] owner, ARGV[2] idempotency key, ARGV[3] the call's timeout (ms), ARGV[4] the owner's
//	lease from now (ms), ARGV[5] how long the name locks hold (ms)
//
// Returns {"ok", calls so far} | {"lost", "0"} (another owner) | {"name_busy", ms the longest
// lock still holds} (another key's call for one of the names is unresolved). The ledger loses its
// expiry: an unknown outcome is never forgotten.
var markPostingScript = redis.NewScript(luaNow + `
local now = now_ms()
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {'lost', '0'} end
local wait = -1
for i = 2, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[2] then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl > wait then wait = ttl end
  end
end
if wait >= 0 then return {'name_busy', tostring(wait)} end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'PX', ARGV[5]) end
redis.call('HSET', KEYS[1], 'posting', '1', 'post_started', str(now),
  'post_ends', str(now + tonumber(ARGV[3])), 'lease_until', str(now + tonumber(ARGV[4])))
redis.call('PERSIST', KEYS[1])
return {'ok', tostring(redis.call('HINCRBY', KEYS[1], 'attempts', 1))}
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

// reserveScript is GCRA with a burst of one, reserving ahead: the key holds the theoretical
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
//	KEYS[1] the limiter's key: TAT in seconds since rateEpoch, written to the µs ("%d.%06d");
//	        missing: no slot is reserved
//	ARGV[1] the interval between slots, µs (≥ 1)
//	ARGV[2] the longest wait the caller accepts, µs; -1 for any
//
// It returns {reserved, slot, now}: reserved is 1 when the slot was taken, 0 when it is further
// than ARGV[2] from now (then nothing changes); slot and now are µs since rateEpoch.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1483228800) * 1000000 + tonumber(t[2])
local slot = now
local tat = redis.call('GET', KEYS[1])
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
local max_wait = tonumber(ARGV[2])
if max_wait >= 0 and slot - now > max_wait then
  return {0, slot, now}
end
local nxt = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d.%06d', math.floor(nxt / 1000000), nxt % 1000000),
  'PX', string.format('%d', math.ceil((nxt - now) / 1000)))
return {1, slot, now}
`)
