-- wrk script for bench/http.sh: wrk -s http_wrk.lua URL -- DEPTH
--
-- DEPTH 1 (default): one request per write, wrk's own static request (no Lua
-- call per request). DEPTH > 1: pipelining, DEPTH copies of the request sent
-- in one write and DEPTH responses read before the next write (as wrk's
-- pipeline.lua); wrk then records one latency sample per batch.
--
-- done() prints one JSON line: requests, bytes (heads included), us (run
-- time), p50_us, p99_us (wrk's latency percentiles), and the error counts.
-- With pipelining the percentiles mean nothing: wrk takes one latency per
-- batch but corrects for coordinated omission with the interval between
-- requests, adding samples below the smallest one, which its percentile
-- never reaches (90% and 99% read 0).

function init(args)
	local depth = tonumber(args[1] or "1")
	if depth > 1 then
		local r = {}
		for i = 1, depth do
			r[i] = wrk.format()
		end
		local batch = table.concat(r)
		-- a global request() makes wrk ask for every write (and count the
		-- requests in the batch once, for the responses it waits for)
		request = function()
			return batch
		end
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'{"requests":%d,"bytes":%d,"us":%d,"p50_us":%d,"p99_us":%d,' ..
		'"connect_err":%d,"read_err":%d,"write_err":%d,"status_err":%d,"timeouts":%d}\n',
		summary.requests, summary.bytes, summary.duration, latency:percentile(50),
		latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
