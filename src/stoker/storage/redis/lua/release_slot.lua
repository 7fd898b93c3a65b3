-- ARGV: prefix, concurrency key, job id, state id of its Processing claim, now.
-- Returns how many waiters were enqueued.
return give_back_slot(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
