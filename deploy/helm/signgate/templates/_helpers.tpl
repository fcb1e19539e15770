{{/* The release's full name, at most 63 characters. */}}
{{- define "signgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "signgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "signgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "signgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "signgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "signgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "signgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "signgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "signgate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The bundle source the values enable: service, oci, or empty for the embedded policy. */}}
{{- define "signgate.bundleSource" -}}
{{- $p := .Values.policy -}}
{{- if and $p.bundleService.enabled $p.oci.enabled -}}
{{- fail "enable one of policy.bundleService and policy.oci, not both" -}}
{{- else if $p.bundleService.enabled -}}service
{{- else if $p.oci.enabled -}}oci
{{- end -}}
{{- end -}}

{{/* The bearer token Secret of the bundle source, if any. */}}
{{- define "signgate.bundleTokenSecret" -}}
{{- $src := include "signgate.bundleSource" . -}}
{{- if eq $src "service" -}}{{ toJson .Values.policy.bundleService.tokenSecret }}
{{- else if eq $src "oci" -}}{{ toJson .Values.policy.oci.tokenSecret }}
{{- else -}}{}
{{- end -}}
{{- end -}}

{{/* Where the policy verification key is mounted. */}}
{{- define "signgate.policyKeyDir" -}}/var/run/secrets/signgate/policy-key{{- end -}}

{{/*
signgate's configuration file: .Values.config, with the listeners, the
shutdown budget, and the policy and audit sections the values enable.
*/}}
{{- define "signgate.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $_ := set $cfg "listen" "0.0.0.0:8080" -}}
{{- $server := deepCopy (get $cfg "server" | default dict) -}}
{{- $_ := set $server "shutdown_timeout" (printf "%ds" (int .Values.shutdownTimeoutSeconds)) -}}
{{- $_ := set $cfg "server" $server -}}
{{- $_ := set $cfg "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.metrics.port))) -}}
{{- $p := .Values.policy -}}
{{- $src := include "signgate.bundleSource" . -}}
{{- if $src -}}
{{- $svc := dict -}}
{{- $resource := "" -}}
{{- $polling := dict -}}
{{- $token := dict -}}
{{- if eq $src "service" -}}
{{- $svc = dict "url" (required "policy.bundleService.url is required" $p.bundleService.url) -}}
{{- $resource = required "policy.bundleService.resource is required" $p.bundleService.resource -}}
{{- $polling = dict "min_delay_seconds" (int $p.bundleService.minDelaySeconds) "max_delay_seconds" (int $p.bundleService.maxDelaySeconds) -}}
{{- $token = $p.bundleService.tokenSecret -}}
{{- else -}}
{{- $svc = dict "url" (required "policy.oci.registry is required" $p.oci.registry) "type" "oci" -}}
{{- $resource = required "policy.oci.reference is required" $p.oci.reference -}}
{{- $polling = dict "min_delay_seconds" (int $p.oci.minDelaySeconds) "max_delay_seconds" (int $p.oci.maxDelaySeconds) -}}
{{- $token = $p.oci.tokenSecret -}}
{{- end -}}
{{- if $token.name -}}
{{- $_ := set $svc "credentials" (dict "bearer" (dict "token" "${SIGNGATE_BUNDLE_TOKEN}")) -}}
{{- end -}}
{{- $bundle := dict "service" "bundles" "resource" $resource "polling" $polling -}}
{{- $policy := deepCopy (get $cfg "policy" | default dict) -}}
{{- $_ := set $policy "source" "service" -}}
{{- $_ := set $policy "require_bundle" $p.requireBundle -}}
{{- $_ := set $policy "opa_config" (dict "services" (dict "bundles" $svc) "bundles" (dict "signgate" $bundle)) -}}
{{- if $p.verification.enabled -}}
{{- $keyName := required "policy.verification.publicKeySecret.key is required" $p.verification.publicKeySecret.key -}}
{{- $key := dict "algorithm" $p.verification.algorithm "key_file" (printf "%s/%s" (include "signgate.policyKeyDir" .) $keyName) -}}
{{- $_ := set $policy "verification" (dict "key_id" $p.verification.keyId "keys" (dict $p.verification.keyId $key)) -}}
{{- end -}}
{{- $_ := set $cfg "policy" $policy -}}
{{- end -}}
{{- $a := .Values.auditService -}}
{{- if $a.enabled -}}
{{- $audit := deepCopy (get $cfg "audit" | default dict) -}}
{{- $svc := dict "url" (required "auditService.url is required" $a.url) "resource" $a.resource -}}
{{- if $a.tokenSecret.name -}}
{{- $_ := set $svc "token_env" "SIGNGATE_LOGS_TOKEN" -}}
{{- end -}}
{{- $_ := set $audit "sink" "service" -}}
{{- $_ := set $audit "mode" $a.mode -}}
{{- $_ := set $audit "service" $svc -}}
{{- $_ := unset $audit "path" -}}
{{- $_ := set $cfg "audit" $audit -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
