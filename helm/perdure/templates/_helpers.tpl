{{- define "perdure.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "perdure.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "perdure.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "perdure.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "perdure.selectorLabels" -}}
app.kubernetes.io/name: {{ include "perdure.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "perdure.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "perdure.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "perdure.fullname" .) }}
{{- end }}

{{/* Settings shared by the server and the migration job. */}}
{{- define "perdure.env" -}}
- name: PERDURE_ENVIRONMENT
  value: production
- name: PERDURE_HOST
  value: "0.0.0.0"
- name: PERDURE_PORT
  value: {{ .Values.config.port | quote }}
- name: PERDURE_WORKERS
  value: {{ .Values.config.workers | quote }}
- name: PERDURE_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: PERDURE_RUN_BACKGROUND_LOOPS
  value: {{ .Values.config.runBackgroundLoops | quote }}
- name: PERDURE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "perdure.secretName" . }}
      key: PERDURE_DATABASE_URL
- name: PERDURE_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "perdure.secretName" . }}
      key: PERDURE_ADMIN_TOKEN
      optional: true
- name: PERDURE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "perdure.secretName" . }}
      key: PERDURE_SECRET_KEY
{{- end }}
