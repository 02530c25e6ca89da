-- Suspension across user coroutines. A host call that must wait (DNS, sleep,
-- runInPool) yields a sentinel to the host's phase driver. If the script made
-- its own coroutine, that yield would land in the script's coroutine.resume
-- instead; these wrappers pass such a yield on to the enclosing thread (and
-- so, eventually, to the driver) and hand the answer back down. Host code
-- shipped with moonwatch; runs once per generation.
local host = ...
local SUSPEND = host.SUSPEND
local co_resume, co_yield, co_create, co_status = coroutine.resume, coroutine.yield, coroutine.create, coroutine.status
local select, error = select, error

local function settle(co, ok, ...)
  -- A host call deep inside `co` is waiting: wait in our own thread, then resume `co` with the answer.
  if ok and select("#", ...) >= 1 and (...) == SUSPEND then
    return settle(co, co_resume(co, co_yield(...)))
  end
  return ok, ...
end

coroutine.resume = function(co, ...)
  return settle(co, co_resume(co, ...))
end

local function unwrap(ok, ...)
  if not ok then error((...), 0) end
  return ...
end

coroutine.wrap = function(f)
  local co = co_create(f)
  return function(...)
    return unwrap(settle(co, co_resume(co, ...)))
  end
end

-- A script yielding SUSPEND itself must not impersonate the host.
coroutine.yield = function(first, ...)
  if first == SUSPEND then error("coroutine.yield: this value is reserved by the host", 2) end
  return co_yield(first, ...)
end
