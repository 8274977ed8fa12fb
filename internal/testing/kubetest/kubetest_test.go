package kubetest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
)

var server *Server

func TestMain(m *testing.M) { os.Exit(Main(m, &server)) }

func TestServerAnswersWithItsVersion(t *testing.T) {
	s := Need(t, server)
	dc, err := discovery.NewDiscoveryClientForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	// Clients parse this; an unstamped build says v0.0.0-master.
	if v.GitVersion != "v1.33.13" || v.Major != "1" || v.Minor != "33" {
		t.Errorf("server version %+v, want v1.33.13 (1.33): build with make kube-bins", v)
	}
}

func TestTokensAuthenticateAndTLSVerifies(t *testing.T) {
	s := Need(t, server)
	bad := s.ConfigFor(AdminUser)
	bad.BearerToken = "not-a-token"
	dc, err := discovery.NewDiscoveryClientForConfig(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dc.ServerGroups()
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("a request without a valid token must be refused, got %v", err)
	}
	// The kubeconfig names the cluster's CA: plain https without it fails.
	if _, err := http.Get(s.URL + "/readyz"); err == nil {
		t.Error("the serving certificate must not be trusted by default")
	}
}

func TestStopEndsBothProcesses(t *testing.T) {
	Need(t, server)
	s, err := Start(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.procs {
		select {
		case <-p.done:
		default:
			t.Errorf("%s still running after Stop", p.name)
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("a second Stop must be a no-op, got %v", err)
	}
}

// TestMissingBinariesFailInCI runs this test binary again without the
// binaries: when GATE_KUBE_BIN is set (as make test sets it) or CI is set,
// the package must fail, saying how to build them; only a plain run on a
// developer machine, with neither, may skip.
func TestMissingBinariesFailInCI(t *testing.T) {
	if os.Getenv("GATE_KUBETEST_CHILD") != "" {
		return
	}
	empty := t.TempDir()
	var clean []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvBin+"=") && !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			clean = append(clean, kv)
		}
	}
	// An empty user cache: the binaries this machine built are not found.
	clean = append(clean, "XDG_CACHE_HOME="+t.TempDir())
	tests := []struct {
		name string
		env  []string
		fail bool
	}{
		{"GATE_KUBE_BIN set, not CI", []string{EnvBin + "=" + empty}, true},
		{"CI=true", []string{"CI=true"}, true},
		{"CI=1 (other CI systems)", []string{"CI=1"}, true},
		{"GATE_KUBE_BIN set, CI=false", []string{EnvBin + "=" + empty, "CI=false"}, true},
		{"neither", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=TestServerAnswersWithItsVersion", "-test.v")
			cmd.Dir = t.TempDir()
			cmd.Env = append(append(append([]string{}, clean...), tt.env...), "GATE_KUBETEST_CHILD=1")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			switch {
			case tt.fail && !errors.As(err, &ee):
				t.Errorf("want a failing exit, got %v\n%s", err, out)
			case tt.fail && !strings.Contains(string(out), "make kube-bins"):
				t.Errorf("the failure must say how to build the binaries:\n%s", out)
			case !tt.fail && (err != nil || !strings.Contains(string(out), "SKIP") || !strings.Contains(string(out), EnvBin)):
				t.Errorf("without GATE_KUBE_BIN and CI: want a skip naming %s, got %v\n%s", EnvBin, err, out)
			}
		})
	}
}
