package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/diff"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/policies"
	"github.com/gate-ops/gate/rego"
)

// TestOptions tune RunTests.
type TestOptions struct {
	// Coverage collects line coverage of the Rego policy files.
	Coverage bool
	// Filter is a regular expression on Rego test names (opa test --run).
	Filter string
	// Builtin runs the built-in library's own tests as well.
	Builtin bool
	// Timeout bounds each test and each evaluation; 0 means 10 seconds.
	Timeout time.Duration
	// Data are data files or directories loaded under data, the way
	// policies.data is in gate check (conftest verify --data).
	Data []TestDir
	// NoStrict compiles without OPA's strict mode (policies.strict: false).
	NoStrict bool
}

// CaseResult is one case of a Gatekeeper test suite.
type CaseResult struct {
	Suite string `json:"suite"`
	Test  string `json:"test"`
	Case  string `json:"case"`
	File  string `json:"file"`
	Line  int    `json:"line,omitempty"`
	Pass  bool   `json:"pass"`
	Err   string `json:"error,omitempty"`
}

// TestReport is the outcome of `gate policy test`.
type TestReport struct {
	Rego   *rego.TestReport `json:"rego,omitempty"`
	Suites []CaseResult     `json:"suites,omitempty"`
	// Problems are policies or suites that could not be loaded.
	Problems []checks.Finding `json:"problems,omitempty"`
}

// Failed counts failing tests, cases and problems.
func (r *TestReport) Failed() int {
	n := len(r.Problems)
	if r.Rego != nil {
		n += r.Rego.Failed()
	}
	for _, c := range r.Suites {
		if !c.Pass {
			n++
		}
	}
	return n
}

// Total counts tests and cases run.
func (r *TestReport) Total() int {
	n := len(r.Suites)
	if r.Rego != nil {
		n += len(r.Rego.Results)
	}
	return n
}

// TestDir is a directory of policies and their tests. Prefix is how its
// files are named in the report (the path the user typed).
type TestDir struct {
	Src    source.Source
	Dir    string
	Prefix string
}

// RunTests runs the Rego unit tests (*_test.rego) of dirs the way opa test
// does, with gate's capabilities, and every Gatekeeper test suite
// (kind: Suite, the gator format) found in them.
func RunTests(ctx context.Context, dirs []TestDir, opts TestOptions) *TestReport {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	rep := &TestReport{}
	var files []rego.File
	set := &fileSet{data: map[string]any{}}
	var suites []policyFile
	for _, d := range dirs {
		rf, ss := rep.collectTestDir(d, set)
		files, suites = append(files, rf...), append(suites, ss...)
	}
	for _, d := range opts.Data {
		rep.Problems = append(rep.Problems, loadData(set, d.Src, d.Dir, d.Prefix)...)
	}
	builtinFiles := policies.Policies()
	if opts.Builtin {
		builtinFiles = append(builtinFiles, policies.Tests()...)
	}
	for _, f := range builtinFiles {
		if opts.Builtin || strings.HasPrefix(f.Path, "lib/") {
			files = append(files, rego.File{Path: policies.Dir + "/" + f.Path, Src: f.Data})
		}
	}
	if hasTests(files) {
		tr, probs := rego.RunTests(ctx, files, rego.TestOptions{Coverage: opts.Coverage, Timeout: opts.Timeout, Filter: opts.Filter, Data: set.data, NoStrict: opts.NoStrict})
		rep.Problems = append(rep.Problems, problemFindings(probs)...)
		if tr != nil && !opts.Builtin {
			// Coverage of the shared library is not the user's business.
			kept := tr.Coverage[:0]
			for _, c := range tr.Coverage {
				if !strings.HasPrefix(c.File, policies.Dir+"/") {
					kept = append(kept, c)
				}
			}
			tr.Coverage = kept
		}
		rep.Rego = tr
	}
	for _, s := range suites {
		rep.Suites = append(rep.Suites, runSuite(ctx, s, dirs, opts)...)
	}
	checks.SortFindings(rep.Problems)
	return rep
}

// collectTestDir gathers one test directory (or bundle archive): its
// Rego files, its data into set and its Gatekeeper suites; what cannot be
// read is a problem on rep.
func (rep *TestReport) collectTestDir(d TestDir, set *fileSet) (files []rego.File, suites []policyFile) {
	if fi, err := d.Src.Stat(d.Dir); err == nil && !fi.IsDir() && IsBundle(d.Dir) {
		entries, v0, finds := bundleEntries(d.Src, d.Dir, d.Prefix)
		rep.Problems = append(rep.Problems, finds...)
		for _, e := range entries {
			switch {
			case strings.HasSuffix(e.name, ".rego"):
				rf := rego.File{Path: e.path, Src: e.data}
				if v0 {
					rf.Version = ast.RegoV0
				}
				files = append(files, rf)
			case isDataFile(e.name):
				rep.Problems = append(rep.Problems, addData(set, policyFile{path: e.path, data: e.data}, dataRel(e.name))...)
			}
		}
		return files, suites
	}
	err := source.Walk(d.Src, d.Dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			rep.Problems = append(rep.Problems, loadFinding(display(d.Prefix, p), 0, err.Error()))
			return nil
		}
		if de.IsDir() {
			return nil
		}
		base := path.Base(p)
		isData := base == "data.json" || base == "data.yaml" || base == "data.yml"
		if !strings.HasSuffix(p, ".rego") && !isData && !isYAML(p) {
			return nil
		}
		b, err := d.Src.ReadFile(p)
		if err != nil {
			rep.Problems = append(rep.Problems, loadFinding(display(d.Prefix, p), 0, err.Error()))
			return nil
		}
		pf := policyFile{path: display(d.Prefix, p), data: b}
		switch {
		case strings.HasSuffix(p, ".rego"):
			files = append(files, rego.File{Path: pf.path, Src: b})
		case isData:
			rel := strings.Trim(strings.TrimPrefix(path.Dir(p), strings.TrimSuffix(d.Dir, "/")), "/")
			rep.Problems = append(rep.Problems, addData(set, pf, rel)...)
		case isSuite(b):
			suites = append(suites, pf)
		}
		return nil
	})
	if err != nil {
		rep.Problems = append(rep.Problems, loadFinding(display(d.Prefix, d.Dir), 0, fmt.Sprintf("cannot read policy directory: %v", err)))
	}
	return files, suites
}

func hasTests(files []rego.File) bool {
	for _, f := range files {
		if strings.HasSuffix(f.Path, "_test.rego") {
			return true
		}
	}
	return false
}

var suiteKindRe = regexp.MustCompile(`(?m)^kind:\s*Suite\s*$`)

func isSuite(b []byte) bool { return suiteKindRe.Match(b) }

// suite is gator's test suite format.
type suite struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Tests []struct {
		Name       string `json:"name"`
		Template   string `json:"template"`
		Constraint string `json:"constraint"`
		Cases      []struct {
			Name       string `json:"name"`
			Object     string `json:"object"`
			Assertions []struct {
				Violations any    `json:"violations"`
				Message    string `json:"message"`
			} `json:"assertions"`
		} `json:"cases"`
	} `json:"tests"`
}

// runSuite runs the cases of one gator suite file. Paths in the suite are
// relative to its directory.
func runSuite(ctx context.Context, pf policyFile, dirs []TestDir, opts TestOptions) []CaseResult {
	var s suite
	docs, err := render.ParseDocs(pf.path, pf.data, render.DefaultLimits())
	if err != nil || len(docs) == 0 {
		return []CaseResult{{Suite: pf.path, File: pf.path, Err: fmt.Sprintf("cannot read suite: %v", err)}}
	}
	if err := docs[0].Node.Decode(&yamlSuite{&s}); err != nil {
		return []CaseResult{{Suite: pf.path, File: pf.path, Line: docs[0].Line, Err: fmt.Sprintf("cannot read suite: %v", err)}}
	}
	read := func(rel string) (policyFile, error) {
		for _, d := range dirs {
			full := path.Join(path.Dir(strings.TrimPrefix(pf.path, d.Prefix+"/")), rel)
			if d.Prefix == "" {
				full = path.Join(path.Dir(pf.path), rel)
			}
			if b, err := d.Src.ReadFile(full); err == nil {
				return policyFile{path: display(d.Prefix, full), data: b}, nil
			}
		}
		return policyFile{}, fmt.Errorf("%s: not found next to the suite", rel)
	}
	name := s.Metadata.Name
	if name == "" {
		name = pf.path
	}
	var out []CaseResult
	for _, t := range s.Tests {
		fail := func(msg string) {
			out = append(out, CaseResult{Suite: name, Test: t.Name, File: pf.path, Err: msg})
		}
		tf, err := read(t.Template)
		if err != nil {
			fail("template " + err.Error())
			continue
		}
		cf, err := read(t.Constraint)
		if err != nil {
			fail("constraint " + err.Error())
			continue
		}
		td, cd := parseGatekeeper(tf), parseGatekeeper(cf)
		if len(td.finds) > 0 || len(cd.finds) > 0 {
			for _, f := range append(td.finds, cd.finds...) {
				fail(f.Origin.String() + ": " + f.Message)
			}
			continue
		}
		if len(td.templates) != 1 || len(cd.constraints) != 1 {
			fail(fmt.Sprintf("want one ConstraintTemplate in %s and one constraint in %s", tf.path, cf.path))
			continue
		}
		tpl, con := td.templates[0], cd.constraints[0]
		if tpl.kind != con.kind {
			fail(fmt.Sprintf("constraint kind %s does not match template kind %s", con.kind, tpl.kind))
			continue
		}
		st := &Stage{opts: Options{Timeout: opts.Timeout, Parallelism: 1, Now: time.Now}, cfg: &config.Config{}, queries: map[string]*rego.Query{}, repoGK: map[string]*gkDocs{}}
		for _, c := range t.Cases {
			cr := CaseResult{Suite: name, Test: t.Name, Case: c.Name, File: pf.path}
			msgs, err := st.caseViolations(ctx, tpl, con, read, c.Object)
			if err != nil {
				cr.Err = err.Error()
				out = append(out, cr)
				continue
			}
			cr.Pass, cr.Err = assertCase(msgs, c.Assertions)
			out = append(out, cr)
		}
	}
	return out
}

// yamlSuite decodes a suite through JSON tags.
type yamlSuite struct{ s *suite }

func (y *yamlSuite) UnmarshalYAML(unmarshal func(any) error) error {
	var raw map[string]any
	if err := unmarshal(&raw); err != nil {
		return err
	}
	return roundTrip(raw, y.s)
}

// caseViolations evaluates one object against a constraint the way gator
// does and returns the violation messages.
func (s *Stage) caseViolations(ctx context.Context, tpl *gkTemplate, con *gkConstraint, read func(string) (policyFile, error), object string) ([]string, error) {
	of, err := read(object)
	if err != nil {
		return nil, fmt.Errorf("object %v", err)
	}
	docs, err := render.ParseDocs(of.path, of.data, render.DefaultLimits())
	if err != nil || len(docs) == 0 {
		return nil, fmt.Errorf("object %s: %v", of.path, err)
	}
	var obj map[string]any
	if err := docs[0].Node.Decode(&obj); err != nil {
		return nil, fmt.Errorf("object %s: %v", of.path, err)
	}
	obj = normalizeJSON(obj)
	group, version := checks.ParseAPIVersion(docs[0].APIVersion)
	r := &checks.Resource{ID: checks.ResourceID{Group: group, Version: version, Kind: docs[0].Kind, Namespace: docs[0].Namespace, Name: docs[0].Name}, Object: obj, Origin: checks.Origin{File: of.path, Line: docs[0].Line}}
	res := &render.Result{Env: checks.Env{Name: "test"}, Resources: []*checks.Resource{r}}
	ev := newEvaluation(ctx, s, res.Env, res, nil)
	eg := &envGatekeeper{templates: map[string]*gkTemplate{tpl.kind: tpl}, constraints: []*gkConstraint{con}, nsLabels: map[string]map[string]string{}, undecided: map[string]bool{}}
	if tpl.inventory {
		eg.inventory = inventory(res.Resources)
	}
	v, err := toValue(obj)
	if err != nil {
		return nil, err
	}
	eg.evalResource(ev, 0, v)
	fs := ev.findings()
	// The object may be a Secret (a suite can name the repo's own): its
	// values never reach the report, as in gate check.
	diff.NewScrubber(diff.SecretValues(res.Resources)).ScrubFindings(fs)
	var msgs []string
	for _, f := range fs {
		switch f.RuleID {
		case con.id():
			msgs = append(msgs, strings.TrimPrefix(f.Message, "[dryrun] "))
		case RuleEval, RuleTimeout:
			return nil, fmt.Errorf("%s: %s", f.Origin, f.Message)
		}
	}
	sort.Strings(msgs)
	return msgs, nil
}

// assertCase checks gator assertions: violations yes/no/N, optionally only
// counting messages that match a regular expression.
func assertCase(msgs []string, as []struct {
	Violations any    `json:"violations"`
	Message    string `json:"message"`
}) (bool, string) {
	if len(as) == 0 {
		as = append(as, struct {
			Violations any    `json:"violations"`
			Message    string `json:"message"`
		}{Violations: "yes"})
	}
	for _, a := range as {
		n := 0
		re, err := regexp.Compile(a.Message)
		if err != nil {
			return false, fmt.Sprintf("assertion message %q: %v", a.Message, err)
		}
		for _, m := range msgs {
			if a.Message == "" || re.MatchString(m) {
				n++
			}
		}
		want := fmt.Sprint(a.Violations)
		if a.Violations == nil {
			want = "yes"
		}
		ok := false
		switch strings.ToLower(want) {
		case "yes", "true":
			ok = n > 0
		case "no", "false":
			ok = n == 0
		default:
			w, err := strconv.Atoi(want)
			if err != nil {
				return false, fmt.Sprintf("assertion violations %q: want yes, no or a number", want)
			}
			ok = n == w
		}
		if !ok {
			got := "no violations"
			if len(msgs) > 0 {
				got = fmt.Sprintf("%d violation(s): %s", len(msgs), strings.Join(msgs, "; "))
			}
			what := "violations: " + want
			if a.Message != "" {
				what += fmt.Sprintf(" matching %q", a.Message)
			}
			return false, fmt.Sprintf("want %s, got %s", what, got)
		}
	}
	return true, ""
}

func roundTrip(in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// normalizeJSON gives a decoded YAML object the types a rendered resource
// has (JSON numbers, string-keyed maps).
func normalizeJSON(obj map[string]any) map[string]any {
	var out map[string]any
	b, err := json.Marshal(obj)
	if err != nil {
		return obj
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return obj
	}
	return out
}
