-- wrk script for bench/admin-api.sh: POST /api/v1/mailboxes, each request
-- a new address (RUNTAG, the thread's number and a counter), counting
-- answers by status.  Arguments (after --): TOKEN DOMAIN RUNTAG
local threads = {}

function setup(thread)
	thread:set("thread_no", #threads + 1)
	table.insert(threads, thread)
end

function init(args)
	wrk.method = "POST"
	wrk.headers["Authorization"] = "Bearer " .. args[1]
	wrk.headers["Content-Type"] = "application/json"
	domain = args[2]
	prefix = string.format("%s-t%d-", args[3], thread_no)
	counter = 0
	statuses = {}
end

function request()
	counter = counter + 1
	local body = string.format(
		'{"address":"%s%d@%s","password":"bench password %d"}',
		prefix, counter, domain, counter)
	return wrk.format(nil, nil, nil, body)
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
