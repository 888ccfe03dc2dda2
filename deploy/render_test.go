package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/config"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlays are the Kustomize overlays an operator deploys.
var overlays = []string{"dev", "prod"}

// adminPort is FLUXHOOK_ADMIN_ADDR's port in the ConfigMap: the probes
// and the PodMonitor use it.
const adminPort = 9090

// externalSecret is the Secret an overlay may expect to exist without
// rendering it (prod: created by the operator).
const externalSecret = "fluxhook-secrets"

// object is one rendered object, decoded into its type.
type object struct {
	APIVersion, Kind, Name string
	Raw                    []byte // JSON
	Value                  any
}

// rendered is an overlay's output.
type rendered struct {
	Overlay string
	Objects []object
}

func (r rendered) byKind(kind string) []object {
	var out []object
	for _, o := range r.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// typed maps apiVersion/kind to a new value of its type. CRDs (KEDA,
// Prometheus Operator) get local structs covering the fields we use, so
// that a misspelt or misplaced field is an error there too.
var typed = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"keda.sh/v1alpha1/ScaledObject":           func() any { return &scaledObject{} },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &podMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &prometheusRule{} },
}

// render builds an overlay with the kustomize library (what `kustomize
// build` and `kubectl kustomize` run) and decodes every object strictly.
func render(t testing.TB, overlay string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("k8s", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build overlays/%s: %v", overlay, err)
	}
	out := rendered{Overlay: overlay}
	for _, res := range m.Resources() {
		raw, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("overlays/%s: %s: %v", overlay, res.CurId(), err)
		}
		o := object{APIVersion: res.GetApiVersion(), Kind: res.GetKind(), Name: res.GetName(), Raw: raw}
		v, err := decodeStrict(o.APIVersion, o.Kind, raw)
		if err != nil {
			t.Errorf("overlays/%s: %s %s: %v", overlay, o.Kind, o.Name, err)
			continue
		}
		o.Value = v
		out.Objects = append(out.Objects, o)
	}
	return out
}

// decodeStrict decodes raw into the type of apiVersion/kind; fields the
// type does not have are errors.
func decodeStrict(apiVersion, kind string, raw []byte) (any, error) {
	mk, ok := typed[apiVersion+"/"+kind]
	if !ok {
		return nil, fmt.Errorf("no type known for %s %s: add it to the test's table", apiVersion, kind)
	}
	v := mk()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("strict decode into %T: %w", v, err)
	}
	return v, nil
}

func TestOverlaysRenderAndDecodeStrictly(t *testing.T) {
	for _, ov := range overlays {
		t.Run(ov, func(t *testing.T) {
			r := render(t, ov)
			want := map[string]int{"Deployment": 3, "Service": 1, "Job": 1, "PodDisruptionBudget": 3,
				"HorizontalPodAutoscaler": 1, "ScaledObject": 1, "PodMonitor": 1, "PrometheusRule": 1, "ConfigMap": 2}
			for kind, n := range want {
				if got := len(r.byKind(kind)); got != n {
					t.Errorf("%d %s objects, want %d", got, kind, n)
				}
			}
			if len(r.byKind("NetworkPolicy")) == 0 {
				t.Error("no NetworkPolicy")
			}
			for _, o := range r.Objects {
				if o.Kind == "Namespace" {
					continue
				}
				var meta struct {
					Metadata struct{ Namespace string } `json:"metadata"`
				}
				_ = json.Unmarshal(o.Raw, &meta)
				if meta.Metadata.Namespace == "" {
					t.Errorf("%s %s has no namespace", o.Kind, o.Name)
				}
			}
		})
	}
}

// TestStrictDecodingRejectsUnknownFields: the decoder used above really
// refuses a field its type does not have (a typo in a manifest).
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	r := render(t, "dev")
	dep := r.byKind("Deployment")[0]
	bad := bytes.Replace(dep.Raw, []byte(`"terminationGracePeriodSeconds"`), []byte(`"terminationGracePeriodSecond"`), 1)
	if _, err := decodeStrict(dep.APIVersion, dep.Kind, bad); err == nil {
		t.Error("a misspelt Deployment field was accepted")
	}
	so := r.byKind("ScaledObject")[0]
	bad = bytes.Replace(so.Raw, []byte(`"minReplicaCount"`), []byte(`"minReplicas"`), 1)
	if _, err := decodeStrict(so.APIVersion, so.Kind, bad); err == nil {
		t.Error("a misspelt ScaledObject field was accepted")
	}
}

// configEnv returns the variables the Deployments get from the ConfigMap
// (and the Secret, when the overlay renders it).
func configEnv(t testing.TB, r rendered) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, o := range r.byKind("ConfigMap") {
		cm := o.Value.(*corev1.ConfigMap)
		if strings.HasPrefix(cm.Name, "fluxhook-config") {
			for k, v := range cm.Data {
				env[k] = v
			}
		}
	}
	if len(env) == 0 {
		t.Fatal("no fluxhook-config ConfigMap")
	}
	for _, o := range r.byKind("Secret") {
		s := o.Value.(*corev1.Secret)
		for k, v := range s.StringData {
			env[k] = v
		}
		for k, v := range s.Data {
			env[k] = string(v)
		}
	}
	return env
}

// TestConfigIsValid: the ConfigMap (with the example Secret where one is
// rendered) passes the binaries' own configuration check, so the pods
// would not crash-loop on a typo.
func TestConfigIsValid(t *testing.T) {
	for _, ov := range overlays {
		t.Run(ov, func(t *testing.T) {
			r := render(t, ov)
			env := configEnv(t, r)
			for k := range env {
				if !strings.HasPrefix(k, "FLUXHOOK_") {
					t.Errorf("%s is not a FLUXHOOK_ variable", k)
				}
			}
			secrets := len(r.byKind("Secret")) > 0
			if !secrets {
				// prod: the Secret comes from the operator; stand in for it.
				env["FLUXHOOK_DATABASE_URL"] = "postgres://u:p@db:5432/fluxhook"
				env["FLUXHOOK_JWT_SECRET"] = strings.Repeat("x", 48)
				env["FLUXHOOK_ENCRYPTION_KEY"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
			}
			cfg, err := config.Load(func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("the binaries would refuse this configuration:\n%v", err)
			}
			if err := cfg.RequireProductionSecrets(); err != nil {
				t.Error(err)
			}
			if !cfg.IsPostgres() || cfg.NATSURL == "" || cfg.AllowPrivateTargets {
				t.Errorf("want PostgreSQL, an external NATS and private targets refused; got %+v", cfg)
			}
			if _, port, _ := strings.Cut(cfg.AdminAddr, ":"); port != fmt.Sprint(adminPort) {
				t.Errorf("FLUXHOOK_ADMIN_ADDR %q: the probes and the PodMonitor use port %d", cfg.AdminAddr, adminPort)
			}
		})
	}
}

// ---------------------------------------------------------------------
// The pod policy.

// policyLimits is what the policy needs to know beyond the Deployment.
type policyLimits struct {
	ShutdownTimeout time.Duration // FLUXHOOK_SHUTDOWN_TIMEOUT
	// DrainMargin is the time after the HTTP shutdown that a process
	// still needs: closing NATS (up to 10 s) and the rest.
	DrainMargin time.Duration
}

// checkDeployment returns every way d breaks the pod policy: probes on
// the admin port, requests and limits, non-root, read-only root file
// system, no privilege escalation, all capabilities dropped, the
// RuntimeDefault seccomp profile, and a grace period longer than the
// preStop sleep plus the drain.
func checkDeployment(d *appsv1.Deployment, lim policyLimits) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, d.Name+": "+fmt.Sprintf(format, args...))
	}
	spec := d.Spec.Template.Spec
	psc := spec.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		bad("pod runs as uid 0")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		bad("uses the host's namespaces")
	}
	if len(spec.Containers) == 0 {
		bad("no containers")
	}
	for _, c := range spec.Containers {
		cname := "container " + c.Name
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
		}{{"liveness", c.LivenessProbe}, {"readiness", c.ReadinessProbe}} {
			switch {
			case p.probe == nil:
				bad("%s: no %s probe", cname, p.name)
			case p.probe.HTTPGet == nil:
				bad("%s: the %s probe is not an HTTP GET", cname, p.name)
			case !onAdminPort(c, p.probe.HTTPGet.Port.String()):
				bad("%s: the %s probe is on port %s, not the admin port %d", cname, p.name, p.probe.HTTPGet.Port.String(), adminPort)
			}
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			bad("%s: the readiness probe asks %s, not /readyz", cname, c.ReadinessProbe.HTTPGet.Path)
		}
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
			bad("%s: the liveness probe asks %s, not /healthz (it must not depend on the database)", cname, c.LivenessProbe.HTTPGet.Path)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				bad("%s: no %s request", cname, r)
			}
			if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
				bad("%s: no %s limit", cname, r)
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			bad("%s: no securityContext", cname)
			continue
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			bad("%s: runAsNonRoot is not true", cname)
		}
		if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			bad("%s: runAsNonRoot is false", cname)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			bad("%s: runs as uid 0", cname)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			bad("%s: readOnlyRootFilesystem is not true", cname)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("%s: allowPrivilegeEscalation is not false", cname)
		}
		if sc.Privileged != nil && *sc.Privileged {
			bad("%s: privileged", cname)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			bad("%s: does not drop ALL capabilities", cname)
		} else if len(sc.Capabilities.Add) > 0 {
			bad("%s: adds capabilities %v", cname, sc.Capabilities.Add)
		}
		if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			bad("%s: seccomp profile is not RuntimeDefault", cname)
		}
	}
	var preStop time.Duration
	for _, c := range spec.Containers {
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			preStop = max(preStop, time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second)
		}
	}
	need := preStop + lim.ShutdownTimeout + lim.DrainMargin
	switch {
	case spec.TerminationGracePeriodSeconds == nil:
		bad("no terminationGracePeriodSeconds (the default 30 s is not longer than the drain, %v)", need)
	case time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= need:
		bad("terminationGracePeriodSeconds %d is not longer than preStop %v + FLUXHOOK_SHUTDOWN_TIMEOUT %v + drain %v",
			*spec.TerminationGracePeriodSeconds, preStop, lim.ShutdownTimeout, lim.DrainMargin)
	}
	return problems
}

// onAdminPort reports whether port (a number or a port name of c) is the
// admin port.
func onAdminPort(c corev1.Container, port string) bool {
	if port == fmt.Sprint(adminPort) {
		return true
	}
	for _, p := range c.Ports {
		if p.Name == port {
			return p.ContainerPort == adminPort
		}
	}
	return false
}

func limitsOf(t testing.TB, r rendered) policyLimits {
	t.Helper()
	env := configEnv(t, r)
	d, err := time.ParseDuration(env["FLUXHOOK_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("FLUXHOOK_SHUTDOWN_TIMEOUT in the ConfigMap: %v", err)
	}
	return policyLimits{ShutdownTimeout: d, DrainMargin: 10 * time.Second}
}

func TestDeploymentPolicy(t *testing.T) {
	for _, ov := range overlays {
		t.Run(ov, func(t *testing.T) {
			r := render(t, ov)
			lim := limitsOf(t, r)
			names := map[string]bool{}
			for _, o := range r.byKind("Deployment") {
				d := o.Value.(*appsv1.Deployment)
				names[d.Name] = true
				for _, p := range checkDeployment(d, lim) {
					t.Error(p)
				}
				c := d.Spec.Template.Spec.Containers[0]
				bin := strings.TrimPrefix(d.Name, "fluxhook-")
				if !slices.Equal(c.Command, []string{"/usr/local/bin/" + bin}) {
					t.Errorf("%s runs %v, want /usr/local/bin/%s", d.Name, c.Command, bin)
				}
				if !strings.Contains(c.Image, "fluxhook") || strings.HasSuffix(c.Image, ":latest") && ov == "prod" {
					t.Errorf("%s: image %q", d.Name, c.Image)
				}
			}
			for _, want := range []string{"fluxhook-api", "fluxhook-dispatcher", "fluxhook-worker"} {
				if !names[want] {
					t.Errorf("no Deployment %s", want)
				}
			}
			// The api's Service and the PDBs select the pods.
			for _, o := range r.byKind("PodDisruptionBudget") {
				p := o.Value.(*policyv1.PodDisruptionBudget)
				if !selectsDeployment(r, p.Spec.Selector.MatchLabels) {
					t.Errorf("PodDisruptionBudget %s selects no Deployment's pods", p.Name)
				}
			}
			for _, o := range r.byKind("Service") {
				s := o.Value.(*corev1.Service)
				if !selectsDeployment(r, s.Spec.Selector) {
					t.Errorf("Service %s selects no Deployment's pods", s.Name)
				}
			}
			// The migration Job runs `api migrate` under the same rules.
			for _, o := range r.byKind("Job") {
				j := o.Value.(*batchv1.Job)
				c := j.Spec.Template.Spec.Containers[0]
				if !slices.Equal(c.Command, []string{"/usr/local/bin/api"}) || !slices.Equal(c.Args, []string{"migrate"}) {
					t.Errorf("Job %s runs %v %v, want /usr/local/bin/api migrate", j.Name, c.Command, c.Args)
				}
				if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
					t.Errorf("Job %s: root file system not read-only", j.Name)
				}
			}
			// Every envFrom reference resolves (or is the documented
			// external Secret).
			for _, o := range r.byKind("Deployment") {
				d := o.Value.(*appsv1.Deployment)
				for _, ef := range d.Spec.Template.Spec.Containers[0].EnvFrom {
					switch {
					case ef.ConfigMapRef != nil && !has(r, "ConfigMap", ef.ConfigMapRef.Name):
						t.Errorf("%s: ConfigMap %s is not rendered", d.Name, ef.ConfigMapRef.Name)
					case ef.SecretRef != nil && !has(r, "Secret", ef.SecretRef.Name) && ef.SecretRef.Name != externalSecret:
						t.Errorf("%s: Secret %s is not rendered", d.Name, ef.SecretRef.Name)
					}
				}
			}
		})
	}
}

func has(r rendered, kind, name string) bool {
	for _, o := range r.byKind(kind) {
		if o.Name == name {
			return true
		}
	}
	return false
}

func selectsDeployment(r rendered, sel map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for _, o := range r.byKind("Deployment") {
		labels := o.Value.(*appsv1.Deployment).Spec.Template.Labels
		ok := true
		for k, v := range sel {
			if labels[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestPolicyCheckCatchesViolations: the checker is not vacuous. Each
// mutation of a rendered Deployment must be reported.
func TestPolicyCheckCatchesViolations(t *testing.T) {
	r := render(t, "prod")
	lim := limitsOf(t, r)
	var base *appsv1.Deployment
	for _, o := range r.byKind("Deployment") {
		if o.Name == "fluxhook-api" {
			base = o.Value.(*appsv1.Deployment)
		}
	}
	if base == nil {
		t.Fatal("no fluxhook-api Deployment")
	}
	if p := checkDeployment(base, lim); len(p) > 0 {
		t.Fatalf("the unmodified Deployment already fails: %v", p)
	}
	mutations := map[string]func(d *appsv1.Deployment){
		"no liveness probe":  func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].LivenessProbe = nil },
		"no readiness probe": func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].ReadinessProbe = nil },
		"probe on the api port": func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.StrVal = "http"
		},
		"no memory limit": func(d *appsv1.Deployment) {
			delete(d.Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
		},
		"no cpu limit": func(d *appsv1.Deployment) {
			delete(d.Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceCPU)
		},
		"no requests": func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Resources.Requests = nil },
		"may run as root": func(d *appsv1.Deployment) {
			f := false
			d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = &f
			d.Spec.Template.Spec.Containers[0].SecurityContext.RunAsNonRoot = nil
		},
		"writable root": func(d *appsv1.Deployment) {
			f := false
			d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
		},
		"privilege escalation": func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		},
		"capabilities kept": func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities = nil
		},
		"short grace period": func(d *appsv1.Deployment) {
			s := int64(lim.ShutdownTimeout / time.Second)
			d.Spec.Template.Spec.TerminationGracePeriodSeconds = &s
		},
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			d := base.DeepCopy()
			mutate(d)
			if p := checkDeployment(d, lim); len(p) == 0 {
				t.Errorf("the policy check did not notice: %s", name)
			} else {
				t.Logf("reported: %v", p)
			}
		})
	}
}

// TestNetworkPolicyKeepsWorkersOutOfPrivateRanges: the worker's internet
// egress excludes every private range.
func TestNetworkPolicyKeepsWorkersOutOfPrivateRanges(t *testing.T) {
	r := render(t, "prod")
	private := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"}
	found := false
	for _, o := range r.byKind("NetworkPolicy") {
		np := o.Value.(*networkingv1.NetworkPolicy)
		for _, rule := range np.Spec.Egress {
			for _, peer := range rule.To {
				if peer.IPBlock == nil {
					continue
				}
				if peer.IPBlock.CIDR == "0.0.0.0/0" {
					found = true
					for _, p := range private {
						if !slices.Contains(peer.IPBlock.Except, p) {
							t.Errorf("NetworkPolicy %s: egress to 0.0.0.0/0 does not except %s", np.Name, p)
						}
					}
				}
			}
		}
	}
	if !found {
		t.Error("no egress to the internet (0.0.0.0/0) for the workers")
	}
}
