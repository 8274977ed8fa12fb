package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/fieldrows"
)

// rowSources is the row's head and base (see fieldrows.Sources).
func rowSources(row fieldrows.Row) (head, base source.Source) {
	h, b := fieldrows.Sources(row)
	return source.NewMem("head", h), source.NewMem("base", b)
}

func runRow(t *testing.T, row fieldrows.Row) *checks.Report {
	t.Helper()
	head, base := rowSources(row)
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	st, finds, err := schema.New(schema.Options{Config: cfg.Schemas, Source: base})
	if err != nil || len(finds) > 0 {
		t.Fatalf("schema stage: %v %v", err, finds)
	}
	ps, pfinds := policy.Load(context.Background(), base, cfg, policy.Options{DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
	if len(pfinds) > 0 {
		t.Fatalf("policy stage: %v", pfinds)
	}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg, Stages: []engine.Stage{st, ps}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestFieldOrigins: for every kustomize feature that sets a field, a schema
// finding, a policy finding and a diff entry on that field land on the line
// of the feature that last set it, in the report and in the App's check-run
// annotations.
func TestFieldOrigins(t *testing.T) {
	for _, row := range fieldrows.Rows {
		t.Run(row.Name, func(t *testing.T) {
			if (row.SchemaAt == "" || row.PolicyAt == "" || row.DiffAt == "" && row.IdentityAt == "") && row.Why == "" {
				t.Errorf("row %q leaves a column empty and does not say why", row.Name)
			}
			rep := runRow(t, row)
			kind := row.Kind
			if kind == "" {
				kind = "Deployment"
			}
			if len(rep.Envs) != 1 {
				t.Fatalf("%d environments", len(rep.Envs))
			}
			er := &rep.Envs[0]
			for _, f := range er.Findings {
				if f.Check == "render" {
					t.Fatalf("render finding: %s", f)
				}
			}
			cr := report.EnvCheckRun(rep, er, report.CheckRunOptions{})
			var anns []report.Annotation
			for _, b := range cr.Batches {
				anns = append(anns, b...)
			}
			check := func(what, check, path, want string) {
				if want == "" {
					return
				}
				var got []string
				for _, f := range er.Findings {
					if f.Check != check || f.Resource == nil || f.Resource.Kind != kind || f.Path != path {
						continue
					}
					got = append(got, f.Origin.String())
					if f.Origin.String() == want && !f.Origin.Approximate {
						// The same finding as an App annotation.
						for _, a := range anns {
							if a.Path == f.Origin.File && a.StartLine == f.Origin.Line && strings.Contains(a.Message, path) {
								return
							}
						}
						t.Errorf("%s finding at %s has no check-run annotation there: %+v", what, want, anns)
						return
					}
				}
				t.Errorf("%s finding on %s %s at %v, want %s; findings:\n%s", what, kind, path, got, want, findingList(er.Findings))
			}
			check("schema", "schema", row.SchemaPath, row.SchemaAt)
			check("policy", "policy", row.PolicyPath, row.PolicyAt)
			if row.DiffAt != "" {
				var got []string
				ok := false
				if er.Diff != nil {
					for _, c := range er.Diff.Changes {
						if c.ID.Kind == kind && c.Action == checks.ActionChanged {
							got = append(got, c.Origin.String())
							ok = ok || c.Origin.String() == row.DiffAt && !c.Origin.Approximate
						}
					}
				}
				if !ok {
					t.Errorf("diff entry of %s at %v, want %s", kind, got, row.DiffAt)
				}
			}
			if row.IdentityAt != "" {
				var got []string
				actions := map[string]bool{}
				if er.Diff != nil {
					for _, c := range er.Diff.Changes {
						if c.ID.Kind != kind {
							continue
						}
						got = append(got, c.Action+" "+c.ID.String()+" at "+c.Origin.String())
						if c.Origin.String() == row.IdentityAt && !c.Origin.Approximate {
							actions[c.Action] = true
						}
					}
				}
				if len(got) != 2 || !actions[checks.ActionRemoved] || !actions[checks.ActionAdded] {
					t.Errorf("diff entries of %s: %v; want one removal and one addition, both at %s", kind, got, row.IdentityAt)
				}
			}
		})
	}
}

func findingList(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + " [" + f.Path + "]\n")
	}
	return b.String()
}

// TestCorpusFindingLines: for every finding of the testdata corpus (and of
// every TestFieldOrigins row) on a field, the line it names mentions the
// field (its last path element), or its value (for an image, its tag,
// digest or name), or the origin says it is approximate. No finding points
// at a line that does not hold what it speaks of with confidence.
func TestCorpusFindingLines(t *testing.T) {
	type corpus struct {
		name string
		src  source.Source
	}
	var corpora []corpus
	for _, dir := range []string{"../../testdata/example", "../../testdata/overlay-repo", "../../testdata/schema/crd-repo", "../../testdata/argocd", "../../testdata/flux/fleet"} {
		src, err := source.OpenDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		corpora = append(corpora, corpus{dir, src})
	}
	for _, row := range fieldrows.Rows {
		head, _ := rowSources(row)
		corpora = append(corpora, corpus{"row " + row.Name, head})
	}
	checked, approximate, approxChecked, noField, noLine := 0, 0, 0, 0, 0
	for _, c := range corpora {
		cfg, _, err := config.Load(c.src, "")
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := schema.New(schema.Options{Config: cfg.Schemas, Source: c.src})
		if err != nil {
			t.Fatal(err)
		}
		ps, _ := policy.Load(context.Background(), c.src, cfg, policy.Options{DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
		req := &engine.Request{Head: c.src, Config: cfg, Stages: []engine.Stage{st, ps}}
		rep, err := engine.Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		results, _, err := engine.RenderEnvs(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		objects := map[string]map[string]any{}
		for _, r := range results {
			for _, res := range r.Resources {
				objects[r.Env.Name+"|"+res.ID.String()] = res.Object
			}
		}
		for _, f := range rep.AllFindings() {
			switch {
			case f.Path == "" || f.Resource == nil:
				noField++
				continue
			case f.Origin.Line <= 0:
				noLine++
				continue
			}
			obj := objects[f.Env+"|"+f.Resource.String()]
			segs := pathSegments(f.Path)
			if f.Origin.Approximate {
				approximate++
				// A field the object lacks lands on its nearest present
				// ancestor: that line must mention the ancestor (its key,
				// or a list item's name) or start the list item.
				if _, ok := valueAt(obj, segs); ok {
					continue
				}
				anc := segs[:len(segs)-1]
				for len(anc) > 0 {
					if _, ok := valueAt(obj, anc); ok {
						break
					}
					anc = anc[:len(anc)-1]
				}
				if len(anc) == 0 {
					continue
				}
				line, err := lineAt(c.src, f.Origin)
				if err != nil {
					t.Errorf("%s: %s: %v", c.name, f, err)
					continue
				}
				var words []string
				if _, err := strconv.Atoi(anc[len(anc)-1]); err == nil {
					v, _ := valueAt(obj, anc)
					if m, ok := v.(map[string]any); ok {
						if n, ok := m["name"].(string); ok {
							words = append(words, n)
						}
					}
					words = append(words, anc[len(anc)-2])
				} else {
					words = append(words, anc[len(anc)-1])
				}
				approxChecked++
				// A list item's first line is the item, whatever its
				// first key.
				_, err = strconv.Atoi(anc[len(anc)-1])
				ok := err == nil && strings.HasPrefix(strings.TrimSpace(line), "- ")
				for _, w := range words {
					ok = ok || strings.Contains(line, w)
				}
				if !ok {
					t.Errorf("%s: %s\n  names %s:%d %q (approximate), which mentions none of %q, the nearest present ancestor %s", c.name, f, f.Origin.File, f.Origin.Line, line, words, strings.Join(anc, "."))
				}
				continue
			}
			b, err := c.src.ReadFile(f.Origin.File)
			if err != nil {
				t.Errorf("%s: %s: %v", c.name, f, err)
				continue
			}
			lines := strings.Split(string(b), "\n")
			if f.Origin.Line > len(lines) {
				t.Errorf("%s: %s: line past the end of the file", c.name, f)
				continue
			}
			line := lines[f.Origin.Line-1]
			last := ""
			for i := len(segs) - 1; i >= 0 && last == ""; i-- {
				if _, err := strconv.Atoi(segs[i]); err != nil {
					last = segs[i]
				}
			}
			var words []string
			if last != "" {
				words = append(words, last)
			}
			if v, ok := valueAt(obj, segs); ok {
				switch x := v.(type) {
				case string:
					words = append(words, x)
					if last == "image" {
						words = append(words, strings.FieldsFunc(x, func(r rune) bool { return r == ':' || r == '@' || r == '/' })...)
					}
				case map[string]any, []any:
				default:
					words = append(words, fmt.Sprint(x))
				}
			}
			checked++
			ok := false
			for _, w := range words {
				ok = ok || w != "" && strings.Contains(line, w)
			}
			if !ok {
				t.Errorf("%s: %s\n  names %s:%d %q, which mentions none of %q and is not marked approximate", c.name, f, f.Origin.File, f.Origin.Line, line, words)
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d findings on fields checked: the corpus should give more", checked)
	}
	t.Logf("%d findings on fields checked; %d marked approximate (%d of them on a field the object lacks, checked against its nearest ancestor); %d on no field (an object or a file); %d without a line", checked, approximate, approxChecked, noField, noLine)
}

func lineAt(src source.Source, o checks.Origin) (string, error) {
	b, err := src.ReadFile(o.File)
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(b), "\n")
	if o.Line > len(lines) {
		return "", fmt.Errorf("line %d past the end of %s", o.Line, o.File)
	}
	return lines[o.Line-1], nil
}

// pathSegments splits a finding path (spec.containers[0].image or
// spec.containers.0.image) into segments.
func pathSegments(p string) []string {
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	return strings.Split(p, ".")
}

func valueAt(obj any, segs []string) (any, bool) {
	cur := obj
	for _, s := range segs {
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// TestDiffFieldOrigins: one object changed by several lines of an overlay
// (an images: tag, a replicas: count, a patch) is one diff entry whose
// every field names the line that set it, and the text report shows the
// lines the entry's own line does not cover.
func TestDiffFieldOrigins(t *testing.T) {
	row := fieldrows.Row{Name: "several", Kust: "images:\n  - name: example.com/app\n    newTag: flagged\nreplicas:\n  - name: app\n    count: 77\npatches:\n  - path: patch.yaml\n",
		Files: map[string]string{"env/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          env:\n            - name: MODE\n              value: flagged\n"}}
	rep := runRow(t, row)
	er := &rep.Envs[0]
	if er.Diff == nil || len(er.Diff.Changes) != 1 {
		t.Fatalf("diff: %+v", er.Diff)
	}
	c := er.Diff.Changes[0]
	want := map[string]string{
		"spec.replicas": "env/kustomization.yaml:10",
		"spec.template.spec.containers[name=app].image":                "env/kustomization.yaml:7",
		"spec.template.spec.containers[name=app].env[name=MODE].value": "env/patch.yaml:12",
	}
	got := map[string]string{}
	for _, f := range c.Fields {
		if f.Origin != nil && !f.Origin.Approximate {
			got[f.Path] = f.Origin.String()
		}
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("field %s at %q, want %s; fields: %+v", p, got[p], w, c.Fields)
		}
	}
	var b strings.Builder
	if err := report.Write(&b, "text", rep, report.Options{}); err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		if w != c.Origin.String() && !strings.Contains(b.String(), p+": ") || w != c.Origin.String() && !strings.Contains(b.String(), "(set at "+w+")") {
			t.Errorf("text report does not show %s set at %s:\n%s", p, w, b.String())
		}
	}
}
