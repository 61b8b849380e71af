package deployments

import (
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// problems collects what is wrong, one sentence each.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// checkManifests returns every broken invariant of the Kubernetes manifests, the worker's and the
// intake's (checkIntake); documented holds the environment variable names a deployment may set.
func checkManifests(m *manifests, documented map[string]bool) problems {
	var p problems
	checkNamespace(m, &p)
	workers, intakes := splitDeployments(m)
	for _, d := range intakes {
		checkIntake(m, d, documented, &p)
	}
	if len(intakes) != 1 {
		p.addf("want one Deployment of the intake (component intake), got %d", len(intakes))
	}
	if len(workers) != 1 {
		p.addf("want one Deployment (the worker), got %d", len(workers))
		return p
	}
	d := workers[0]
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		p.addf("Deployment %s: its selector does not select its own pod template", d.Name)
	}
	checkImages(m, d, &p)
	checkPodSecurity(d, &p)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		p.addf("Deployment %s: want one container (the worker), got %d", d.Name, len(d.Spec.Template.Spec.Containers))
		return p
	}
	env := resolveEnv(m, d, &p)
	checkEnv(d, env, documented, &p)
	port := checkHTTP(d, env, "HTTP_ADDR", &p)
	checkShutdown(d, env, &p)
	checkTokenFile(m, d, env, "CPH_TOKEN_FILE", &p)
	checkService(m, d, intakes, port, &p)
	checkPDB(m, d, &p)
	return p
}

// checkNamespace: one Namespace, the kustomization's, and every object in it.
func checkNamespace(m *manifests, p *problems) {
	if len(m.namespaces) != 1 {
		p.addf("want one Namespace, got %d", len(m.namespaces))
		return
	}
	ns := m.namespaces[0].Name
	if m.kustomization.Namespace != ns {
		p.addf("kustomization.yaml namespace %q is not the Namespace %q", m.kustomization.Namespace, ns)
	}
	var metas []metav1.ObjectMeta
	for _, o := range m.configMaps {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.secrets {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.deployments {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.services {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.pdbs {
		metas = append(metas, o.ObjectMeta)
	}
	for _, meta := range metas {
		if meta.Namespace != "" && meta.Namespace != ns {
			p.addf("%s is in namespace %q, not %q", meta.Name, meta.Namespace, ns)
		}
	}
}

// checkImages: every container image is pinned by the kustomization (a tag or digest, never
// latest), so that a rollout runs the image it names.
func checkImages(m *manifests, d *appsv1.Deployment, p *problems) {
	for _, c := range d.Spec.Template.Spec.Containers {
		name, tag := c.Image, ""
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name, tag = name[:i], name[i+1:]
		}
		if strings.Contains(c.Image, "@") {
			continue // pinned by digest
		}
		for _, img := range m.kustomization.Images {
			if img.Name == name {
				tag = img.NewTag
				if img.Digest != "" {
					tag = "@" + img.Digest
				}
			}
		}
		if tag == "" || tag == "latest" {
			p.addf("container %s: image %q has no tag other than latest, and kustomization.yaml's images sets none", c.Name, c.Image)
		}
	}
}

// checkPodSecurity: non-root, no privilege escalation, no capabilities, read-only root, the
// runtime's seccomp profile: the restricted Pod Security level, which the Namespace enforces.
func checkPodSecurity(d *appsv1.Deployment, p *problems) {
	spec := d.Spec.Template.Spec
	pod := spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		nonRoot := first(sc.RunAsNonRoot, pod.RunAsNonRoot)
		if nonRoot == nil || !*nonRoot {
			p.addf("container %s: runAsNonRoot is not true", c.Name)
		}
		if uid := first(sc.RunAsUser, pod.RunAsUser); uid == nil || *uid != imageUID {
			p.addf("container %s: runAsUser must be the image's non-root user %d (the Dockerfile's USER)", c.Name, imageUID)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			p.addf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			p.addf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			p.addf("container %s: privileged", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			p.addf("container %s: capabilities must drop ALL and add none", c.Name)
		}
		seccomp := first(sc.SeccompProfile, pod.SeccompProfile)
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			p.addf("container %s: seccompProfile is not RuntimeDefault", c.Name)
		}
		r := c.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			p.addf("container %s: set resources.requests cpu and memory and resources.limits memory", c.Name)
		}
	}
}

// first returns the container's setting, else the pod's.
func first[T any](container, pod *T) *T {
	if container != nil {
		return container
	}
	return pod
}

// envVar is one environment variable of the worker container, and where its value comes from.
type envVar struct {
	value  string // the literal value; empty when it comes from a Secret
	secret bool   // from a Secret
	origin string // for messages
}

// resolveEnv computes the worker container's environment from envFrom and env (env wins, as in
// Kubernetes), reporting references to ConfigMaps, Secrets or keys that the manifests lack.
func resolveEnv(m *manifests, d *appsv1.Deployment, p *problems) map[string]envVar {
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]envVar{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := m.configMap(from.ConfigMapRef.Name)
			if cm == nil {
				p.addf("container %s: envFrom names ConfigMap %q, which is not in the manifests", c.Name, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = envVar{value: v, origin: "ConfigMap " + cm.Name}
			}
		case from.SecretRef != nil:
			keys, ok := m.secretKeys(from.SecretRef.Name)
			if !ok {
				p.addf("container %s: envFrom names Secret %q, which is not in the manifests", c.Name, from.SecretRef.Name)
				continue
			}
			for _, k := range keys {
				env[from.Prefix+k] = envVar{secret: true, origin: "Secret " + from.SecretRef.Name}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envVar{value: e.Value, origin: "the Deployment's env"}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if keys, ok := m.secretKeys(ref.Name); !ok || !slices.Contains(keys, ref.Key) {
				p.addf("env %s: Secret %q has no key %q in the manifests", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = envVar{secret: true, origin: "Secret " + ref.Name}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := m.configMap(ref.Name)
			if cm == nil {
				p.addf("env %s: ConfigMap %q is not in the manifests", e.Name, ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				p.addf("env %s: ConfigMap %q has no key %q", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = envVar{value: v, origin: "ConfigMap " + cm.Name}
		default:
			p.addf("env %s: only literal values, Secret and ConfigMap keys are expected", e.Name)
		}
	}
	return env
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, cm := range m.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

// secretKeys lists the keys of the named Secret, and whether the manifests hold it.
func (m *manifests) secretKeys(name string) ([]string, bool) {
	for _, s := range m.secrets {
		if s.Name != name {
			continue
		}
		var keys []string
		for k := range s.StringData {
			keys = append(keys, k)
		}
		for k := range s.Data {
			keys = append(keys, k)
		}
		return keys, true
	}
	return nil, false
}

// checkEnv: only documented variables; secrets only from a Secret; what the worker requires is
// there; exactly one credential source, as the worker itself insists.
func checkEnv(d *appsv1.Deployment, env map[string]envVar, documented map[string]bool, p *problems) {
	for name, v := range env {
		if !documented[name] {
			p.addf("%s sets %s, which the worker neither reads nor documents (cmd/worker/config.go, README)", v.origin, name)
		}
		if secretEnv[name] && !v.secret {
			p.addf("%s sets %s literally: it may carry a secret, so take it from a Secret", v.origin, name)
		}
	}
	for _, name := range []string{"REDIS_URL", "CPH_ENDPOINT"} {
		if _, ok := env[name]; !ok {
			p.addf("Deployment %s: %s is not set; the worker refuses to start without it", d.Name, name)
		}
	}
	sources := 0
	for _, names := range [][]string{{"CPH_TOKEN"}, {"CPH_TOKEN_FILE"}, {"IAM_ENDPOINT", "IAM_USERNAME"}} {
		for _, n := range names {
			if _, ok := env[n]; ok {
				sources++
				break
			}
		}
	}
	if sources != 1 {
		p.addf("Deployment %s: %d credential sources; the worker needs exactly one of CPH_TOKEN, CPH_TOKEN_FILE, IAM_*", d.Name, sources)
	}
}

// checkHTTP: the container listens, at the address its variable addrEnv names (HTTP_ADDR,
// INTAKE_ADDR), on all of the pod's addresses, on the container port the probes use: liveness on
// /healthz, readiness on /readyz. It returns the port.
func checkHTTP(d *appsv1.Deployment, env map[string]envVar, addrEnv string, p *problems) int32 {
	c := d.Spec.Template.Spec.Containers[0]
	addr, ok := env[addrEnv]
	if !ok {
		p.addf("container %s: %s is not set; its default (on 127.0.0.1) is unreachable for the kubelet's probes", c.Name, addrEnv)
		return 0
	}
	host, portStr, err := net.SplitHostPort(addr.value)
	if err != nil {
		p.addf("container %s: %s %q: %v", c.Name, addrEnv, addr.value, err)
		return 0
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		p.addf("container %s: %s %q listens on %s only; probes come to the pod's IP: use 0.0.0.0", c.Name, addrEnv, addr.value, host)
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		p.addf("container %s: %s %q: port is not a number", c.Name, addrEnv, addr.value)
		return 0
	}
	if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == int32(port) }) {
		p.addf("container %s: %s port %d is not among its ports", c.Name, addrEnv, port)
	}
	for _, pr := range []struct {
		kind, path string
		probe      *corev1.Probe
	}{
		{"livenessProbe", "/healthz", c.LivenessProbe},
		{"readinessProbe", "/readyz", c.ReadinessProbe},
	} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			p.addf("container %s: no HTTP %s (on %s)", c.Name, pr.kind, pr.path)
			continue
		}
		get := pr.probe.HTTPGet
		if get.Path != pr.path {
			p.addf("container %s: %s path %q, want %s", c.Name, pr.kind, get.Path, pr.path)
		}
		if got, ok := containerPort(c, get.Port); !ok || got != int32(port) {
			p.addf("container %s: %s port %s is not %s's %d", c.Name, pr.kind, get.Port.String(), addrEnv, port)
		}
	}
	return int32(port)
}

// containerPort resolves a port given by number or by name.
func containerPort(c corev1.Container, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, true
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// checkShutdown: CPH_TIMEOUT < SHUTDOWN_TIMEOUT < terminationGracePeriodSeconds, so that a
// purchase call in flight on SIGTERM may finish before the kubelet's SIGKILL.
func checkShutdown(d *appsv1.Deployment, env map[string]envVar, p *problems) {
	st, ok := env["SHUTDOWN_TIMEOUT"]
	if !ok {
		p.addf("Deployment %s: set SHUTDOWN_TIMEOUT explicitly, next to terminationGracePeriodSeconds", d.Name)
		return
	}
	shutdown, err := time.ParseDuration(st.value)
	if err != nil {
		p.addf("SHUTDOWN_TIMEOUT %q: %v", st.value, err)
		return
	}
	callTimeout := defaultCPHTimeout
	if v, ok := env["CPH_TIMEOUT"]; ok {
		if callTimeout, err = time.ParseDuration(v.value); err != nil {
			p.addf("CPH_TIMEOUT %q: %v", v.value, err)
			return
		}
	}
	if shutdown <= callTimeout {
		p.addf("SHUTDOWN_TIMEOUT %s is not longer than CPH_TIMEOUT %s: a purchase call in flight could not finish", shutdown, callTimeout)
	}
	grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= shutdown {
		p.addf("Deployment %s: terminationGracePeriodSeconds must be set and longer than SHUTDOWN_TIMEOUT %s", d.Name, shutdown)
	}
}

// checkTokenFile: the variable fileEnv (CPH_TOKEN_FILE, INTAKE_TOKEN_FILE) names a file of a
// mounted Secret volume whose key exists.
func checkTokenFile(m *manifests, d *appsv1.Deployment, env map[string]envVar, fileEnv string, p *problems) {
	tf, ok := env[fileEnv]
	if !ok {
		return
	}
	spec := d.Spec.Template.Spec
	for _, vm := range spec.Containers[0].VolumeMounts {
		rel, ok := strings.CutPrefix(path.Clean(tf.value), path.Clean(vm.MountPath)+"/")
		if !ok {
			continue
		}
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 || spec.Volumes[i].Secret == nil {
			p.addf("%s %s: volume %s is not a Secret volume", fileEnv, tf.value, vm.Name)
			return
		}
		sv := spec.Volumes[i].Secret
		keys, ok := m.secretKeys(sv.SecretName)
		if !ok {
			p.addf("%s %s: Secret %q is not in the manifests", fileEnv, tf.value, sv.SecretName)
			return
		}
		key := rel
		if len(sv.Items) > 0 {
			j := slices.IndexFunc(sv.Items, func(it corev1.KeyToPath) bool { return it.Path == rel })
			if j < 0 {
				p.addf("%s %s: no item of Secret volume %s has path %s", fileEnv, tf.value, vm.Name, rel)
				return
			}
			key = sv.Items[j].Key
		}
		if !slices.Contains(keys, key) {
			p.addf("%s %s: Secret %q has no key %q", fileEnv, tf.value, sv.SecretName, key)
		}
		return
	}
	p.addf("%s %s is under no volume mount of the container", fileEnv, tf.value)
}

// checkService: a Service selects the worker pods and reaches their HTTP port (metrics). The
// Services of the intake's pods are checkIntake's.
func checkService(m *manifests, d *appsv1.Deployment, intakes []*appsv1.Deployment, port int32, p *problems) {
	pods := labels.Set(d.Spec.Template.Labels)
	c := d.Spec.Template.Spec.Containers[0]
	found := false
	for _, s := range m.services {
		if selectsAny(s, intakes) {
			continue
		}
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
			p.addf("Service %s does not select the worker pods", s.Name)
			continue
		}
		for _, sp := range s.Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port) // the default: the same as port
			}
			if got, ok := containerPort(c, target); ok && got == port {
				found = true
			}
		}
	}
	if !found {
		p.addf("no Service reaches the worker's HTTP port %d (metrics)", port)
	}
}

// checkPDB: a PodDisruptionBudget selects the worker pods and keeps at least one of them, which
// a drain can satisfy only with more replicas than that.
func checkPDB(m *manifests, d *appsv1.Deployment, p *problems) {
	pods := labels.Set(d.Spec.Template.Labels)
	if len(m.pdbs) != 1 {
		p.addf("want one PodDisruptionBudget, got %d", len(m.pdbs))
		return
	}
	pdb := m.pdbs[0]
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(pods) {
		p.addf("PodDisruptionBudget %s does not select the worker pods", pdb.Name)
	}
	minAvail := pdb.Spec.MinAvailable
	if minAvail == nil || minAvail.Type != intstr.Int || minAvail.IntVal < 1 {
		p.addf("PodDisruptionBudget %s: want minAvailable of at least 1 pod", pdb.Name)
		return
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if replicas <= minAvail.IntVal {
		p.addf("Deployment %s: %d replicas and PodDisruptionBudget minAvailable %d: no pod could ever be evicted, drains would hang", d.Name, replicas, minAvail.IntVal)
	}
}
