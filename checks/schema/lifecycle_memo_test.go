package schema

import "testing"

// The memo answers as the scan does, for every version asked, in any order:
// a key without the version would hand 1.34's answer to 1.37.
func TestAPILifecycleMemoAnswersAsTheScan(t *testing.T) {
	s, _, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := [][2]string{
		{"policy/v1beta1", "PodDisruptionBudget"},
		{"flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema"},
		{"apps/v1", "Deployment"},
		{"batch/v1beta1", "CronJob"},
		{"autoscaling/v2beta2", "HorizontalPodAutoscaler"},
		{"resource.k8s.io/v1beta1", "DeviceClass"},
		{"storage.k8s.io/v1beta1", "VolumeAttributesClass"},
		{"storagemigration.k8s.io/v1beta1", "StorageVersionMigration"},
		{"certificates.k8s.io/v1", "PodCertificateRequest"},
		{"apps/v1", "NoSuchKind"},
		{"example.com/v1", "Widget"},
	}
	versions := s.bundles.Versions()
	differ := 0
	for round := 0; round < 2; round++ {
		for i := range versions {
			// Alternate the order so each version is asked first once.
			m := versions[i]
			if round == 1 {
				m = versions[len(versions)-1-i]
			}
			v, err := s.bundles.Resolve(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range kinds {
				got, gotKnown := s.apiLifecycle(v, k[0], k[1])
				want, wantKnown := s.lifecycleOf(v, k[0], k[1])
				if got != want || gotKnown != wantKnown {
					t.Errorf("%s %s/%s: memo %+v %v, scan %+v %v", m, k[0], k[1], got, gotKnown, want, wantKnown)
				}
				if first, _ := s.lifecycleOf(mustResolve(t, s, versions[0]), k[0], k[1]); first != want {
					differ++
				}
			}
		}
	}
	if differ == 0 {
		t.Fatal("no kind's lifecycle differs between the embedded versions: the test cannot tell versions apart")
	}
}

func mustResolve(t *testing.T, s *Stage, m string) *k8sVersion {
	t.Helper()
	v, err := s.bundles.Resolve(m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
