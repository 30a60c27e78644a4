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

{{- define "perdure.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "perdure.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* The chart's admin token: the given one, the one an earlier install generated, or a new one. */}}
{{- define "perdure.adminToken" -}}
{{- if .Values.secrets.adminToken }}
{{- .Values.secrets.adminToken }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "perdure.fullname" .) }}
{{- if and $existing (index $existing.data "PERDURE_ADMIN_TOKEN") }}
{{- index $existing.data "PERDURE_ADMIN_TOKEN" | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Settings shared by every pod and the migration job. */}}
{{- define "perdure.env" -}}
- name: PERDURE_ENVIRONMENT
  value: production
- name: PERDURE_HOST
  value: "0.0.0.0"
- name: PERDURE_PORT
  value: {{ .Values.config.port | quote }}
- name: PERDURE_METRICS_PORT
  value: {{ .Values.config.metricsPort | quote }}
- name: PERDURE_WORKERS
  value: {{ .Values.config.workers | quote }}
- name: PERDURE_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: PERDURE_SHUTDOWN_GRACE_SECONDS
  value: {{ .Values.config.shutdownGraceSeconds | quote }}
{{- if .Values.database.external.host }}
{{- $db := .Values.database.external }}
- name: PERDURE_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "database.external.passwordSecret.name is required with database.external.host" $db.passwordSecret.name }}
      key: {{ $db.passwordSecret.key }}
- name: PERDURE_DATABASE_URL
  value: {{ printf "postgresql+psycopg://%s@%s:%v/%s?sslmode=%s" $db.user $db.host $db.port $db.name $db.sslmode | quote }}
{{- else }}
- name: PERDURE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "perdure.secretName" . }}
      key: PERDURE_DATABASE_URL
{{- end }}
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
{{- range $name, $value := .Values.config.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Restarts pods when the configuration they read changes. */}}
{{- define "perdure.checksum" -}}
checksum/config: {{ list .Values.config .Values.database .Values.secrets | toJson | sha256sum }}
{{- end }}

{{/*
One Deployment of `perdure serve`. Arguments: (dict "root" $ "component" "api"|"loops"
"values" .Values.api|.Values.loops "loops" true|false).
*/}}
{{- define "perdure.deployment" -}}
{{- $root := .root }}
{{- $v := .values }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "perdure.fullname" $root }}-{{ .component }}
  labels:
    {{- include "perdure.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "perdure.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
  template:
    metadata:
      annotations:
        {{- include "perdure.checksum" $root | nindent 8 }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "perdure.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
    spec:
      serviceAccountName: {{ include "perdure.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      containers:
        - name: perdure
          image: {{ include "perdure.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["serve"]
          env:
            {{- include "perdure.env" $root | nindent 12 }}
            - name: PERDURE_RUN_BACKGROUND_LOOPS
              value: {{ .loops | quote }}
          ports:
            - name: http
              containerPort: {{ $root.Values.config.port }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $root.Values.config.metricsPort }}
              protocol: TCP
          startupProbe:
            {{- toYaml $root.Values.startupProbe | nindent 12 }}
          readinessProbe:
            {{- toYaml $root.Values.readinessProbe | nindent 12 }}
          livenessProbe:
            {{- toYaml $root.Values.livenessProbe | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            # The root filesystem is read-only; Python and uvicorn may still want a /tmp.
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
      {{- with $root.Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        - {{ toYaml . | indent 10 | trim }}
          labelSelector:
            matchLabels:
              {{- include "perdure.selectorLabels" $root | nindent 14 }}
              app.kubernetes.io/component: {{ $.component }}
        {{- end }}
      {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* A PodDisruptionBudget. Arguments: (dict "root" $ "component" name "values" values). */}}
{{- define "perdure.pdb" -}}
{{- if .values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "perdure.fullname" .root }}-{{ .component }}
  labels:
    {{- include "perdure.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  minAvailable: {{ .values.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "perdure.selectorLabels" .root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}
