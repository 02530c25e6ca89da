-- msys.pbp: the policy building blocks of Momentum's default policy, as the
-- SparkPost samples use them (spec lua-policy-api §12.1). Host code shipped
-- with moonwatch; `host` gives it the constants and the DNS call.
local host = ...
local type, tostring, tonumber, ipairs, error, math = type, tostring, tonumber, ipairs, error, math
local dnsLookup = host.dnsLookup
local VCTX_CONN, VCTX_MESS = host.VCTX_CONN, host.VCTX_MESS
local M = {}

local function is_vctx(v)
  return type(v) == "userdata" and tostring(v):sub(1, 6) == "vctx: "
end

-- set_whitelist(vctx, [ctxtype,] name, flag): both the 3-argument form of the
-- default-policy guide and the 4-argument form of the training policy.
function M.set_whitelist(vctx, a, b, c)
  if not is_vctx(vctx) then error("msys.pbp.set_whitelist: argument 1 (vctx) must be a vctx, got " .. type(vctx), 2) end
  local ctxtype, name, flag
  if type(a) == "number" then ctxtype, name, flag = a, b, c else ctxtype, name, flag = VCTX_CONN, a, b end
  if type(name) ~= "string" or name == "" then
    error("msys.pbp.set_whitelist: whitelist name must be a non-empty string, got " .. type(name), 2)
  end
  if flag == nil or flag == true then
    vctx:set(ctxtype, "dp_whitelist_" .. name, "true")
  else
    vctx:set(ctxtype, "dp_whitelist_" .. name, nil)
  end
end

-- check_whitelist(vctx, cfg): cfg is a table with honor_whitelist (the fcdns
-- sample passes its whole config) or the list itself (the rbl sample).
function M.check_whitelist(vctx, cfg)
  if not is_vctx(vctx) then error("msys.pbp.check_whitelist: argument 1 (vctx) must be a vctx, got " .. type(vctx), 2) end
  if cfg == nil then return false end
  if type(cfg) ~= "table" then error("msys.pbp.check_whitelist: argument 2 must be a table, got " .. type(cfg), 2) end
  local list = cfg.honor_whitelist
  if list == nil then list = cfg end
  if type(list) == "string" then list = { list } end
  if type(list) ~= "table" then return false end
  for _, name in ipairs(list) do
    local key = "dp_whitelist_" .. tostring(name)
    if vctx:exists(VCTX_CONN, key) == 1 or vctx:exists(VCTX_MESS, key) == 1 then return true end
  end
  return false
end

local UNITS = { b = 1, k = 1024, m = 1048576, g = 1073741824 }

-- size_in_bytes("30m") → 31457280; a bare number is bytes.
function M.size_in_bytes(spec)
  if type(spec) == "number" then return math.floor(spec) end
  if type(spec) ~= "string" then error("msys.pbp.size_in_bytes: argument 1 must be a string or number, got " .. type(spec), 2) end
  local num, unit = spec:match("^%s*(%d+%.?%d*)%s*([bBkKmMgG]?)%s*$")
  if not num then error("msys.pbp.size_in_bytes: cannot read size '" .. spec .. "' (expected digits with an optional b, k, m or g)", 2) end
  local mult = unit == "" and 1 or UNITS[unit:lower()]
  return math.floor(tonumber(num) * mult)
end

local function reverse_name(ip)
  if ip:find(":", 1, true) then
    local nibbles = host.ipv6_nibbles(ip)
    if not nibbles then return nil end
    return nibbles:reverse():gsub(".", "%0.") .. "ip6.arpa"
  end
  local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  return d .. "." .. c .. "." .. b .. "." .. a .. ".in-addr.arpa"
end

-- fcdns_check(ac, vctx) → success, rdns_error, fdns_error: the peer's PTR
-- name must resolve back (A or AAAA) to the peer. Suspends on DNS.
function M.fcdns_check(ac, vctx)
  if not is_vctx(vctx) then error("msys.pbp.fcdns_check: argument 2 (vctx) must be a vctx, got " .. type(vctx), 2) end
  local ip = host.peer_ip(ac)
  local ptr = reverse_name(ip)
  local names, rerr = nil, nil
  if ptr then names, rerr = dnsLookup(ptr, "PTR") else rerr = "FORMERR" end
  if names and #names == 0 then names, rerr = nil, "NXDOMAIN" end
  if not names then
    vctx:set(VCTX_CONN, "reverse_dns", "")
    vctx:set(VCTX_CONN, "fcdns_status", "false")
    return false, rerr, nil
  end
  local name = names[1]
  vctx:set(VCTX_CONN, "reverse_dns", name)
  local family = ip:find(":", 1, true) and "AAAA" or "A"
  local addrs, ferr = dnsLookup(name, family)
  local ok = false
  if addrs then
    for _, a in ipairs(addrs) do
      if host.same_ip(a, ip) then ok = true break end
    end
    if #addrs == 0 then ferr = "NXDOMAIN" end
  end
  vctx:set(VCTX_CONN, "fcdns_status", ok and "true" or "false")
  return ok, nil, (not ok) and (ferr or "MISMATCH") or nil
end

return M
