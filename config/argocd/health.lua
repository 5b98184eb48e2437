-- Argo CD health of a SyncPipeline (sync.sisporta.io/v1alpha1), read from
-- the conditions the Sisporta operator writes.
--
-- The operator keeps Ready steady while a healthy pipeline runs on its
-- schedule, so a run in progress stays Healthy here; Progressing means "wait":
-- the operator has not yet reconciled the current spec (observedGeneration)
-- or it is rolling out new worker pods. A Redis outage shorter than the
-- operator's grace period (Degraded=RedisUnreachable while Ready stays
-- True) stays Healthy too, with the outage in the message: a Redis restart
-- does not flap the application.
local hs = {}

local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = tostring(c.reason or c.type)
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Sisporta operator to report a status"
  return hs
end

local observed = obj.status.observedGeneration or 0
if observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Sisporta operator to reconcile generation " .. generation .. " (the status describes generation " .. observed .. ")"
  return hs
end

local ready = condition("Ready")
if ready == nil or (ready.observedGeneration or generation) < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Sisporta operator to set the Ready condition of generation " .. generation
  return hs
end

if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

local degraded = condition("Degraded")
local redisBlip = degraded ~= nil and degraded.reason == "RedisUnreachable" and ready.status == "True"
if degraded ~= nil and degraded.status == "True" and not redisBlip then
  hs.status = "Degraded"
  hs.message = describe(degraded)
  return hs
end

if (obj.spec ~= nil and obj.spec.suspend == true) or ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(ready)
  return hs
end

if ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = describe(ready)
  return hs
end

local progressing = condition("Progressing")
if progressing ~= nil and progressing.status == "True" and progressing.reason == "RollingOut" then
  hs.status = "Progressing"
  hs.message = describe(progressing)
  return hs
end

hs.status = "Healthy"
hs.message = describe(ready)
if progressing ~= nil and progressing.status == "True" then
  hs.message = hs.message .. " (" .. describe(progressing) .. ")"
end
if redisBlip and degraded.status == "True" then
  hs.message = hs.message .. " (" .. describe(degraded) .. ")"
end
return hs
