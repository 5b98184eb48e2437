{{/* Names and namespaces of the chart's RBAC. */}}

{{/*
Names of cluster-scoped objects (ClusterRoles, ClusterRoleBindings) and of
Roles the chart puts in other namespaces: they hold the release namespace,
so two releases of the same name in different namespaces do not clash.
*/}}
{{- define "sisporta.clusterScopedName" -}}
{{- printf "%s-%s" .Release.Namespace (include "sisporta.fullname" .) | trunc 253 | trimSuffix "-" }}
{{- end }}

{{/*
The namespaces where the operator may keep its copy of the default Redis
URL (Secret sisporta-operator-redis), as a JSON list: the release
namespace, watchNamespace and defaultRedis.namespaces; none without a
default Redis.
*/}}
{{- define "sisporta.defaultRedisNamespaces" -}}
{{- $nss := list }}
{{- if include "sisporta.defaultRedisRef" . }}
{{- $nss = append $nss .Release.Namespace }}
{{- with .Values.watchNamespace }}
{{- $nss = append $nss . }}
{{- end }}
{{- $nss = concat $nss .Values.defaultRedis.namespaces }}
{{- end }}
{{- $nss | uniq | toJson }}
{{- end }}
