{{/* Full name: "poolguard-controller" for a release named "poolguard". */}}
{{- define "poolguard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- printf "%s-controller" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s-controller" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "poolguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: poolguard-controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: poolguard
{{- end -}}

{{- define "poolguard.selectorLabels" -}}
app.kubernetes.io/name: poolguard-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "poolguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "poolguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "poolguard.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}

{{/* The console: "poolguard-console" for a release named "poolguard". */}}
{{- define "poolguard.consoleName" -}}
{{- printf "%s-console" (include "poolguard.fullname" . | trimSuffix "-controller") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "poolguard.consoleSelectorLabels" -}}
app.kubernetes.io/name: poolguard-console
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "poolguard.consoleLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "poolguard.consoleSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: poolguard
app.kubernetes.io/component: console
{{- end -}}
