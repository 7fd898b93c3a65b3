-- ARGV: prefix, n, then the n arguments of change_state.lua after its prefix, then the
-- arguments of fetch_next.lua after its prefix. One script, so finishing a job and claiming
-- the next one is one atomic step and one round trip. The claim runs whether or not the change
-- applied: a lost compare-and-set means someone else decided about that job (deleted,
-- requeued), not that this worker should stop working.
-- Returns {applied (1/0), fetch_next's reply...} ({applied} alone if no job was claimed).
local n = tonumber(ARGV[2])
local change_args, fetch_args = {P}, {P}
for i = 3, n + 2 do
  change_args[#change_args + 1] = ARGV[i]
end
for i = n + 3, #ARGV do
  fetch_args[#fetch_args + 1] = ARGV[i]
end
local applied = change_state(change_args)
local fetched = fetch_next(fetch_args)
if not fetched then
  return {applied}
end
table.insert(fetched, 1, applied)
return fetched
