package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kustomization is the subset of kustomize's schema k8s/ uses; decoding it
// strictly makes any other field a test failure rather than silently unchecked.
type kustomization struct {
	APIVersion         string               `json:"apiVersion"`
	Kind               string               `json:"kind"`
	Namespace          string               `json:"namespace"`
	Resources          []string             `json:"resources"`
	ConfigMapGenerator []configMapGenerator `json:"configMapGenerator"`
	Images             []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images"`
}

type configMapGenerator struct {
	Name    string   `json:"name"`
	Files   []string `json:"files"`
	Options *struct {
		DisableNameSuffixHash bool `json:"disableNameSuffixHash"`
	} `json:"options,omitempty"`
}

// manifestSet is everything `kubectl apply -k k8s/` would create, typed.
type manifestSet struct {
	Dir   string
	Kust  kustomization
	Files []string // every file in Dir
	// ConfigMapFiles maps a generated ConfigMap to its keys and their contents.
	ConfigMapFiles map[string]map[string][]byte
	Objects        []metav1.Object

	Namespaces      []*corev1.Namespace
	ServiceAccounts []*corev1.ServiceAccount
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Services        []*corev1.Service
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	NetworkPolicies []*networkingv1.NetworkPolicy
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

func loadManifests(dir string) (*manifestSet, error) {
	s := &manifestSet{Dir: dir, ConfigMapFiles: map[string]map[string][]byte{}}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, &s.Kust); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		s.Files = append(s.Files, e.Name())
	}
	for _, g := range s.Kust.ConfigMapGenerator {
		keys := map[string][]byte{}
		for _, f := range g.Files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return nil, fmt.Errorf("configMapGenerator %s: %w", g.Name, err)
			}
			keys[filepath.Base(f)] = b
		}
		s.ConfigMapFiles[g.Name] = keys
	}
	for _, r := range s.Kust.Resources {
		if err := s.loadFile(filepath.Join(dir, r)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *manifestSet) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		if err := s.decode([]byte(doc)); err != nil {
			return fmt.Errorf("%s document %d: %w", filepath.Base(path), i+1, err)
		}
	}
	return nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// decode picks the Go type from apiVersion and kind and decodes strictly:
// a misspelt or misplaced field fails, as it would with kubectl's validation.
func (s *manifestSet) decode(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj metav1.Object
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		obj = appendNew(&s.Namespaces)
	case "v1/ServiceAccount":
		obj = appendNew(&s.ServiceAccounts)
	case "v1/ConfigMap":
		obj = appendNew(&s.ConfigMaps)
	case "v1/Secret":
		obj = appendNew(&s.Secrets)
	case "v1/Service":
		obj = appendNew(&s.Services)
	case "apps/v1/Deployment":
		obj = appendNew(&s.Deployments)
	case "apps/v1/StatefulSet":
		obj = appendNew(&s.StatefulSets)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		obj = appendNew(&s.HPAs)
	case "policy/v1/PodDisruptionBudget":
		obj = appendNew(&s.PDBs)
	case "networking.k8s.io/v1/NetworkPolicy":
		obj = appendNew(&s.NetworkPolicies)
	default:
		return fmt.Errorf("unexpected %s %s", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if obj.GetName() == "" {
		return fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	s.Objects = append(s.Objects, obj)
	return nil
}

// appendNew adds a zero object to list and returns it for decoding into.
func appendNew[T any, PT interface {
	*T
	metav1.Object
}](list *[]PT) PT {
	v := PT(new(T))
	*list = append(*list, v)
	return v
}

// workload is a Deployment or StatefulSet seen through its pod template.
type workload struct {
	Kind, Name string
	Selector   *metav1.LabelSelector
	Labels     map[string]string
	Annots     map[string]string
	Pod        *corev1.PodSpec
}

func (s *manifestSet) workloads() []workload {
	var out []workload
	for _, d := range s.Deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector, d.Spec.Template.Labels, d.Spec.Template.Annotations, &d.Spec.Template.Spec})
	}
	for _, st := range s.StatefulSets {
		out = append(out, workload{"StatefulSet", st.Name, st.Spec.Selector, st.Spec.Template.Labels, st.Spec.Template.Annotations, &st.Spec.Template.Spec})
	}
	return out
}

// runningContainers are the containers that run for the pod's lifetime: the
// main ones and native sidecars (init containers with restartPolicy Always).
func runningContainers(pod *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.InitContainers {
		if c := &pod.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c)
		}
	}
	for i := range pod.Containers {
		out = append(out, &pod.Containers[i])
	}
	return out
}

func allContainers(pod *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.InitContainers {
		out = append(out, &pod.InitContainers[i])
	}
	for i := range pod.Containers {
		out = append(out, &pod.Containers[i])
	}
	return out
}

func container(pod *corev1.PodSpec, name string) *corev1.Container {
	i := slices.IndexFunc(allContainers(pod), func(c *corev1.Container) bool { return c.Name == name })
	if i < 0 {
		return nil
	}
	return allContainers(pod)[i]
}

// secretKeys lists a Secret's keys from data and stringData.
func secretKeys(sec *corev1.Secret) []string {
	var keys []string
	for k := range sec.Data {
		keys = append(keys, k)
	}
	for k := range sec.StringData {
		keys = append(keys, k)
	}
	return keys
}

// configMapKeys returns the keys of a ConfigMap, generated or literal.
func (s *manifestSet) configMapKeys(name string) ([]string, bool) {
	if files, ok := s.ConfigMapFiles[name]; ok {
		var keys []string
		for k := range files {
			keys = append(keys, k)
		}
		return keys, true
	}
	for _, cm := range s.ConfigMaps {
		if cm.Name == name {
			var keys []string
			for k := range cm.Data {
				keys = append(keys, k)
			}
			return keys, true
		}
	}
	return nil, false
}
