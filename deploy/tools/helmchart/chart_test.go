// Package helmchart_test renders deploy/helm/signgate with Helm's own
// engine and decodes every manifest strictly into the Kubernetes API types,
// then checks what an operator relies on: probes, the hardened security
// context, the grace period, Secret references and the configuration that
// signgate itself accepts.
package helmchart_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/signgate/signgate/server/config"
)

const chartDir = "../../helm/signgate"

// rendered holds one release's objects, each decoded into its API type.
type rendered struct {
	serviceAccount *corev1.ServiceAccount
	configMap      *corev1.ConfigMap
	service        *corev1.Service
	deployment     *appsv1.Deployment
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	netpol         *networkingv1.NetworkPolicy
	serviceMonitor *serviceMonitor
	kinds          []string
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// that the chart writes; decoding is strict, so any other field fails.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func render(t *testing.T, valuesFile string, set map[string]any) (string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if valuesFile != "" {
		if vals, err = chartutil.ReadValuesFile(valuesFile); err != nil {
			t.Fatal(err)
		}
	}
	vals = chartutil.CoalesceTables(set, vals)
	kv, err := chartutil.ParseKubeVersion("v1.31.0")
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace, install.KubeVersion = "sg", "signgate", kv
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

func decode(t *testing.T, manifest string) rendered {
	t.Helper()
	var r rendered
	for name, doc := range releaseutil.SplitManifests(manifest) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ServiceAccount":
			r.serviceAccount = &corev1.ServiceAccount{}
			obj = r.serviceAccount
		case "v1 ConfigMap":
			r.configMap = &corev1.ConfigMap{}
			obj = r.configMap
		case "v1 Service":
			r.service = &corev1.Service{}
			obj = r.service
		case "apps/v1 Deployment":
			r.deployment = &appsv1.Deployment{}
			obj = r.deployment
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			obj = r.pdb
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			obj = r.hpa
		case "networking.k8s.io/v1 NetworkPolicy":
			r.netpol = &networkingv1.NetworkPolicy{}
			obj = r.netpol
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.serviceMonitor = &serviceMonitor{}
			obj = r.serviceMonitor
		default:
			t.Fatalf("%s: unexpected object %s %s", name, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %s does not decode strictly: %v", name, tm.Kind, err)
		}
		r.kinds = append(r.kinds, tm.Kind)
	}
	slices.Sort(r.kinds)
	return r
}

// renderCase is one set of values and what the rendered release must hold.
type renderCase struct {
	name          string
	givenValues   string         // a values file
	givenSet      map[string]any // values over it, as --set
	wantKinds     []string
	wantSource    string // policy.source
	wantAuditSink string
	wantAnnots    []string // service-account annotations
}

func TestChartRenders(t *testing.T) {
	tests := []renderCase{
		{
			name:          "default values: embedded policy, records on stdout",
			wantKinds:     []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"},
			wantSource:    "embedded",
			wantAuditSink: "console",
		},
		{
			name:        "production values: bundle service, decision-log service, workload identity",
			givenValues: "../../helm/examples/production.yaml",
			wantKinds: []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy",
				"PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"},
			wantSource:    "service",
			wantAuditSink: "service",
			wantAnnots: []string{"azure.workload.identity/client-id", "eks.amazonaws.com/role-arn",
				"iam.gke.io/gcp-service-account"},
		},
		{
			name: "OCI registry values: signed bundles pulled by OPA's OCI downloader",
			givenSet: map[string]any{"policy": map[string]any{
				"oci": map[string]any{"enabled": true, "registry": "https://ghcr.io", "reference": "ghcr.io/acme/policy:prod",
					"tokenSecret": map[string]any{"name": "signgate-registry", "key": "token"}},
				"verification": map[string]any{"enabled": true, "publicKeySecret": map[string]any{"name": "signgate-policy-key", "key": "public.pem"}},
			}},
			wantKinds:     []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"},
			wantSource:    "service",
			wantAuditSink: "console",
		},
	}
	// TLS: the certificate files exist (signgate's loader checks that), in
	// the directory the chart mounts the TLS Secret on.
	tlsDir := t.TempDir()
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(tlsDir, f), []byte("PEM"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests = append(tests, renderCase{
		name: "TLS on the API port: probes over HTTPS",
		givenSet: map[string]any{
			"config": map[string]any{"server": map[string]any{"tls": map[string]any{
				"cert_file": filepath.Join(tlsDir, "tls.crt"), "key_file": filepath.Join(tlsDir, "tls.key")}}},
			"secretFiles": []any{
				map[string]any{"secretName": "signgate-gcs", "mountPath": "/var/run/secrets/signgate/gcs"},
				map[string]any{"secretName": "signgate-tls", "mountPath": tlsDir},
			},
		},
		wantKinds:     []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"},
		wantSource:    "embedded",
		wantAuditSink: "console",
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			manifest, err := render(t, tc.givenValues, tc.givenSet)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(manifest, "kind: Secret\n") {
				t.Error("the chart renders a Secret; it must only refer to Secrets")
			}
			r := decode(t, manifest)
			if !slices.Equal(r.kinds, tc.wantKinds) {
				t.Fatalf("kinds %v, want %v", r.kinds, tc.wantKinds)
			}
			cfg := checkConfig(t, r)
			if _, oci := tc.givenSet["policy"]; oci && !strings.Contains(string(cfg.Policy.OPAConfig), `"type":"oci"`) {
				t.Errorf("opa_config %s, want a service of type oci", cfg.Policy.OPAConfig)
			}
			if cfg.Policy.Source != tc.wantSource || cfg.Audit.Sink != tc.wantAuditSink {
				t.Errorf("policy.source %q, audit.sink %q; want %q, %q", cfg.Policy.Source, cfg.Audit.Sink, tc.wantSource, tc.wantAuditSink)
			}
			pod := checkDeployment(t, r, cfg)
			checkSecretsAreReferences(t, pod, cfg)
			checkService(t, r, pod)
			checkServiceAccount(t, r, pod, tc.wantAnnots)
			if r.pdb == nil || !selects(t, r.pdb.Spec.Selector, pod) || r.pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Error("the PodDisruptionBudget does not keep all but one of the pods")
			}
			if r.hpa != nil {
				if ref := r.hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != r.deployment.Name {
					t.Errorf("the autoscaler scales %s %s", ref.Kind, ref.Name)
				}
				if r.deployment.Spec.Replicas != nil {
					t.Error("with an autoscaler the Deployment must not set replicas, or every upgrade resets them")
				}
			}
			if r.netpol != nil && !selects(t, &r.netpol.Spec.PodSelector, pod) {
				t.Error("the NetworkPolicy does not select the pods")
			}
			if sm := r.serviceMonitor; sm != nil {
				if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
					t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
				}
				if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(r.service.Labels)) {
					t.Error("the ServiceMonitor does not select the Service")
				}
			}
		})
	}
}

// checkConfig parses the ConfigMap's config.yaml with signgate's own
// configuration loader: what the chart renders, signgate starts with.
func checkConfig(t *testing.T, r rendered) *config.Config {
	t.Helper()
	if r.configMap == nil {
		t.Fatal("no ConfigMap")
	}
	raw, ok := r.configMap.Data["config.yaml"]
	if !ok {
		t.Fatalf("ConfigMap keys %v, want config.yaml", r.configMap.Data)
	}
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("signgate refuses the rendered configuration: %v\n%s", err, raw)
	}
	if cfg.Listen != "0.0.0.0:8080" || cfg.Metrics.Listen != "0.0.0.0:9090" {
		t.Errorf("listen %s, metrics.listen %s", cfg.Listen, cfg.Metrics.Listen)
	}
	return cfg
}

func checkDeployment(t *testing.T, r rendered, cfg *config.Config) *corev1.PodTemplateSpec {
	t.Helper()
	d := r.deployment
	if d == nil {
		t.Fatal("no Deployment")
	}
	pod := &d.Spec.Template
	if !selects(t, d.Spec.Selector, pod) {
		t.Fatal("the Deployment's selector does not match its pods")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"serve", "--config", "/etc/signgate/config.yaml"}) {
		t.Errorf("args %v", c.Args)
	}

	// Probes: liveness on /healthz, readiness on /readyz, on the API port.
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v, want GET %s on port http", p.name, p.probe, p.path)
		} else if want := probeScheme(cfg); p.probe.HTTPGet.Scheme != want {
			t.Errorf("%s probe scheme %s, want %s", p.name, p.probe.HTTPGet.Scheme, want)
		}
	}
	if port := containerPort(c, "http"); port != 8080 {
		t.Errorf("port http is %d, want 8080 (listen)", port)
	}
	if port := containerPort(c, "metrics"); fmt.Sprintf("0.0.0.0:%d", port) != cfg.Metrics.Listen {
		t.Errorf("port metrics is %d, metrics.listen %s", port, cfg.Metrics.Listen)
	}

	// The hardened security context.
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Privileged == nil || *sc.Privileged ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container security context %+v", sc)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the pod mounts a Kubernetes API token it never uses")
	}

	// The grace period covers the preStop pause, the drain and the flush.
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + cfg.Server.ShutdownTimeout.Duration; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %s, want more than preStop %s + shutdown_timeout %s", grace, preStop, cfg.Server.ShutdownTimeout.Duration)
	}

	// Writable paths are volumes; the configuration comes from the ConfigMap.
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
		if v.HostPath != nil {
			t.Errorf("volume %s is a host path", v.Name)
		}
	}
	if m, v := mounts["config"], vols["config"]; m.MountPath != "/etc/signgate" || !m.ReadOnly || v.ConfigMap == nil || v.ConfigMap.Name != r.configMap.Name {
		t.Errorf("config volume %+v mounted %+v, want the ConfigMap %s read-only at /etc/signgate", v, m, r.configMap.Name)
	}
	if m, v := mounts["data"], vols["data"]; m.MountPath != "/var/lib/signgate" || v.EmptyDir == nil {
		t.Errorf("data volume %+v mounted %+v, want an emptyDir at /var/lib/signgate", v, m)
	}
	if m, v := mounts["tmp"], vols["tmp"]; m.MountPath != "/tmp" || v.EmptyDir == nil {
		t.Errorf("tmp volume %+v mounted %+v, want an emptyDir at /tmp (the OCI downloader's store)", v, m)
	}
	if want := sha256Hex.FindString(pod.Annotations["checksum/config"]); want == "" {
		t.Error("no checksum/config annotation: a configuration change would not roll the pods")
	}
	return pod
}

func probeScheme(cfg *config.Config) corev1.URIScheme {
	if cfg.Server.TLS.Enabled() {
		return corev1.URISchemeHTTPS
	}
	return corev1.URISchemeHTTP
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkSecretsAreReferences: every variable the configuration names comes
// from a Secret, every secret file from a Secret volume, and no variable
// that looks like a secret carries a value.
func checkSecretsAreReferences(t *testing.T, pod *corev1.PodTemplateSpec, cfg *config.Config) {
	t.Helper()
	c := pod.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
		if e.Value != "" && regexp.MustCompile(`(?i)token|password|secret|key`).MatchString(e.Name) {
			t.Errorf("variable %s has an inline value", e.Name)
		}
	}
	var wantEnv, wantFiles []string
	for _, name := range cfg.ConnectorNames() {
		cr := cfg.Connectors[name].Credentials
		wantEnv = append(wantEnv, cr.AccessKeyIDEnv, cr.SecretAccessKeyEnv, cr.AccountKeyEnv)
		wantFiles = append(wantFiles, cr.AccessKeyIDFile, cr.SecretAccessKeyFile, cr.AccountKeyFile, cr.ServiceAccountFile)
	}
	wantEnv = append(wantEnv, cfg.Audit.Service.TokenEnv)
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(string(cfg.Policy.OPAConfig), -1) {
		wantEnv = append(wantEnv, m[1])
	}
	if v := cfg.Policy.Verification; v != nil {
		for _, k := range v.Keys {
			wantEnv, wantFiles = append(wantEnv, k.KeyEnv), append(wantFiles, k.KeyFile)
		}
	}
	for _, name := range wantEnv {
		if name == "" {
			continue
		}
		if e, ok := env[name]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" {
			t.Errorf("the configuration reads %s, which is not set from a Secret", name)
		}
	}
	for _, file := range wantFiles {
		if file == "" {
			continue
		}
		if !mountedFromSecret(pod, file) {
			t.Errorf("the configuration reads %s, which is not in a Secret volume", file)
		}
	}
}

func mountedFromSecret(pod *corev1.PodTemplateSpec, file string) bool {
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName != "" && m.ReadOnly {
				return true
			}
		}
	}
	return false
}

func checkService(t *testing.T, r rendered, pod *corev1.PodTemplateSpec) {
	t.Helper()
	s := r.service
	if s == nil || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Fatal("the Service does not select the pods")
	}
	for _, p := range s.Spec.Ports {
		if containerPort(pod.Spec.Containers[0], p.TargetPort.String()) == 0 {
			t.Errorf("Service port %s targets %s, which the container does not have", p.Name, p.TargetPort.String())
		}
	}
}

func checkServiceAccount(t *testing.T, r rendered, pod *corev1.PodTemplateSpec, wantAnnots []string) {
	t.Helper()
	sa := r.serviceAccount
	if sa == nil || pod.Spec.ServiceAccountName != sa.Name {
		t.Fatalf("the pods run as %q, not the chart's ServiceAccount", pod.Spec.ServiceAccountName)
	}
	var got []string
	for k := range sa.Annotations {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantAnnots) && !(len(got) == 0 && len(wantAnnots) == 0) {
		t.Errorf("ServiceAccount annotations %v, want %v", got, wantAnnots)
	}
	_, azure := sa.Annotations["azure.workload.identity/client-id"]
	if use := pod.Labels["azure.workload.identity/use"] == "true"; use != azure {
		t.Errorf("pod label azure.workload.identity/use %v, Azure client id set %v", use, azure)
	}
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func selects(t *testing.T, sel *metav1.LabelSelector, pod *corev1.PodTemplateSpec) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(pod.Labels))
}

func TestChartRefuses(t *testing.T) {
	tests := []struct {
		name      string
		givenSet  map[string]any
		wantError string
	}{
		{
			name:      "a grace period shorter than the preStop pause plus the shutdown budget",
			givenSet:  map[string]any{"terminationGracePeriodSeconds": 20, "preStopSleepSeconds": 5, "shutdownTimeoutSeconds": 15},
			wantError: "terminationGracePeriodSeconds (20) must be longer than preStopSleepSeconds + shutdownTimeoutSeconds (20)",
		},
		{
			name:      "a secret value written in the values",
			givenSet:  map[string]any{"secretEnv": []any{map[string]any{"name": "SIGNGATE_AZURE_KEY", "value": "c2VjcmV0"}}},
			wantError: "secretEnv SIGNGATE_AZURE_KEY: name a secretName and key",
		},
		{
			name:      "mutual TLS, which the kubelet's probes cannot pass",
			givenSet:  map[string]any{"config": map[string]any{"server": map[string]any{"tls": map[string]any{"cert_file": "/t/c", "key_file": "/t/k", "client_ca_file": "/t/ca"}}}},
			wantError: "config.server.tls.client_ca_file: with mutual TLS",
		},
		{
			name:      "two bundle sources at once",
			givenSet:  map[string]any{"policy": map[string]any{"bundleService": map[string]any{"enabled": true}, "oci": map[string]any{"enabled": true}}},
			wantError: "enable one of policy.bundleService and policy.oci, not both",
		},
		{
			name:      "a bundle service without its URL",
			givenSet:  map[string]any{"policy": map[string]any{"bundleService": map[string]any{"enabled": true, "resource": "b.tar.gz"}}},
			wantError: "policy.bundleService.url is required",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, "", tc.givenSet)
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("error %v, want %q", err, tc.wantError)
			}
		})
	}
}
