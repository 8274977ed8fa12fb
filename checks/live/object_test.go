package live

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitFieldPath(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"spec.selector", []string{"spec", "selector"}},
		{"spec.template.spec.containers[0].image", []string{"spec", "template", "spec", "containers", "0", "image"}},
		{"metadata.labels[app.kubernetes.io/name]", []string{"metadata", "labels", "app.kubernetes.io/name"}},
		{`metadata.annotations["a.b/c"]`, []string{"metadata", "annotations", "a.b/c"}},
		{"spec[", []string{"spec"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := SplitFieldPath(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitFieldPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeDropsServerFieldsAndCopies(t *testing.T) {
	in := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{
			"name": "s", "uid": "u", "resourceVersion": "7", "generation": int64(2), "creationTimestamp": "t",
			"managedFields": []any{map[string]any{"manager": "x"}},
			"annotations":   map[string]any{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"p":"c2VjcmV0"}}`},
			"labels":        map[string]any{"a": "b"},
		},
		"data":   map[string]any{"p": "c2VjcmV0"},
		"status": map[string]any{"x": "y"},
	}
	out := normalize(in)
	want := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "labels": map[string]any{"a": "b"}},
		"data":     map[string]any{"p": "c2VjcmV0"},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("normalize = %v, want %v", out, want)
	}
	if in["status"] == nil || in["metadata"].(map[string]any)["uid"] == nil {
		t.Error("normalize must not modify its input")
	}
}

func TestOverlayKeepsServerDefaultsInNamedItems(t *testing.T) {
	live := map[string]any{"spec": map[string]any{
		"replicas": int64(2),
		"containers": []any{
			map[string]any{"name": "web", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"},
			map[string]any{"name": "side", "image": "busybox"},
		},
	}}
	rendered := map[string]any{"spec": map[string]any{
		"replicas": 3,
		"containers": []any{
			map[string]any{"name": "web", "image": "nginx:2"},
		},
	}}
	got := overlay(deepCopy(live).(map[string]any), rendered)
	want := map[string]any{"spec": map[string]any{
		"replicas": 3,
		"containers": []any{
			map[string]any{"name": "web", "image": "nginx:2", "imagePullPolicy": "IfNotPresent"},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("overlay = %v, want %v", got, want)
	}
}

func TestFirstDifference(t *testing.T) {
	live := map[string]any{"metadata": map[string]any{"name": "w", "labels": map[string]any{"argocd.argoproj.io/instance": "a"}},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "web", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"}}}}}}
	tests := []struct {
		name     string
		rendered map[string]any
		want     string
	}{
		{"same, defaults and extra labels ignored", map[string]any{"metadata": map[string]any{"name": "w"},
			"spec": map[string]any{"replicas": 2, "template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "web", "image": "nginx:1"}}}}}}, ""},
		{"scalar", map[string]any{"spec": map[string]any{"replicas": 5}}, "spec.replicas"},
		{"in a list item", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "web", "image": "nginx:2"}}}}}}, "spec.template.spec.containers.0.image"},
		{"new field", map[string]any{"spec": map[string]any{"paused": true}}, "spec.paused"},
	}
	for _, tt := range tests {
		if got := strings.Join(firstDifference(tt.rendered, live, nil), "."); got != tt.want {
			t.Errorf("%s: firstDifference = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFoldStringData(t *testing.T) {
	obj := map[string]any{"data": map[string]any{"a": "eA=="}, "stringData": map[string]any{"b": "y"}}
	foldStringData(obj)
	want := map[string]any{"data": map[string]any{"a": "eA==", "b": "eQ=="}}
	if !reflect.DeepEqual(obj, want) {
		t.Errorf("foldStringData = %v, want %v", obj, want)
	}
}
