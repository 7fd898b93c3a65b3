-- ARGV: prefix, then key/by/expire_at triples. A server's folded statistics, in one step.
for i = 2, #ARGV, 3 do
  add_counter(ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
return 1
