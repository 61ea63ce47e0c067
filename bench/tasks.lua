-- wrk script for the task API.
--   wrk ... -s bench/tasks.lua <url> -- <data file> <workload>
-- The data file has one line per seeded user: "<user id> <token> <task id> <task id> ...".
-- Workloads: list, get, create, toggle, mixed (70% read: 35 list + 35 get; 30% write:
-- 15 create + 15 toggle). Requests rotate through the users, each with that user's token.
-- Every status other than 2xx is counted; done() prints one RESULT line for the harness.

local threads = {}

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

local users = {}
local next_user
statuses = {}  -- non-2xx count by status; global, so done() can read it per thread
local request_for

local function headers(user, with_body)
  local h = { ["Authorization"] = user.auth }
  if with_body then h["Content-Type"] = "application/json" end
  return h
end

local function any_task(user)
  return user.tasks[math.random(#user.tasks)]
end

local function list(user)
  return wrk.format("GET", user.path, headers(user))
end

local function get(user)
  return wrk.format("GET", user.path .. "/" .. any_task(user), headers(user))
end

local create_body = '{"title": "Benchmark task", "priority": "high", "tags": ["bench"]}'

local function create(user)
  return wrk.format("POST", user.path, headers(user, true), create_body)
end

local function toggle(user)
  return wrk.format("PATCH", user.path .. "/" .. any_task(user) .. "/complete", headers(user))
end

local function mixed(user)
  local roll = math.random(100)
  if roll <= 35 then return list(user) end
  if roll <= 70 then return get(user) end
  if roll <= 85 then return create(user) end
  return toggle(user)
end

local workloads = { list = list, get = get, create = create, toggle = toggle, mixed = mixed }

function init(args)
  for line in io.lines(args[1]) do
    local fields = {}
    for field in line:gmatch("%S+") do table.insert(fields, field) end
    local user = { path = "/api/" .. fields[1] .. "/tasks", auth = "Bearer " .. fields[2] }
    user.tasks = { select(3, unpack(fields)) }
    table.insert(users, user)
  end
  request_for = workloads[args[2]]
  if request_for == nil then error("unknown workload: " .. tostring(args[2])) end
  math.randomseed(os.time() * 100 + number)
  next_user = number % #users  -- threads start at different users
end

function request()
  next_user = next_user % #users + 1
  return request_for(users[next_user])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do table.insert(parts, status .. ":" .. count) end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d socket_errors=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
