-- thread: Momentum's mutex on a single-threaded host (spec lua-policy-api
-- §12.3). Lua here never runs on two threads at once, so a mutex only has to
-- count: a recursive mutex nests, a normal or error-checking one refuses a
-- second lock instead of deadlocking the only thread there is.
local M = { MUTEX_NORMAL = 0, MUTEX_RECURSIVE = 1, MUTEX_ERRORCHECK = 2 }

local mutex = {}
mutex.__index = mutex
mutex.__metatable = "thread.mutex"
mutex.__tostring = function(m) return "thread.mutex (" .. m.depth .. ")" end

function M.mutex(kind)
  if kind ~= nil and kind ~= M.MUTEX_NORMAL and kind ~= M.MUTEX_RECURSIVE and kind ~= M.MUTEX_ERRORCHECK then
    error("thread.mutex: unknown mutex kind " .. tostring(kind), 2)
  end
  return setmetatable({ kind = kind or M.MUTEX_NORMAL, depth = 0 }, mutex)
end

function mutex:trylock()
  if self.depth > 0 and self.kind ~= M.MUTEX_RECURSIVE then return false end
  self.depth = self.depth + 1
  return true
end

function mutex:lock()
  if not self:trylock() then
    error("thread.mutex: lock of a mutex that is already locked (it would deadlock)", 2)
  end
  return true
end

function mutex:unlock()
  if self.depth == 0 then
    error("thread.mutex: unlock of a mutex that is not locked", 2)
  end
  self.depth = self.depth - 1
  return true
end

return M
