package deployments

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestKubeManifests: the manifests decode strictly into the Kubernetes API types and keep every
// invariant of checkManifests.
func TestKubeManifests(t *testing.T) {
	m := loadManifests(t)
	for _, p := range checkManifests(m, documentedEnv(t)) {
		t.Error(p)
	}
}

// TestKubeChecksCatch breaks one invariant of the real manifests at a time and expects
// checkManifests to name it: a check that cannot fail proves nothing.
func TestKubeChecksCatch(t *testing.T) {
	worker := func(m *manifests) *corev1.Container { return &m.deployments[0].Spec.Template.Spec.Containers[0] }
	setEnv := func(m *manifests, name, value string) {
		c := worker(m)
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i] = corev1.EnvVar{Name: name, Value: value}
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
	dropEnv := func(m *manifests, name string) {
		c := worker(m)
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env = append(c.Env[:i], c.Env[i+1:]...)
				return
			}
		}
		t.Fatalf("the Deployment sets no %s", name)
	}
	tests := []struct {
		name   string
		mutate func(m *manifests)
		want   string
	}{
		{"grace period not longer than the shutdown timeout", func(m *manifests) {
			m.deployments[0].Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](40)
		}, "terminationGracePeriodSeconds"},
		{"shutdown timeout left to its default", func(m *manifests) { dropEnv(m, "SHUTDOWN_TIMEOUT") }, "set SHUTDOWN_TIMEOUT explicitly"},
		{"shutdown timeout shorter than a purchase call", func(m *manifests) { setEnv(m, "SHUTDOWN_TIMEOUT", "20s") }, "not longer than CPH_TIMEOUT"},
		{"no readiness probe", func(m *manifests) { worker(m).ReadinessProbe = nil }, "readinessProbe"},
		{"liveness on the wrong path", func(m *manifests) { worker(m).LivenessProbe.HTTPGet.Path = "/metrics" }, "livenessProbe path"},
		{"probe on another port", func(m *manifests) { worker(m).ReadinessProbe.HTTPGet.Port = intstr.FromInt32(8080) }, "readinessProbe port"},
		{"health endpoints on loopback", func(m *manifests) { setEnv(m, "HTTP_ADDR", "127.0.0.1:9464") }, "listens on 127.0.0.1 only"},
		{"runs as root", func(m *manifests) {
			m.deployments[0].Spec.Template.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		}, "runAsUser"},
		{"writable root filesystem", func(m *manifests) { worker(m).SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem"},
		{"capabilities kept", func(m *manifests) { worker(m).SecurityContext.Capabilities.Drop = nil }, "drop ALL"},
		{"no memory limit", func(m *manifests) { delete(worker(m).Resources.Limits, corev1.ResourceMemory) }, "resources"},
		{"undocumented variable", func(m *manifests) { setEnv(m, "CPH_TOKENFILE", "/x") }, "neither reads nor documents"},
		{"token in the ConfigMap", func(m *manifests) { m.configMaps[0].Data["CPH_TOKEN"] = "t" }, "sets CPH_TOKEN literally"},
		{"two credential sources", func(m *manifests) { m.configMaps[0].Data["IAM_ENDPOINT"] = "https://iam" }, "2 credential sources"},
		{"REDIS_URL as a literal", func(m *manifests) { setEnv(m, "REDIS_URL", "redis://:pw@redis:6379/0") }, "sets REDIS_URL literally"},
		{"Secret key missing", func(m *manifests) { delete(m.secrets[0].StringData, "redis-url") }, `has no key "redis-url"`},
		{"ConfigMap missing", func(m *manifests) { m.configMaps = nil }, "names ConfigMap"},
		{"token file outside the Secret's mount", func(m *manifests) { setEnv(m, "CPH_TOKEN_FILE", "/etc/cph-token") }, "under no volume mount"},
		{"token file item missing", func(m *manifests) { setEnv(m, "CPH_TOKEN_FILE", "/var/run/secrets/cph-purchase/token") }, "no item"},
		{"no CPH_ENDPOINT", func(m *manifests) { delete(m.configMaps[0].Data, "CPH_ENDPOINT") }, "CPH_ENDPOINT is not set"},
		{"PDB selects other pods", func(m *manifests) {
			m.pdbs[0].Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "console"
		}, "PodDisruptionBudget cph-purchase-worker does not select"},
		{"Deployment selects other pods", func(m *manifests) {
			m.deployments[0].Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "console"
		}, "does not select its own pod template"},
		{"PDB blocks every drain", func(m *manifests) { m.deployments[0].Spec.Replicas = ptr.To[int32](1) }, "drains would hang"},
		{"Service selects other pods", func(m *manifests) { m.services[0].Spec.Selector["app.kubernetes.io/name"] = "x" }, "does not select the worker pods"},
		{"Service misses the port", func(m *manifests) { m.services[0].Spec.Ports[0].TargetPort = intstr.FromString("metrics") }, "no Service reaches"},
		{"image not pinned", func(m *manifests) { m.kustomization.Images = nil }, "no tag other than latest"},
		{"object in another namespace", func(m *manifests) { m.secrets[0].Namespace = "default" }, `in namespace "default"`},
		{"kustomization in another namespace", func(m *manifests) { m.kustomization.Namespace = "default" }, "is not the Namespace"},
	}
	documented := documentedEnv(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := loadManifests(t)
			tc.mutate(m)
			got := checkManifests(m, documented)
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %q", tc.want, got)
		})
	}
}

// TestDecodeManifestStrict: decoding refuses what the API server would refuse or silently drop.
func TestDecodeManifestStrict(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replica: 2\n", `unknown field "replica"`},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {A: x}\ndata: {B: y}\n", "already set"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: two\n", "replicas"},
		{"unexpected kind", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n", `kind "Job"`},
		{"two documents", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", "one manifest a file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeManifest([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decodeManifest: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
