-- ARGV: prefix, number of steps, then per step: the number of change_state.lua arguments (0
-- for a claim alone), those arguments (after its prefix), the number of fetch_next.lua
-- arguments (0 for an outcome alone), those arguments (after its prefix). The steps of a server's waiting workers in
-- one call: each runs exactly as finish_fetch.lua or fetch_next.lua would, one after another,
-- and each under pcall, so one step's error is that step's reply and never undoes or skips
-- the others (a claimed job always reaches its worker).
-- Returns one reply per step: {'ok', applied (finishing steps only), fetch_next's reply...}
-- or {'err', message}.
local count = tonumber(ARGV[2])
local pos = 3

local function slice(n)
  local args = {P}
  for i = pos, pos + n - 1 do
    args[#args + 1] = ARGV[i]
  end
  pos = pos + n
  return args
end

local replies = {}
for s = 1, count do
  local n_change = tonumber(ARGV[pos])
  pos = pos + 1
  local change_args = slice(n_change)
  local n_fetch = tonumber(ARGV[pos])
  pos = pos + 1
  local fetch_args = slice(n_fetch)
  local ok, reply = pcall(function()
    local out = {'ok'}
    if n_change > 0 then
      out[2] = change_state(change_args)
    end
    local fetched = n_fetch > 0 and fetch_next(fetch_args)
    if fetched then
      for _, v in ipairs(fetched) do
        out[#out + 1] = v
      end
    end
    return out
  end)
  if ok then
    replies[s] = reply
  else
    local message = type(reply) == 'table' and reply.err or tostring(reply)
    replies[s] = {'err', message}
  end
end
return replies
