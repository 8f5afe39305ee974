-- wrk script for bench/webmail.sh: GET with the session cookie(s),
-- counting answers by status.  Arguments (after --): COOKIES [UIDFILE]
--   COOKIES   session ids separated by commas; requests take them in
--             turn (one session's requests are serialised by the daemon)
--   UIDFILE   when given, the path of each request ends in the next uid
--             of this file (one per line): .../messages/{uid}
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	cookies = {}
	for c in string.gmatch(args[1], "[^,]+") do
		table.insert(cookies, "postern_session=" .. c)
	end
	uids = nil
	if args[2] ~= nil then
		uids = {}
		for line in io.lines(args[2]) do
			table.insert(uids, line)
		end
	end
	n = 0
	statuses = {}
	base = wrk.path
end

function request()
	n = n + 1
	local path = base
	if uids ~= nil then
		-- base is ".../messages/?mark_seen=0": the uid goes before the "?"
		local q = string.find(base, "?", 1, true)
		local uid = uids[(n % #uids) + 1]
		if q then
			path = string.sub(base, 1, q - 1) .. uid .. string.sub(base, q)
		else
			path = base .. uid
		end
	end
	local headers = { ["Cookie"] = cookies[(n % #cookies) + 1] }
	return wrk.format("GET", path, headers)
end

function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
	local all = {}
	for _, t in ipairs(threads) do
		for code, k in pairs(t:get("statuses")) do
			all[code] = (all[code] or 0) + k
		end
	end
	for code, k in pairs(all) do
		io.write(string.format("status %d: %d\n", code, k))
	end
end
