package deploy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// check runs every cross-reference check over the set.
func (s *manifestSet) check() []error {
	errs := s.checkKustomization()
	for _, w := range s.workloads() {
		errs = append(errs, s.checkWorkload(w)...)
		errs = append(errs, checkHardening(w)...)
	}
	errs = append(errs, s.checkServices()...)
	errs = append(errs, s.checkPDBsAndHPAs()...)
	errs = append(errs, s.checkNetworkPolicies()...)
	return errs
}

// checkKustomization: every file in k8s/ is used, the namespace is the one
// created, and every image is pinned or set by kustomize.
func (s *manifestSet) checkKustomization() []error {
	var errs []error
	k := s.Kust
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		errs = append(errs, fmt.Errorf("kustomization.yaml: apiVersion/kind %s/%s", k.APIVersion, k.Kind))
	}
	used := append([]string{"kustomization.yaml"}, k.Resources...)
	for _, g := range k.ConfigMapGenerator {
		used = append(used, g.Files...)
	}
	for _, f := range s.Files {
		if !slices.Contains(used, f) {
			errs = append(errs, fmt.Errorf("k8s/%s is not listed in kustomization.yaml", f))
		}
	}
	if len(s.Namespaces) != 1 || s.Namespaces[0].Name != k.Namespace {
		errs = append(errs, fmt.Errorf("kustomization namespace %q is not the one Namespace created", k.Namespace))
	}
	for _, o := range s.Objects {
		if ns := o.GetNamespace(); ns != "" && ns != k.Namespace {
			errs = append(errs, fmt.Errorf("%s: namespace %q, kustomization sets %q", o.GetName(), ns, k.Namespace))
		}
	}
	return append(errs, s.checkImages()...)
}

// imageName strips the tag or digest from an image reference.
func imageName(ref string) (name string, pinned bool) {
	if n, _, ok := strings.Cut(ref, "@"); ok {
		return n, true
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:] != "latest"
	}
	return ref, false
}

func (s *manifestSet) checkImages() []error {
	var errs []error
	overridden := map[string]bool{}
	for _, img := range s.Kust.Images {
		overridden[img.Name] = img.NewTag != ""
	}
	used := map[string]bool{}
	for _, w := range s.workloads() {
		for _, c := range allContainers(w.Pod) {
			name, pinned := imageName(c.Image)
			used[name] = true
			if !pinned && !overridden[name] {
				errs = append(errs, fmt.Errorf("%s/%s: image %q has no version and kustomization sets none", w.Name, c.Name, c.Image))
			}
		}
	}
	for name := range overridden {
		if !used[name] {
			errs = append(errs, fmt.Errorf("kustomization images: %q is used by no container", name))
		}
	}
	return errs
}

func selectorMatches(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil {
		return false
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !ls.Empty() && ls.Matches(labels.Set(podLabels))
}

// selected returns the workloads whose pods the selector picks.
func (s *manifestSet) selected(sel *metav1.LabelSelector) []workload {
	var out []workload
	for _, w := range s.workloads() {
		if selectorMatches(sel, w.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// hasPort reports whether a container port matches a name or number.
func hasPort(cs []*corev1.Container, p intstr.IntOrString) bool {
	for _, c := range cs {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return true
			}
		}
	}
	return false
}

func (s *manifestSet) checkWorkload(w workload) []error {
	var errs []error
	where := w.Kind + " " + w.Name
	if !selectorMatches(w.Selector, w.Labels) {
		errs = append(errs, fmt.Errorf("%s: selector does not match its pod template labels", where))
	}
	if sa := w.Pod.ServiceAccountName; sa != "" && !slices.ContainsFunc(s.ServiceAccounts, func(a *corev1.ServiceAccount) bool { return a.Name == sa }) {
		errs = append(errs, fmt.Errorf("%s: serviceAccountName %q does not exist", where, sa))
	}
	errs = append(errs, s.checkVolumes(w)...)
	for _, c := range allContainers(w.Pod) {
		errs = append(errs, s.checkEnvRefs(where, c)...)
		for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
			if port, ok := probePort(p); ok && !hasPort([]*corev1.Container{c}, port) {
				errs = append(errs, fmt.Errorf("%s/%s: %s probe port %s is not a port of the container", where, c.Name, kind, port.String()))
			}
		}
	}
	return errs
}

func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p == nil:
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	}
	return intstr.IntOrString{}, false
}

// checkVolumes: ConfigMaps, Secrets and claims behind volumes exist, every
// mount names a volume, and every volume is mounted.
func (s *manifestSet) checkVolumes(w workload) []error {
	var errs []error
	where := w.Kind + " " + w.Name
	names := s.claimTemplates(w)
	for _, v := range w.Pod.Volumes {
		names = append(names, v.Name)
		switch {
		case v.ConfigMap != nil:
			keys, ok := s.configMapKeys(v.ConfigMap.Name)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: volume %s: ConfigMap %q does not exist", where, v.Name, v.ConfigMap.Name))
			}
			for _, it := range v.ConfigMap.Items {
				if !slices.Contains(keys, it.Key) {
					errs = append(errs, fmt.Errorf("%s: volume %s: ConfigMap %q has no key %q", where, v.Name, v.ConfigMap.Name, it.Key))
				}
			}
		case v.Secret != nil:
			if s.secret(v.Secret.SecretName) == nil {
				errs = append(errs, fmt.Errorf("%s: volume %s: Secret %q does not exist", where, v.Name, v.Secret.SecretName))
			}
		}
	}
	mounted := map[string]bool{}
	for _, c := range allContainers(w.Pod) {
		for _, m := range c.VolumeMounts {
			mounted[m.Name] = true
			if !slices.Contains(names, m.Name) {
				errs = append(errs, fmt.Errorf("%s/%s: mounts unknown volume %q", where, c.Name, m.Name))
			}
		}
	}
	for _, n := range names {
		if !mounted[n] {
			errs = append(errs, fmt.Errorf("%s: volume %q is never mounted", where, n))
		}
	}
	return errs
}

func (s *manifestSet) claimTemplates(w workload) []string {
	var out []string
	for _, st := range s.StatefulSets {
		if w.Kind == "StatefulSet" && st.Name == w.Name {
			for _, c := range st.Spec.VolumeClaimTemplates {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

func (s *manifestSet) secret(name string) *corev1.Secret {
	i := slices.IndexFunc(s.Secrets, func(x *corev1.Secret) bool { return x.Name == name })
	if i < 0 {
		return nil
	}
	return s.Secrets[i]
}

func (s *manifestSet) checkEnvRefs(where string, c *corev1.Container) []error {
	var errs []error
	for _, e := range c.Env {
		switch vf := e.ValueFrom; {
		case vf == nil:
		case vf.SecretKeyRef != nil && (vf.SecretKeyRef.Optional == nil || !*vf.SecretKeyRef.Optional):
			sec := s.secret(vf.SecretKeyRef.Name)
			if sec == nil || !slices.Contains(secretKeys(sec), vf.SecretKeyRef.Key) {
				errs = append(errs, fmt.Errorf("%s/%s: env %s: Secret %q has no key %q", where, c.Name, e.Name, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key))
			}
		case vf.ConfigMapKeyRef != nil && (vf.ConfigMapKeyRef.Optional == nil || !*vf.ConfigMapKeyRef.Optional):
			keys, _ := s.configMapKeys(vf.ConfigMapKeyRef.Name)
			if !slices.Contains(keys, vf.ConfigMapKeyRef.Key) {
				errs = append(errs, fmt.Errorf("%s/%s: env %s: ConfigMap %q has no key %q", where, c.Name, e.Name, vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key))
			}
		}
	}
	return errs
}

// checkServices: each Service selects a workload and targets its ports.
func (s *manifestSet) checkServices() []error {
	var errs []error
	for _, svc := range s.Services {
		ws := s.selected(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		if len(ws) == 0 {
			errs = append(errs, fmt.Errorf("Service %s: selector %v matches no workload", svc.Name, svc.Spec.Selector))
			continue
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			for _, w := range ws {
				if !hasPort(runningContainers(w.Pod), target) {
					errs = append(errs, fmt.Errorf("Service %s: port %s targetPort %s is not a container port of %s", svc.Name, p.Name, target.String(), w.Name))
				}
			}
		}
	}
	return errs
}

func (s *manifestSet) checkPDBsAndHPAs() []error {
	var errs []error
	for _, pdb := range s.PDBs {
		if len(s.selected(pdb.Spec.Selector)) == 0 {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: selector matches no workload", pdb.Name))
		}
	}
	for _, h := range s.HPAs {
		ref := h.Spec.ScaleTargetRef
		i := slices.IndexFunc(s.workloads(), func(w workload) bool { return w.Kind == ref.Kind && w.Name == ref.Name })
		if i < 0 || ref.APIVersion != "apps/v1" {
			errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: scaleTargetRef %s %s/%s does not exist", h.Name, ref.APIVersion, ref.Kind, ref.Name))
			continue
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: want 2 <= minReplicas <= maxReplicas", h.Name))
		}
		for _, m := range h.Spec.Metrics {
			if m.Resource == nil {
				continue
			}
			// Utilization is relative to requests: every container needs one.
			for _, c := range runningContainers(s.workloads()[i].Pod) {
				if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
					errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: container %s requests no %s", h.Name, c.Name, m.Resource.Name))
				}
			}
		}
	}
	return errs
}

// checkNetworkPolicies: policies select pods, open ports those pods have, and
// in-namespace peers exist and listen where egress points.
func (s *manifestSet) checkNetworkPolicies() []error {
	var errs []error
	for _, np := range s.NetworkPolicies {
		ws := s.selected(&np.Spec.PodSelector)
		if len(ws) == 0 {
			errs = append(errs, fmt.Errorf("NetworkPolicy %s: podSelector matches no workload", np.Name))
		}
		for _, in := range np.Spec.Ingress {
			errs = append(errs, s.checkPolicyPorts(np.Name, "ingress", ws, in.Ports)...)
			errs = append(errs, s.checkPeers(np.Name, in.From, nil)...)
		}
		for _, out := range np.Spec.Egress {
			errs = append(errs, s.checkPeers(np.Name, out.To, out.Ports)...)
		}
	}
	return errs
}

func (s *manifestSet) checkPolicyPorts(policy, dir string, ws []workload, ports []networkingv1.NetworkPolicyPort) []error {
	var errs []error
	for _, p := range ports {
		if p.Port == nil {
			continue
		}
		for _, w := range ws {
			if !hasPort(runningContainers(w.Pod), *p.Port) {
				errs = append(errs, fmt.Errorf("NetworkPolicy %s: %s port %s is not a port of %s", policy, dir, p.Port.String(), w.Name))
			}
		}
	}
	return errs
}

// checkPeers: a peer given by podSelector alone means pods of this namespace,
// which must exist and, for egress, have the ports.
func (s *manifestSet) checkPeers(policy string, peers []networkingv1.NetworkPolicyPeer, egressPorts []networkingv1.NetworkPolicyPort) []error {
	var errs []error
	for _, peer := range peers {
		if peer.PodSelector == nil || peer.NamespaceSelector != nil {
			continue
		}
		ws := s.selected(peer.PodSelector)
		if len(ws) == 0 {
			errs = append(errs, fmt.Errorf("NetworkPolicy %s: peer podSelector %v matches no workload", policy, peer.PodSelector.MatchLabels))
		}
		errs = append(errs, s.checkPolicyPorts(policy, "egress", ws, egressPorts)...)
	}
	return errs
}

// checkHardening: every container meets the "restricted" Pod Security
// Standard the namespace enforces, and has requests and limits.
func checkHardening(w workload) []error {
	var errs []error
	pod := w.Pod
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		errs = append(errs, fmt.Errorf("%s: automountServiceAccountToken must be false", w.Name))
	}
	podSC := pod.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	for _, c := range allContainers(pod) {
		where := w.Name + "/" + c.Name
		sc := c.SecurityContext
		if sc == nil {
			errs = append(errs, fmt.Errorf("%s: no securityContext", where))
			continue
		}
		nonRoot := sc.RunAsNonRoot != nil && *sc.RunAsNonRoot || sc.RunAsNonRoot == nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = podSC.SeccompProfile
		}
		switch {
		case !nonRoot:
			errs = append(errs, fmt.Errorf("%s: runAsNonRoot is not set", where))
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			errs = append(errs, fmt.Errorf("%s: allowPrivilegeEscalation must be false", where))
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			errs = append(errs, fmt.Errorf("%s: readOnlyRootFilesystem must be true", where))
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			errs = append(errs, fmt.Errorf("%s: capabilities must drop ALL and add none", where))
		case seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault:
			errs = append(errs, fmt.Errorf("%s: seccompProfile must be RuntimeDefault", where))
		}
		errs = append(errs, checkResources(where, c.Resources)...)
	}
	return errs
}

func checkResources(where string, r corev1.ResourceRequirements) []error {
	var errs []error
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := r.Requests[res]
		lim, okLim := r.Limits[res]
		if !okReq || !okLim || req.IsZero() || req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s: %s needs a request no larger than its limit", where, res))
		}
	}
	return errs
}

// mountFor finds the volume and the key behind a file path in a container.
func mountFor(pod *corev1.PodSpec, c *corev1.Container, file string) (corev1.VolumeMount, *corev1.Volume, string, error) {
	for _, m := range c.VolumeMounts {
		if filepath.Dir(file) != filepath.Clean(m.MountPath) {
			continue
		}
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == m.Name {
				return m, &pod.Volumes[i], filepath.Base(file), nil
			}
		}
	}
	return corev1.VolumeMount{}, nil, "", fmt.Errorf("container %s: no volume is mounted at %s", c.Name, filepath.Dir(file))
}
