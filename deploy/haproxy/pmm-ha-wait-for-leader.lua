-- pmm-ha: hold a request while no PMM leader is in service, instead of failing it at once.
--
-- During a leader change (about 0.5 to 2 s) no server of the backend passes the leader check, and HAProxy would
-- answer 503 "no server available" at once. With this action a request that arrives then waits, checking every
-- 10 ms, until a server is in service again (the new leader) or until the given number of milliseconds has
-- passed; then HAProxy goes on as usual (to the new leader, or 503 as before). A client sees a slow answer
-- instead of an error. Safety does not depend on it: only the fenced leader ever passes the check.
--
-- haproxy.cfg:
--   global
--       lua-load /usr/local/etc/haproxy/pmm-ha-wait-for-leader.lua
--   frontend ...
--       http-request lua.pmm-ha-wait-for-leader http_back 5000 if { nbsrv(http_back) eq 0 }
core.register_action("pmm-ha-wait-for-leader", { "http-req" }, function(txn, backend, max_ms)
  local limit = tonumber(max_ms) or 5000
  local waited = 0
  while waited < limit do
    if tonumber(txn.f:nbsrv(backend)) > 0 then
      return
    end
    core.msleep(10)
    waited = waited + 10
  end
end, 2)
