-- Stops scheduled runs; the workers drain the queue down to minReplicas.
-- When Git sets spec.suspend, Argo CD's self-heal puts Git's value back:
-- leave the field out of Git to suspend and resume from Argo CD.
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.suspend = true
return obj
