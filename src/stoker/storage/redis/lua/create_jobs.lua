-- ARGV: prefix, retry slot key, token, then the jobs as parse_jobs reads them.
-- The slot (one per client thread, expiring) remembers the ids of the thread's last call: a
-- call resent because its reply was lost returns them instead of creating the jobs twice.
local slot, token = ARGV[2], ARGV[3]
local previous = redis.call('GET', slot)
if previous then
  local space = string.find(previous, ' ', 1, true)
  if space and string.sub(previous, 1, space - 1) == token then
    local result = {'ok'}
    for id in string.gmatch(string.sub(previous, space + 1), '%S+') do
      result[#result + 1] = id
    end
    return result
  end
end
local result = create_all(parse_jobs(4))
if result[1] == 'ok' then
  redis.call('SET', slot, token .. ' ' .. table.concat(result, ' ', 2), 'EX', 3600)
end
return result
