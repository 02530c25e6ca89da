-- msys.runInPool (spec lua-policy-api §12.3) on a single-threaded host: the
-- "pool" is the event loop. The waiting form suspends the phase for one turn
-- of the loop and then runs fn like pcall; the fire-and-forget forms (true, or
-- a completion function) start fn after the phase has ended. There is no
-- parallelism: a long fn still holds the loop (and counts against the budget).
local host = ...
local pcall, type, error, pack, unpack = pcall, type, error, table.pack, table.unpack

return function(pool, fn, mode, sched)
  host.check_pool(pool)
  if type(fn) ~= "function" then
    error("msys.runInPool: argument 2 (fn) must be a function, got " .. type(fn), 2)
  end
  if mode == nil or mode == false then
    host.yield_now()
    return pcall(fn)
  end
  if mode == true then
    host.defer(fn)
    return
  end
  if type(mode) == "function" then
    -- The completion function gets pcall-style results; `sched` changes nothing here.
    host.defer(function()
      local r = pack(pcall(fn))
      mode(unpack(r, 1, r.n))
    end)
    return
  end
  error("msys.runInPool: argument 3 must be true, false or a completion function, got " .. type(mode), 2)
end
