package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Pod is the typed subset of a v1 Pod that policies usually read. Fields it
// does not model are ignored when decoding; mutate through Object instead.
type Pod struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       PodSpec    `json:"spec"`
}

// ObjectMeta is the subset of metav1.ObjectMeta plugins read.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PodSpec is the subset of v1.PodSpec plugins read.
type PodSpec struct {
	HostNetwork         bool        `json:"hostNetwork,omitempty"`
	HostPID             bool        `json:"hostPID,omitempty"`
	HostIPC             bool        `json:"hostIPC,omitempty"`
	Containers          []Container `json:"containers"`
	InitContainers      []Container `json:"initContainers,omitempty"`
	EphemeralContainers []Container `json:"ephemeralContainers,omitempty"`
	Volumes             []Volume    `json:"volumes,omitempty"`
	PriorityClassName   string      `json:"priorityClassName,omitempty"`
}

// Container is the subset of v1.Container plugins read.
type Container struct {
	Name            string           `json:"name"`
	Image           string           `json:"image"`
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
	Resources       Resources        `json:"resources,omitempty"`
}

// SecurityContext is the subset of v1.SecurityContext plugins read.
type SecurityContext struct {
	Privileged               *bool         `json:"privileged,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities `json:"capabilities,omitempty"`
}

// Capabilities are added and dropped Linux capabilities.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Resources are a container's requests and limits.
type Resources struct {
	Limits   map[string]Quantity `json:"limits,omitempty"`
	Requests map[string]Quantity `json:"requests,omitempty"`
}

// Quantity is a Kubernetes quantity as written ("500m", "1Gi", 2).
type Quantity string

// UnmarshalJSON accepts both the string and the number form.
func (q *Quantity) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*q = Quantity(s)
		return nil
	}
	if _, err := strconv.ParseFloat(string(data), 64); err != nil {
		return fmt.Errorf("quantity %s: not a string or number", data)
	}
	*q = Quantity(data)
	return nil
}

// Volume is the subset of v1.Volume plugins read.
type Volume struct {
	Name     string          `json:"name"`
	HostPath *HostPathVolume `json:"hostPath,omitempty"`
}

// HostPathVolume is a hostPath volume source.
type HostPathVolume struct {
	Path string `json:"path"`
	Type string `json:"type,omitempty"`
}

// AllContainers returns the regular, init and ephemeral containers, each with
// the field path prefix that locates it (e.g. "spec.initContainers[1]").
func (s *PodSpec) AllContainers() []ContainerRef {
	var refs []ContainerRef
	add := func(field string, list []Container) {
		for i := range list {
			refs = append(refs, ContainerRef{Field: fmt.Sprintf("spec.%s[%d]", field, i), Container: &list[i]})
		}
	}
	add("containers", s.Containers)
	add("initContainers", s.InitContainers)
	add("ephemeralContainers", s.EphemeralContainers)
	return refs
}

// ContainerRef is a container and its field path.
type ContainerRef struct {
	Field     string
	Container *Container
}

// Object is a manifest as a generic JSON tree, for mutations that must keep
// every field, including those Pod does not model.
type Object map[string]any

// ParseObject decodes a JSON object, keeping numbers exact.
func ParseObject(data []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj Object
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if obj == nil {
		return nil, fmt.Errorf("decode manifest: not a JSON object")
	}
	return obj, nil
}

// Get returns the value at path, if every step is an object key.
func (o Object) Get(path ...string) (any, bool) {
	var cur any = map[string]any(o)
	for _, key := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[key]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// GetString returns the string at path, or "" if there is none.
func (o Object) GetString(path ...string) string {
	v, _ := o.Get(path...)
	s, _ := v.(string)
	return s
}

// Set stores value at path, creating intermediate objects (and replacing
// non-object values on the way).
func (o Object) Set(value any, path ...string) {
	if len(path) == 0 {
		return
	}
	cur := map[string]any(o)
	for _, key := range path[:len(path)-1] {
		next, ok := cur[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[key] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = value
}
