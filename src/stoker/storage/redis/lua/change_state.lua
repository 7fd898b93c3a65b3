-- ARGV: prefix, job id, state, at, history entry, expected states (",A,B," or ""),
-- expected state_id (or ""), queue, run_at, expire_at, server id, op token, release (1/0),
-- deleted children expire_at, concurrency key whose slot to give back (or ""), number of
-- params, number of counters,
-- then name/JSON pairs of params, then key/by/expire_at triples of counters. Returns 1 or 0.
return change_state(ARGV)
