-- The SyncPipeline actions Argo CD offers. run-now stays available while
-- the pipeline is suspended: a suspended pipeline still runs on request.
local actions = {}
local suspended = obj.spec ~= nil and obj.spec.suspend == true
actions["run-now"] = {["disabled"] = false, ["iconClass"] = "fa fa-fw fa-play"}
actions["suspend"] = {["disabled"] = suspended, ["iconClass"] = "fa fa-fw fa-pause"}
actions["resume"] = {["disabled"] = not suspended, ["iconClass"] = "fa fa-fw fa-play-circle"}
return actions
