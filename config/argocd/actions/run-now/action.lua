-- Starts one run at once. The operator starts one extraction Job for each
-- new value of the sync.sisporta.io/run-now annotation and records the
-- value in status.lastHandledRunNow; the current time (UTC) is the value.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["sync.sisporta.io/run-now"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
