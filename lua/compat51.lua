-- Lua 5.1 names Momentum scripts use, on Fengari's 5.3. What needs the C API
-- (module, setfenv/getfenv over _ENV upvalues, package.seeall, float results
-- of math.floor/ceil) stays in src/lua/compat.ts. Host code shipped with
-- moonwatch; runs once per VM, before the sandbox is pruned.
local rawlen, type, select, error = rawlen, type, select, error

unpack = table.unpack

-- table.getn(t): the border of t, ignoring __len (5.1 had no __len for tables).
function table.getn(...)
  local t = ...
  if type(t) ~= "table" then
    error("bad argument #1 to 'getn' (table expected, got " .. (select("#", ...) == 0 and "no value" or type(t)) .. ")", 2)
  end
  return rawlen(t)
end

math.mod = math.fmod
