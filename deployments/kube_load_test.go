package deployments

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const kubeDir = "k8s"

// manifests is what `kubectl apply -k k8s` sends, decoded into the Kubernetes API's own types,
// with the kustomization that rewrites it (namespace, images).
type manifests struct {
	kustomization kustomization
	namespaces    []*corev1.Namespace
	configMaps    []*corev1.ConfigMap
	secrets       []*corev1.Secret
	deployments   []*appsv1.Deployment
	services      []*corev1.Service
	pdbs          []*policyv1.PodDisruptionBudget
}

// kustomization is the part of kustomize's Kustomization these manifests use. It is decoded
// strictly, so a new field (patches, labels, …) fails the tests until the checks account for what
// it changes.
type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace"`
	Resources  []string         `json:"resources"`
	Images     []kustomizeImage `json:"images"`
}

// kustomizeImage replaces an image name in every container.
type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// loadManifests reads kustomization.yaml and every resource it lists, and checks that no manifest
// in the directory is left out of it (and so silently never applied).
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	b, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &m.kustomization); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k := m.kustomization; k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: apiVersion %q kind %q, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	listed := map[string]bool{}
	for _, res := range m.kustomization.Resources {
		listed[res] = true
		b, err := os.ReadFile(filepath.Join(kubeDir, res))
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", res, err)
		}
		obj, err := decodeManifest(b)
		if err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		m.add(obj)
	}
	all, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if name := filepath.Base(p); name != "kustomization.yaml" && !listed[name] {
			t.Errorf("%s is not in kustomization.yaml's resources: kubectl apply -k would skip it", p)
		}
	}
	return m
}

func (m *manifests) add(obj any) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		m.namespaces = append(m.namespaces, o)
	case *corev1.ConfigMap:
		m.configMaps = append(m.configMaps, o)
	case *corev1.Secret:
		m.secrets = append(m.secrets, o)
	case *appsv1.Deployment:
		m.deployments = append(m.deployments, o)
	case *corev1.Service:
		m.services = append(m.services, o)
	case *policyv1.PodDisruptionBudget:
		m.pdbs = append(m.pdbs, o)
	default:
		panic(fmt.Sprintf("decodeManifest returned a %T", obj))
	}
}

// manifestKinds maps "apiVersion kind" to a constructor of the API type it decodes into.
var manifestKinds = map[string]func() any{
	"v1 Namespace":                  func() any { return &corev1.Namespace{} },
	"v1 ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                     func() any { return &corev1.Secret{} },
	"v1 Service":                    func() any { return &corev1.Service{} },
	"apps/v1 Deployment":            func() any { return &appsv1.Deployment{} },
	"policy/v1 PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
}

var documentSeparator = regexp.MustCompile(`(?m)^---`)

// decodeManifest decodes one manifest into its API type strictly, as `kubectl apply
// --validate=strict` does: an unknown or duplicate field is an error, not silently dropped.
func decodeManifest(b []byte) (any, error) {
	if documentSeparator.Match(b) {
		return nil, fmt.Errorf("one manifest a file, please: found a --- separator")
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(b, &tm); err != nil {
		return nil, err
	}
	newObj, ok := manifestKinds[tm.APIVersion+" "+tm.Kind]
	if !ok {
		kinds := make([]string, 0, len(manifestKinds))
		for k := range manifestKinds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return nil, fmt.Errorf("apiVersion %q kind %q: not one of %q", tm.APIVersion, tm.Kind, kinds)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		return nil, err
	}
	return obj, nil
}
