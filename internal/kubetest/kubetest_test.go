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

// TestMissingBinariesFailInCI runs this test binary again with no binaries:
// with CI=true the package must fail, not skip.
func TestMissingBinariesFailInCI(t *testing.T) {
	if os.Getenv("GATE_KUBETEST_CHILD") != "" {
		return
	}
	for _, ci := range []string{"true", ""} {
		cmd := exec.Command(os.Args[0], "-test.run=TestServerAnswersWithItsVersion", "-test.v")
		cmd.Env = append(os.Environ(), EnvBin+"="+t.TempDir(), "CI="+ci, "GATE_KUBETEST_CHILD=1")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case ci == "true" && !errors.As(err, &ee):
			t.Errorf("CI=true without binaries: want a failing exit, got %v\n%s", err, out)
		case ci == "true" && !strings.Contains(string(out), "make kube-bins"):
			t.Errorf("the failure must say how to build the binaries:\n%s", out)
		case ci == "" && (err != nil || !strings.Contains(string(out), "SKIP")):
			t.Errorf("outside CI without binaries: want a skip, got %v\n%s", err, out)
		}
	}
}
