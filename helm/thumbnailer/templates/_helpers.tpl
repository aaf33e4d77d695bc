{{- define "thumbnailer.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "thumbnailer.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "thumbnailer.s3Secret" -}}
{{- .Values.s3.existingSecret | default (printf "%s-s3" (include "thumbnailer.fullname" .)) -}}
{{- end -}}

{{/* The bundled MinIO runs when minio.enabled and no external s3.endpoint is given. */}}
{{- define "thumbnailer.bundledMinio" -}}
{{- if and .Values.minio.enabled (not .Values.s3.endpoint) -}}true{{- end -}}
{{- end -}}

{{- define "thumbnailer.s3Endpoint" -}}
{{- if include "thumbnailer.bundledMinio" . -}}
{{- printf "%s-minio.%s.svc:9000" (include "thumbnailer.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "minio.enabled=false needs s3.endpoint, the host:port of your S3 store (e.g. --set s3.endpoint=s3.example.com:443)" .Values.s3.endpoint -}}
{{- end -}}
{{- end -}}

{{- define "thumbnailer.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "thumbnailer.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{- define "thumbnailer.s3Env" -}}
- {name: S3_ENDPOINT, value: {{ include "thumbnailer.s3Endpoint" . | quote }}}
- {name: S3_SECURE, value: {{ .Values.s3.secure | quote }}}
- {name: S3_REGION, value: {{ .Values.s3.region | quote }}}
- {name: S3_BUCKET, value: {{ .Values.s3.bucket | quote }}}
{{- end -}}
