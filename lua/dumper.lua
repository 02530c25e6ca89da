-- msys.dumper: Dumper(value) renders a value as a Lua literal ("return {...}")
-- for print(). Keys come out in a stable order (numbers ascending, then strings
-- sorted, then anything else by type and text), so two dumps of equal tables
-- are equal strings and logs diff cleanly. Host code shipped with moonwatch.
local M = {}

local type, tostring, pairs, sort, concat, format, rep =
  type, tostring, pairs, table.sort, table.concat, string.format, string.rep

local KIND = { number = 1, string = 2 }

local function key_less(a, b)
  local ka, kb = KIND[type(a)] or 3, KIND[type(b)] or 3
  if ka ~= kb then return ka < kb end
  if ka == 3 then
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    return tostring(a) < tostring(b)
  end
  return a < b
end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

local function scalar(v)
  local t = type(v)
  if t == "string" then return format("%q", v) end
  if t == "number" then
    if v == math.floor(v) and v > -1e15 and v < 1e15 then return format("%d", v) end
    return tostring(v)
  end
  if t == "boolean" or t == "nil" then return tostring(v) end
  -- functions, userdata and threads have no literal; show what tostring says.
  return format("%q", tostring(v))
end

local function dump(v, indent, seen, out)
  if type(v) ~= "table" then
    out[#out + 1] = scalar(v)
    return
  end
  if seen[v] then
    out[#out + 1] = "nil --[[ cycle ]]"
    return
  end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  if #keys == 0 then
    out[#out + 1] = "{}"
    seen[v] = nil
    return
  end
  sort(keys, key_less)
  local n = #v
  local pad = rep("  ", indent + 1)
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = pad
    if type(k) == "number" and k >= 1 and k <= n and k == math.floor(k) then
      -- array part: no key, like a hand-written list
    elseif is_identifier(k) then
      out[#out + 1] = k .. " = "
    else
      out[#out + 1] = "[" .. scalar(k) .. "] = "
    end
    dump(v[k], indent + 1, seen, out)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = rep("  ", indent) .. "}"
  seen[v] = nil
end

function M.Dumper(value, ...)
  local out = { "return " }
  dump(value, 0, {}, out)
  return concat(out)
end

return M
