package rego

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// TestOptions tune RunTests.
type TestOptions struct {
	// Coverage collects line coverage of the policy (non-test) files.
	Coverage bool
	// Timeout bounds each test; 0 means 10 seconds.
	Timeout time.Duration
	// Filter is a regular expression on test names, like opa test --run.
	Filter string
	// Data is loaded under data.
	Data map[string]any
	// NoStrict compiles without OPA's strict mode, like CompileOptions.
	NoStrict bool
}

// TestResult is one test_ rule's outcome.
type TestResult struct {
	Package string `json:"package"`
	Name    string `json:"name"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Pass    bool   `json:"pass"`
	Skip    bool   `json:"skip,omitempty"`
	Err     string `json:"error,omitempty"`
	// Duration is in nanoseconds in JSON.
	Duration time.Duration `json:"durationNs"`
}

// CoverageFile is the coverage of one policy file.
type CoverageFile struct {
	File       string `json:"file"`
	Covered    int    `json:"coveredLines"`
	NotCovered int    `json:"notCoveredLines"`
	// NotCoveredLines lists the first line of every uncovered range.
	NotCoveredLines []int   `json:"notCoveredStarts,omitempty"`
	Percent         float64 `json:"percent"`
}

// TestReport is the outcome of RunTests.
type TestReport struct {
	Results  []TestResult   `json:"results"`
	Coverage []CoverageFile `json:"coverage,omitempty"`
	// CoveragePercent is over every policy file, 0 without coverage.
	CoveragePercent float64 `json:"coveragePercent,omitempty"`
}

// Failed counts failed and erroring tests.
func (r *TestReport) Failed() int {
	n := 0
	for _, t := range r.Results {
		if !t.Pass && !t.Skip {
			n++
		}
	}
	return n
}

// RunTests runs the test_ rules of files (policies and *_test.rego together)
// the way `opa test` does, with gate's capabilities: a test cannot call
// http.send either. Compile problems come back as Problems.
func RunTests(ctx context.Context, files []File, opts TestOptions) (*TestReport, []Problem) {
	byID := make(map[string]File, len(files))
	mods := map[string]*ast.Module{}
	var probs []Problem
	v0 := false
	for _, f := range files {
		byID[f.id()] = f
		m, p := Parse(f)
		if p != nil {
			probs = append(probs, *p)
			continue
		}
		if m.RegoVersion() == ast.RegoV0 {
			v0 = true
		}
		mods[f.id()] = m
	}
	if len(probs) > 0 {
		return nil, probs
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	caps := Capabilities()
	runner := tester.NewRunner().
		SetCompiler(newCompiler(caps, !v0 && !opts.NoStrict)).
		SetStore(Store(opts.Data)).
		SetTimeout(timeout).
		RaiseBuiltinErrors(true).
		EnableTracing(true).
		CapturePrintOutput(true).
		SetModules(mods)
	if opts.Filter != "" {
		runner = runner.Filter(opts.Filter)
	}
	var cov *cover.Cover
	if opts.Coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, problems(err, byID)
	}
	rep := &TestReport{}
	for r := range ch {
		tr := TestResult{Package: r.Package, Name: r.Name, Pass: r.Pass(), Skip: r.Skip, Duration: r.Duration}
		if r.Location != nil {
			tr.File, tr.Line = r.Location.File, r.Location.Row
			if f, ok := byID[tr.File]; ok {
				tr.File = f.Path
				tr.Line += f.LineOffset
			}
		}
		switch {
		case r.Error != nil:
			var te *topdown.Error
			if errors.As(r.Error, &te) {
				tr.Err = problems(te, byID)[0].Error()
			} else {
				tr.Err = r.Error.Error()
			}
		case r.Fail:
			tr.Err = "test failed"
			if r.FailedAt != nil && r.FailedAt.Location != nil {
				line := r.FailedAt.Location.Row
				if f, ok := byID[r.FailedAt.Location.File]; ok {
					line += f.LineOffset
				}
				tr.Err = fmt.Sprintf("test failed at line %d: %s", line, r.FailedAt.String())
			}
		}
		rep.Results = append(rep.Results, tr)
	}
	sort.Slice(rep.Results, func(i, j int) bool {
		a, b := rep.Results[i], rep.Results[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	if cov != nil {
		policyMods := map[string]*ast.Module{}
		for id, m := range mods {
			if !isTestFile(id) {
				policyMods[id] = m
			}
		}
		cr := cov.Report(policyMods)
		rep.CoveragePercent = cr.Coverage
		for id, fr := range cr.Files {
			if isTestFile(id) {
				continue
			}
			cf := CoverageFile{File: id, Covered: fr.CoveredLines, NotCovered: fr.NotCoveredLines, Percent: fr.Coverage}
			if f, ok := byID[id]; ok {
				cf.File = f.Path
			}
			for _, rg := range fr.NotCovered {
				if n := len(cf.NotCoveredLines); n == 0 || cf.NotCoveredLines[n-1] != rg.Start.Row {
					cf.NotCoveredLines = append(cf.NotCoveredLines, rg.Start.Row)
				}
			}
			rep.Coverage = append(rep.Coverage, cf)
		}
		sort.Slice(rep.Coverage, func(i, j int) bool { return rep.Coverage[i].File < rep.Coverage[j].File })
	}
	return rep, nil
}

func isTestFile(name string) bool {
	return len(name) > len("_test.rego") && name[len(name)-len("_test.rego"):] == "_test.rego"
}
