{{/* Names and labels shared by the chart's templates. */}}

{{- define "sisporta.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; object names derive from it. */}}
{{- define "sisporta.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sisporta.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sisporta.labels" -}}
helm.sh/chart: {{ include "sisporta.chart" . }}
app.kubernetes.io/name: {{ include "sisporta.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of the operator pods; they never change on upgrade. */}}
{{- define "sisporta.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sisporta.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "sisporta.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sisporta.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image, by digest when one is given. */}}
{{- define "sisporta.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The image of extractors and workers: the operator's own unless set. */}}
{{- define "sisporta.runnerImage" -}}
{{- default (include "sisporta.image" .) .Values.runnerImage }}
{{- end }}

{{- define "sisporta.redis.fullname" -}}
{{- printf "%s-redis" (include "sisporta.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sisporta.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sisporta.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{/* Secret holding the bundled Redis's password and URL. */}}
{{- define "sisporta.redis.authSecret" -}}
{{- default (printf "%s-auth" (include "sisporta.redis.fullname" .)) .Values.redis.auth.existingSecret }}
{{- end }}

{{/*
The Secret and key the operator reads its default Redis URL from, as
"name key", or "" when there is no default Redis.
*/}}
{{- define "sisporta.defaultRedisRef" -}}
{{- if .Values.redis.enabled }}
{{- printf "%s url" (include "sisporta.redis.authSecret" .) }}
{{- else if .Values.defaultRedis.existingSecret.name }}
{{- printf "%s %s" .Values.defaultRedis.existingSecret.name .Values.defaultRedis.existingSecret.key }}
{{- end }}
{{- end }}

{{/* A duration of one unit (90s, 30m, 2h, 1d) as a number of seconds, for PromQL. */}}
{{- define "sisporta.seconds" -}}
{{- $d := toString . -}}
{{- $n := regexFind "^[0-9]+" $d -}}
{{- $unit := trimPrefix $n $d -}}
{{- $per := dict "s" 1 "m" 60 "h" 3600 "d" 86400 -}}
{{- if or (not $n) (not (hasKey $per $unit)) -}}
{{- fail (printf "%q is not a duration of one unit such as 90s, 30m, 2h or 1d" $d) -}}
{{- end -}}
{{- mul (int64 $n) (get $per $unit) -}}
{{- end }}

{{/* An alert's labels: (list .Values.metrics.prometheusRule severity). */}}
{{- define "sisporta.alertLabels" -}}
{{- $pr := index . 0 -}}
{{- if hasKey $pr.alertLabels "severity" -}}
{{- fail "metrics.prometheusRule.alertLabels must not set severity: set metrics.prometheusRule.alerts.NAME.severity of each alert" -}}
{{- end -}}
severity: {{ index . 1 | quote }}
{{- with $pr.alertLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* An alert's runbook_url annotation, or nothing: (list .Values.metrics.prometheusRule "AlertName"). */}}
{{- define "sisporta.runbookUrl" -}}
{{- $name := index . 1 -}}
{{- with (index . 0).runbookUrl -}}
runbook_url: {{ printf "%s#%s" . (lower $name) | quote }}
{{- end -}}
{{- end }}
