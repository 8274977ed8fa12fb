package checks_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// The engine is the part every front door shares and the part a reviewer of a
// security boundary reads, so it must not grow a CLI, a forge client or a
// network client of its own. Libraries it embeds (Helm, OPA, kubeconform)
// bring net/http along; what gate's own engine code imports is what is held
// here.
var (
	// Never a dependency of a checks package, directly or through another.
	forbiddenDeps = []string{
		"github.com/spf13/cobra",
		"github.com/google/go-github",
		"github.com/palantir/go-githubapp",
		"github.com/gate-ops/gate/internal/",
		"github.com/gate-ops/gate/cmd/",
	}
	// Never imported by gate's own code under checks/.
	forbiddenImports = []string{"net/http", "net/http/httptest", "os/exec"}
)

type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

func listChecks(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/gate-ops/gate/checks/...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found %d packages under checks/, want the engine's packages", len(pkgs))
	}
	return pkgs
}

func TestEngineDependsOnNoFrontDoor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	for _, p := range listChecks(t) {
		for _, d := range p.Deps {
			for _, f := range forbiddenDeps {
				if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
					t.Errorf("%s depends on %s: the engine must not reach front doors or adapters", p.ImportPath, d)
				}
			}
		}
		for _, i := range p.Imports {
			for _, f := range forbiddenImports {
				if i == f {
					t.Errorf("%s imports %s: the engine makes no requests and runs nothing", p.ImportPath, i)
				}
			}
		}
	}
}
