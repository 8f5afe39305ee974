-- wrk script for bench/admin-api.sh: GET with the bearer token, counting
-- answers by status.  Arguments (after --): TOKEN
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	wrk.headers["Authorization"] = "Bearer " .. args[1]
	statuses = {}
end

function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
	local all = {}
	for _, t in ipairs(threads) do
		for code, n in pairs(t:get("statuses")) do
			all[code] = (all[code] or 0) + n
		end
	end
	for code, n in pairs(all) do
		io.write(string.format("status %d: %d\n", code, n))
	end
end
