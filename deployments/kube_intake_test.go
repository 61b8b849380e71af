package deployments

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// intakeComponent is the app.kubernetes.io/component label of the intake's pods.
const intakeComponent = "intake"

// cphEnv are the settings of the CPH API and its credentials: the workers', never the intake's.
var cphEnv = []string{"CPH_ENDPOINT", "CPH_TOKEN", "CPH_TOKEN_FILE", "IAM_ENDPOINT", "IAM_USERNAME", "IAM_PASSWORD", "IAM_DOMAIN"}

// splitDeployments tells the intake's Deployments (their pods labelled component intake) from the
// others, the worker's.
func splitDeployments(m *manifests) (workers, intakes []*appsv1.Deployment) {
	for _, d := range m.deployments {
		if d.Spec.Template.Labels["app.kubernetes.io/component"] == intakeComponent {
			intakes = append(intakes, d)
		} else {
			workers = append(workers, d)
		}
	}
	return workers, intakes
}

// selectsAny reports whether the Service selects the pods of one of ds.
func selectsAny(s *corev1.Service, ds []*appsv1.Deployment) bool {
	return len(s.Spec.Selector) > 0 && slices.ContainsFunc(ds, func(d *appsv1.Deployment) bool {
		return labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels))
	})
}

// secretsOf lists the Secrets a Deployment's pods read: volumes, envFrom and secretKeyRefs.
func secretsOf(d *appsv1.Deployment) []string {
	var names []string
	spec := d.Spec.Template.Spec
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			names = append(names, v.Secret.SecretName)
		}
	}
	for _, c := range spec.Containers {
		for _, from := range c.EnvFrom {
			if from.SecretRef != nil {
				names = append(names, from.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				names = append(names, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	return names
}

// checkIntake: the intake runs the image's /enqueue serve, hardened as the worker is; it gets
// Redis and its tokens, never the CPH credentials nor the workers' Secret (which holds the CPH
// token); beyond loopback it has its tokens, from a Secret file; its probes and a Service reach
// its port; the kubelet's SIGKILL comes after SHUTDOWN_TIMEOUT.
func checkIntake(m *manifests, d *appsv1.Deployment, documented map[string]bool, p *problems) {
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		p.addf("Deployment %s: its selector does not select its own pod template", d.Name)
	}
	checkImages(m, d, p)
	checkPodSecurity(d, p)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		p.addf("Deployment %s: want one container (the intake), got %d", d.Name, len(d.Spec.Template.Spec.Containers))
		return
	}
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Command, []string{"/enqueue"}) || len(c.Args) == 0 || c.Args[0] != "serve" {
		p.addf("container %s: command %q args %q, want [/enqueue] [serve]: the image's entrypoint is the worker", c.Name, c.Command, c.Args)
	}
	workers, _ := splitDeployments(m)
	for _, w := range workers {
		for _, name := range secretsOf(d) {
			if slices.Contains(secretsOf(w), name) {
				p.addf("Deployment %s reads the workers' Secret %s, which holds the CPH token: give the intake a Secret of its own", d.Name, name)
			}
		}
	}
	env := resolveEnv(m, d, p)
	for name, v := range env {
		switch {
		case slices.Contains(cphEnv, name):
			p.addf("Deployment %s sets %s: the intake must never get the CPH endpoint or credentials", d.Name, name)
		case !documented[name]:
			p.addf("%s sets %s, which the intake neither reads nor documents (README, \"HTTP intake\")", v.origin, name)
		}
		if secretEnv[name] && !v.secret {
			p.addf("%s sets %s literally: it may carry a secret, so take it from a Secret", v.origin, name)
		}
	}
	if _, ok := env["REDIS_URL"]; !ok {
		p.addf("Deployment %s: REDIS_URL is not set; the intake refuses to start without it", d.Name)
	}
	_, token := env["INTAKE_TOKEN"]
	_, file := env["INTAKE_TOKEN_FILE"]
	if !token && !file {
		p.addf("Deployment %s: neither INTAKE_TOKEN nor INTAKE_TOKEN_FILE is set; beyond loopback the intake refuses to start without one", d.Name)
	}
	port := checkHTTP(d, env, "INTAKE_ADDR", p)
	checkTokenFile(m, d, env, "INTAKE_TOKEN_FILE", p)
	if st, ok := env["SHUTDOWN_TIMEOUT"]; !ok {
		p.addf("Deployment %s: set SHUTDOWN_TIMEOUT explicitly, next to terminationGracePeriodSeconds", d.Name)
	} else if shutdown, err := time.ParseDuration(st.value); err != nil {
		p.addf("Deployment %s: SHUTDOWN_TIMEOUT %q: %v", d.Name, st.value, err)
	} else if grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second <= shutdown {
		p.addf("Deployment %s: terminationGracePeriodSeconds must be set and longer than SHUTDOWN_TIMEOUT %s", d.Name, shutdown)
	}
	reached := slices.ContainsFunc(m.services, func(s *corev1.Service) bool {
		return selectsAny(s, []*appsv1.Deployment{d}) && slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
			got, ok := containerPort(c, sp.TargetPort)
			return ok && got == port
		})
	})
	if !reached {
		p.addf("no Service reaches the intake's port %d", port)
	}
}

// TestKubeIntakeChecksCatch breaks one invariant of the intake's real manifests at a time and
// expects checkManifests to name it.
func TestKubeIntakeChecksCatch(t *testing.T) {
	intake := func(m *manifests) *appsv1.Deployment {
		i := slices.IndexFunc(m.deployments, func(d *appsv1.Deployment) bool { return d.Name == "cph-purchase-intake" })
		if i < 0 {
			t.Fatal("no Deployment cph-purchase-intake")
		}
		return m.deployments[i]
	}
	container := func(m *manifests) *corev1.Container { return &intake(m).Spec.Template.Spec.Containers[0] }
	setEnv := func(m *manifests, e corev1.EnvVar) {
		c := container(m)
		for i := range c.Env {
			if c.Env[i].Name == e.Name {
				c.Env[i] = e
				return
			}
		}
		c.Env = append(c.Env, e)
	}
	dropEnv := func(m *manifests, name string) {
		c := container(m)
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	}
	fromSecret := func(secret, key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}
	}
	tests := []struct {
		name   string
		mutate func(m *manifests)
		want   string
	}{
		{"the CPH token file", func(m *manifests) {
			setEnv(m, corev1.EnvVar{Name: "CPH_TOKEN_FILE", Value: "/var/run/secrets/cph-purchase/cph-token"})
		}, "never get the CPH endpoint or credentials"},
		{"the workers' Secret mounted", func(m *manifests) {
			d := intake(m)
			d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{Name: "cph",
				VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "cph-purchase-worker"}}})
		}, "reads the workers' Secret cph-purchase-worker"},
		{"Redis from the workers' Secret", func(m *manifests) {
			setEnv(m, corev1.EnvVar{Name: "REDIS_URL", ValueFrom: fromSecret("cph-purchase-worker", "redis-url")})
		}, "reads the workers' Secret"},
		{"no token", func(m *manifests) { dropEnv(m, "INTAKE_TOKEN_FILE") }, "neither INTAKE_TOKEN nor INTAKE_TOKEN_FILE"},
		{"a literal token", func(m *manifests) { setEnv(m, corev1.EnvVar{Name: "INTAKE_TOKEN", Value: "t"}) }, "sets INTAKE_TOKEN literally"},
		{"token file item missing", func(m *manifests) {
			setEnv(m, corev1.EnvVar{Name: "INTAKE_TOKEN_FILE", Value: "/var/run/secrets/cph-purchase-intake/other"})
		}, "no item"},
		{"on loopback", func(m *manifests) { setEnv(m, corev1.EnvVar{Name: "INTAKE_ADDR", Value: "127.0.0.1:8480"}) }, "INTAKE_ADDR \"127.0.0.1:8480\" listens on 127.0.0.1 only"},
		{"no Redis", func(m *manifests) { dropEnv(m, "REDIS_URL") }, "REDIS_URL is not set"},
		{"undocumented variable", func(m *manifests) { setEnv(m, corev1.EnvVar{Name: "INTAKE_PORT", Value: "1"}) }, "neither reads nor documents"},
		{"the worker's entrypoint", func(m *manifests) { container(m).Command = nil }, "want [/enqueue] [serve]"},
		{"no readiness probe", func(m *manifests) { container(m).ReadinessProbe = nil }, "readinessProbe"},
		{"grace not longer than the shutdown", func(m *manifests) {
			intake(m).Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
		}, "terminationGracePeriodSeconds must be set and longer than SHUTDOWN_TIMEOUT 30s"},
		{"no Service", func(m *manifests) {
			m.services = slices.DeleteFunc(m.services, func(s *corev1.Service) bool { return s.Name == "cph-purchase-intake" })
		}, "no Service reaches the intake"},
		{"Service on another port", func(m *manifests) {
			for _, s := range m.services {
				if s.Name == "cph-purchase-intake" {
					s.Spec.Ports[0].TargetPort = intstr.FromInt32(9464)
				}
			}
		}, "no Service reaches the intake"},
		{"runs as root", func(m *manifests) { intake(m).Spec.Template.Spec.SecurityContext.RunAsUser = ptr.To[int64](0) }, "runAsUser"},
		{"no intake", func(m *manifests) {
			m.deployments = slices.DeleteFunc(m.deployments, func(d *appsv1.Deployment) bool { return d.Name == "cph-purchase-intake" })
		}, "want one Deployment of the intake"},
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
