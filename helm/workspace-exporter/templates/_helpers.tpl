{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "workspace-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated to 63 characters (the DNS label limit).
The release name alone is used when it already contains the chart name.
*/}}
{{- define "workspace-exporter.fullname" -}}
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

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "workspace-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Namespace of every namespaced object (namespaceOverride, else the release namespace).
*/}}
{{- define "workspace-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "workspace-exporter.labels" -}}
helm.sh/chart: {{ include "workspace-exporter.chart" . }}
{{ include "workspace-exporter.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: workspace-exporter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: name and instance only. Never the chart or app version, because a
Deployment's selector is immutable.
*/}}
{{- define "workspace-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "workspace-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount to use.
*/}}
{{- define "workspace-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "workspace-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image reference: registry/repository, then @digest or :tag (tag defaults to appVersion).
*/}}
{{- define "workspace-exporter.image" -}}
{{- $repository := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
True ("true") when the chart renders its own credentials Secret: no existingSecret is
named and at least one credential is given inline.
*/}}
{{- define "workspace-exporter.createSecret" -}}
{{- $c := .Values.credentials }}
{{- if and (not .Values.existingSecret.name) (or $c.accessKey $c.secretKey $c.securityToken $c.iamPassword) -}}
true
{{- end }}
{{- end }}

{{/*
Name of the Secret the credentials come from ("" when neither kind is configured).
*/}}
{{- define "workspace-exporter.secretName" -}}
{{- if .Values.existingSecret.name }}
{{- .Values.existingSecret.name }}
{{- else if include "workspace-exporter.createSecret" . }}
{{- include "workspace-exporter.fullname" . }}
{{- end }}
{{- end }}

{{/*
The exporter's port. Fixed: the image, probes, Service and NetworkPolicy all use it.
*/}}
{{- define "workspace-exporter.port" -}}
10187
{{- end }}

{{/*
Reject contradictory values early, with a message naming the keys.
*/}}
{{- define "workspace-exporter.validate" -}}
{{- $c := .Values.credentials }}
{{- if and .Values.existingSecret.name (or $c.accessKey $c.secretKey $c.securityToken $c.iamPassword) }}
{{- fail "set either existingSecret.name or credentials.* (which renders a Secret), not both" }}
{{- end }}
{{- if and .Values.splitTargets (not (dig "targets" list (.Values.config | default dict))) }}
{{- fail "splitTargets is true: list the projects in config.targets (one Deployment each), or set splitTargets to false" }}
{{- end }}
{{- $method := dig "auth" "method" "chain" (.Values.config | default dict) }}
{{- if and .Values.existingSecret.asFiles (or (not .Values.existingSecret.name) (eq $method "token")) }}
{{- fail "existingSecret.asFiles mounts an AK/SK Secret as files: set existingSecret.name, and not with config.auth.method token" }}
{{- end }}
{{- if and .Values.oidc.enabled (not (and .Values.oidc.providerUrn .Values.oidc.agencyUrn .Values.oidc.audience)) }}
{{- fail "oidc.enabled: set oidc.providerUrn, oidc.agencyUrn and oidc.audience" }}
{{- end }}
{{- if and .Values.idp.enabled (not (and .Values.idp.idpId .Values.idp.audience)) }}
{{- fail "idp.enabled: set idp.idpId and idp.audience" }}
{{- end }}
{{- if and .Values.oidc.enabled .Values.idp.enabled }}
{{- fail "enable one of oidc and idp, not both (the chain would use oidc)" }}
{{- end }}
{{- if include "workspace-exporter.createSecret" . }}
{{- if and (eq $method "token") (not $c.iamPassword) }}
{{- fail "config.auth.method is token: set credentials.iamPassword (or existingSecret.name)" }}
{{- end }}
{{- if and (ne $method "token") (not (and $c.accessKey $c.secretKey)) }}
{{- fail "config.auth.method is chain or aksk: set both credentials.accessKey and credentials.secretKey (or existingSecret.name)" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The exporter configuration as YAML: .Values.config with web.listen_address forced to the
container port, because the Service, probes and NetworkPolicy point at that port.
*/}}
{{- define "workspace-exporter.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $web := get $config "web" | default dict }}
{{- $_ := set $web "listen_address" (printf ":%s" (include "workspace-exporter.port" .)) }}
{{- $_ = set $config "web" $web }}
{{- if .Values.existingSecret.asFiles }}
{{- $auth := get $config "auth" | default dict }}
{{- $keys := .Values.existingSecret.keys }}
{{- $_ = set $auth "ak_file" (printf "%s/%s" (include "workspace-exporter.secretDir" .) $keys.accessKey) }}
{{- $_ = set $auth "sk_file" (printf "%s/%s" (include "workspace-exporter.secretDir" .) $keys.secretKey) }}
{{- $_ = set $config "auth" $auth }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Where the credential files are mounted.
*/}}
{{- define "workspace-exporter.secretDir" -}}
/etc/workspace-exporter/secret
{{- end }}
{{- define "workspace-exporter.tokenDir" -}}
/var/run/secrets/huaweicloud
{{- end }}
{{- define "workspace-exporter.profileDir" -}}
/etc/workspace-exporter/profile
{{- end }}

{{/*
True ("true") when the pod may ask the ECS metadata service for credentials: method metadata,
or the chain with no Secret, profile, OIDC or IdP configured.
*/}}
{{- define "workspace-exporter.usesMetadata" -}}
{{- $method := dig "auth" "method" "chain" (.Values.config | default dict) }}
{{- $other := or (include "workspace-exporter.secretName" .) .Values.profile.secretName .Values.oidc.enabled .Values.idp.enabled }}
{{- if or (eq $method "metadata") (and (eq $method "chain") (not $other)) -}}
true
{{- end }}
{{- end }}

{{/*
Environment variables of the keyless modes (OIDC, IdP, profile file, pod identity).
*/}}
{{- define "workspace-exporter.keylessEnv" -}}
{{- $dir := include "workspace-exporter.tokenDir" . }}
{{- with .Values.oidc }}
{{- if .enabled }}
- name: HUAWEICLOUD_OIDC_PROVIDER_URN
  value: {{ .providerUrn | quote }}
- name: HUAWEICLOUD_OIDC_AGENCY_URN
  value: {{ .agencyUrn | quote }}
- name: HUAWEICLOUD_OIDC_TOKEN_FILE
  value: {{ printf "%s/token" $dir | quote }}
- name: HUAWEICLOUD_OIDC_DURATION_SECONDS
  value: {{ .durationSeconds | quote }}
{{- with .sessionName }}
- name: HUAWEICLOUD_OIDC_SESSION_NAME
  value: {{ . | quote }}
{{- end }}
{{- with .stsEndpoint }}
- name: HUAWEICLOUD_SDK_STS_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.idp.enabled }}
- name: HUAWEICLOUD_SDK_IDP_ID
  value: {{ .Values.idp.idpId | quote }}
- name: HUAWEICLOUD_SDK_ID_TOKEN_FILE
  value: {{ printf "%s/token" $dir | quote }}
{{- end }}
{{- if .Values.profile.secretName }}
- name: HUAWEICLOUD_SDK_CREDENTIALS_FILE
  value: {{ printf "%s/%s" (include "workspace-exporter.profileDir" .) .Values.profile.key | quote }}
{{- end }}
{{- with .Values.podIdentity.uri }}
- name: HC_CONTAINER_CREDENTIALS_FULL_URI
  value: {{ . | quote }}
{{- end }}
{{- with .Values.podIdentity.tokenFile }}
- name: HC_CONTAINER_AUTHORIZATION_TOKEN_FILE
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Volumes (and their mounts) for credential files: the Secret as files, the profile file, the
projected service-account token of OIDC or IdP.
*/}}
{{- define "workspace-exporter.credentialVolumes" -}}
{{- if .Values.existingSecret.asFiles }}
- name: credentials
  secret:
    secretName: {{ .Values.existingSecret.name }}
{{- end }}
{{- if .Values.profile.secretName }}
- name: profile
  secret:
    secretName: {{ .Values.profile.secretName }}
{{- end }}
{{- $token := .Values.oidc.enabled | ternary .Values.oidc .Values.idp }}
{{- if or .Values.oidc.enabled .Values.idp.enabled }}
- name: huaweicloud-token
  projected:
    sources:
      - serviceAccountToken:
          path: token
          audience: {{ $token.audience | quote }}
          expirationSeconds: {{ int $token.expirationSeconds }}
{{- end }}
{{- end }}
{{- define "workspace-exporter.credentialMounts" -}}
{{- if .Values.existingSecret.asFiles }}
- name: credentials
  mountPath: {{ include "workspace-exporter.secretDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.profile.secretName }}
- name: profile
  mountPath: {{ include "workspace-exporter.profileDir" . }}
  readOnly: true
{{- end }}
{{- if or .Values.oidc.enabled .Values.idp.enabled }}
- name: huaweicloud-token
  mountPath: {{ include "workspace-exporter.tokenDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
Credential environment variables from secretKeyRef. AK/SK auth: the access key and secret key
(required keys) and the security token (optional key); token auth: the IAM password. The
variable names follow config.auth.*_env (default HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK,
HUAWEICLOUD_SDK_SECURITY_TOKEN and WORKSPACE_EXPORTER_IAM_PASSWORD).
*/}}
{{- define "workspace-exporter.credentialsEnv" -}}
{{- $secret := include "workspace-exporter.secretName" . }}
{{- if $secret }}
{{- $keys := .Values.existingSecret.keys }}
{{- $config := .Values.config | default dict }}
{{- $method := dig "auth" "method" "chain" $config }}
{{- $chartSecret := not .Values.existingSecret.name }}
{{- if .Values.existingSecret.asFiles }}
{{- else if eq $method "token" }}
- name: {{ dig "auth" "password_env" "WORKSPACE_EXPORTER_IAM_PASSWORD" $config }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.iamPassword }}
{{- else }}
- name: {{ dig "auth" "ak_env" "HUAWEICLOUD_SDK_AK" $config }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.accessKey }}
- name: {{ dig "auth" "sk_env" "HUAWEICLOUD_SDK_SK" $config }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.secretKey }}
{{- if or (not $chartSecret) .Values.credentials.securityToken }}
- name: {{ dig "auth" "security_token_env" "HUAWEICLOUD_SDK_SECURITY_TOKEN" $config }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.securityToken }}
      optional: true
{{- end }}
{{- end }}
{{- end }}
{{- end }}
