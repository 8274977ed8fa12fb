package policy

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// conftestCase is one policy directory shaped like conftest's own examples
// (examples/exceptions, examples/combine, examples/data,
// examples/strict-rules) and the corners of conftest's engine they rely on
// (an empty exception name excepts the bare rules), written here under testdata/conftest/<dir>: a
// policy/ directory and the inputs under in/.
type conftestCase struct {
	dir string
	// policies is gate.yaml's policies section for the same run.
	policies string
	// args are conftest's flags besides `test -p policy`.
	args []string
	// combine runs conftest once over every input (--combine); its
	// verdict is under "Combined".
	combine bool
	// failOnWarn is conftest --fail-on-warn, gate's --fail-on warning.
	failOnWarn bool
	// conftest is conftest v0.71.1's verdict per input (true: exit code
	// not 0), measured with the binary `make bench-tools` builds.
	conftest map[string]bool
	// exceptions is how many exceptions conftest reports (EXCP lines)
	// over all inputs: gate shows each as a waived finding.
	exceptions int
}

var conftestCases = []conftestCase{
	{dir: "exceptions", conftest: map[string]bool{
		"in/api.yaml": false, "in/mixed.yaml": true, "in/node-agent.yaml": false,
		"in/unlabelled-agent.yaml": true, "in/vendor-db.yaml": false, "in/web.yaml": true,
	}, exceptions: 5},
	{dir: "exceptions", failOnWarn: true, args: []string{"--fail-on-warn"}, conftest: map[string]bool{
		"in/api.yaml": true, "in/mixed.yaml": true, "in/node-agent.yaml": false,
		"in/unlabelled-agent.yaml": true, "in/vendor-db.yaml": false, "in/web.yaml": true,
	}, exceptions: 5},
	{dir: "exceptions-bare", conftest: map[string]bool{
		"in/legacy.yaml": false, "in/legacy-net.yaml": true, "in/plain.yaml": true,
	}, exceptions: 2},
	{dir: "combine", policies: "combine: [main]", args: []string{"--combine"}, combine: true, conftest: map[string]bool{"Combined": true}},
	{dir: "combine-ok", policies: "combine: [main]", args: []string{"--combine"}, combine: true, conftest: map[string]bool{"Combined": false}},
	{dir: "combine-path", policies: "combine: [main]", args: []string{"--combine"}, combine: true, conftest: map[string]bool{"Combined": true}},
	{dir: "data", policies: "data: [data]", args: []string{"-d", "data"}, conftest: map[string]bool{
		"in/rdp.yaml": true, "in/telnet-internal.yaml": false, "in/web.yaml": false,
	}},
	{dir: "lenient", policies: "strict: false", conftest: map[string]bool{
		"in/pair.yaml": false, "in/single.yaml": true,
	}},
}

// conftestSource is a case directory with gate.yaml added: one plain
// environment over in/, the case's policies, no built-in library.
func conftestSource(t *testing.T, dir, policies string) *source.Mem {
	t.Helper()
	root := filepath.Join("testdata", "conftest", dir)
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	gate := "environments:\n  - {name: t, path: in}\npolicies:\n  builtin: off\n  paths: [policy]\n"
	if policies != "" {
		gate += "  " + policies + "\n"
	}
	files["gate.yaml"] = gate
	return source.NewMem("worktree", files)
}

// TestConftestCompatibility: the same policy directory and inputs give
// the same pass/fail per file in gate as in conftest v0.71.1. With
// GATE_CONFTEST_BIN set (bin/conftest from `make bench-tools`), conftest
// itself is run too and must still say what the table says.
func TestConftestCompatibility(t *testing.T) {
	bin := os.Getenv("GATE_CONFTEST_BIN")
	for _, tc := range conftestCases {
		name := tc.dir
		if tc.failOnWarn {
			name += "/fail-on-warn"
		}
		t.Run(name, func(t *testing.T) {
			src := conftestSource(t, tc.dir, tc.policies)
			cfg := mustConfig(t, src)
			st := mustLoad(t, src, cfg, testOpts())
			finds := check(t, st, renderAll(t, src, cfg)[0], nil)
			threshold := checks.SeverityError
			if tc.failOnWarn {
				threshold = checks.SeverityWarning
			}
			inputs, _ := fs.Glob(src, "in/*.yaml")
			got := map[string]bool{}
			if tc.combine {
				got["Combined"] = checks.Failing(finds, threshold)
			} else {
				for _, in := range inputs {
					var mine []checks.Finding
					for _, f := range finds {
						if f.Origin.File == in {
							mine = append(mine, f)
						}
					}
					got[in] = checks.Failing(mine, threshold)
				}
			}
			if len(got) != len(tc.conftest) {
				t.Fatalf("the table names %d inputs, the case has %d", len(tc.conftest), len(got))
			}
			for in, want := range tc.conftest {
				if got[in] != want {
					t.Errorf("%s: gate fails=%v, conftest v0.71.1 fails=%v; gate's findings:%s", in, got[in], want, dump(finds))
				}
			}
			waived := 0
			for _, f := range finds {
				if f.Waived != "" {
					waived++
					if !strings.HasPrefix(f.Waived, "conftest exception: data.main.exception contains ") || !strings.Contains(f.Waived, "(policy/") || !strings.Contains(f.Waived, ".rego:") {
						t.Errorf("waived finding does not name the exception: %q", f.Waived)
					}
				}
			}
			if waived != tc.exceptions {
				t.Errorf("%d waived findings, conftest reports %d exceptions:%s", waived, tc.exceptions, dump(finds))
			}
			if bin == "" {
				return
			}
			runs := map[string][]string{}
			if tc.combine {
				runs["Combined"] = inputs
			} else {
				for _, in := range inputs {
					runs[in] = []string{in}
				}
			}
			for key, files := range runs {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				args := append(append([]string{"test", "--no-color", "-p", "policy"}, tc.args...), files...)
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Dir = filepath.Join("testdata", "conftest", tc.dir)
				out, err := cmd.CombinedOutput()
				cancel()
				if _, ok := err.(*exec.ExitError); err != nil && !ok {
					t.Fatalf("conftest %v: %v", args, err)
				}
				if fails := err != nil; fails != tc.conftest[key] {
					t.Errorf("conftest %s now says fails=%v, the table %v:\n%s", strings.Join(args, " "), fails, tc.conftest[key], out)
				}
			}
		})
	}
}

// TestConftestStrictByDefault: without policies.strict: false, the
// non-strict policy does not load, on the lines conftest --strict names
// (policy/lenient.rego:6, 7 and 13).
func TestConftestStrictByDefault(t *testing.T) {
	src := conftestSource(t, "lenient", "")
	cfg := mustConfig(t, src)
	_, finds := loadStage(t, src, cfg, testOpts())
	var lines []string
	for _, f := range finds {
		if f.RuleID != RuleLoad || f.Severity != checks.SeverityError {
			t.Errorf("unexpected finding: %s", f)
		}
		lines = append(lines, f.Origin.String())
	}
	sort.Strings(lines)
	if strings.Join(lines, " ") != "policy/lenient.rego:13 policy/lenient.rego:6 policy/lenient.rego:7" {
		t.Errorf("load findings at %v, want policy/lenient.rego:6, :7 and :13:%s", lines, dump(finds))
	}
}

// TestPolicyTestLoadsData: `gate policy test` loads data files the way
// `conftest verify -d data` does; without them the data-driven test fails
// in both.
func TestPolicyTestLoadsData(t *testing.T) {
	src := conftestSource(t, "data", "")
	dirs := []TestDir{{Src: src, Dir: "policy"}}
	with := RunTests(context.Background(), dirs, TestOptions{Data: []TestDir{{Src: src, Dir: "data"}}})
	if with.Failed() != 0 || with.Total() != 2 {
		t.Errorf("with data: %d of %d failed: %+v %s", with.Failed(), with.Total(), with.Rego, dump(with.Problems))
	}
	without := RunTests(context.Background(), dirs, TestOptions{})
	if without.Failed() != 1 || without.Rego == nil {
		t.Fatalf("without data: %d failed, want 1 (test_telnet_is_blocked)", without.Failed())
	}
	for _, r := range without.Rego.Results {
		if pass := r.Name != "test_telnet_is_blocked"; r.Pass != pass {
			t.Errorf("without data: %s pass=%v", r.Name, r.Pass)
		}
	}
	file := RunTests(context.Background(), dirs, TestOptions{Data: []TestDir{{Src: src, Dir: path.Join("data", "blocked.yaml")}}})
	if file.Failed() != 0 {
		t.Errorf("a data file (not a directory): %d failed", file.Failed())
	}
}

// TestCombineNamesAMissingPackage: policies.combine naming a package no
// policy declares is a warning on gate.yaml's policies line, not a silent
// pass.
func TestCombineNamesAMissingPackage(t *testing.T) {
	src := conftestSource(t, "combine-ok", "combine: [main, teams]")
	cfg := mustConfig(t, src)
	_, finds := loadStage(t, src, cfg, testOpts())
	if len(finds) != 1 || finds[0].Severity != checks.SeverityWarning || finds[0].Origin.String() != "gate.yaml:3" || !strings.Contains(finds[0].Message, `policies.combine names package "teams"`) {
		t.Fatalf("load findings:%s", dump(finds))
	}
}
