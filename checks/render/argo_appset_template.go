package render

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	"go.yaml.in/yaml/v3"
)

// render replaces parameters in every string of v: Go templates (with
// Sprig's functions, none that reads the environment or the network) when
// goTemplate is set, else Argo CD's {{name}} placeholders, which leave an
// unknown name as it is.
func (s *appSet) render(v any, params map[string]any) (any, error) {
	switch t := v.(type) {
	case string:
		if s.goTmpl {
			return s.goRender(t, params)
		}
		return fastRender(t, params), nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			key := k
			if strings.Contains(k, "{{") {
				r, err := s.render(k, params)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprint(r)
			}
			r, err := s.render(x, params)
			if err != nil {
				return nil, err
			}
			out[key] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			r, err := s.render(x, params)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

var fastRe = regexp.MustCompile(`{{\s*([^{}]*?)\s*}}`)

func fastRender(t string, params map[string]any) string {
	return fastRe.ReplaceAllStringFunc(t, func(m string) string {
		key := strings.TrimSpace(fastRe.FindStringSubmatch(m)[1])
		if v, ok := params[key]; ok {
			return fmt.Sprint(v)
		}
		return m
	})
}

// goFuncs is Sprig without what reads the process environment or resolves
// hosts, as the ApplicationSet controller offers it.
func goFuncs() template.FuncMap {
	f := sprig.TxtFuncMap()
	for _, k := range []string{"env", "expandenv", "getHostByName"} {
		delete(f, k)
	}
	f["toYaml"] = func(v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	return f
}

func (s *appSet) goRender(t string, params map[string]any) (string, error) {
	if !strings.Contains(t, "{{") {
		return t, nil
	}
	tp, err := template.New("").Funcs(goFuncs()).Option("missingkey=" + s.missing).Parse(t)
	if err != nil {
		return "", err
	}
	// A template from the repo may loop or grow without bound: its output
	// is capped and it is abandoned past a deadline (text/template cannot
	// be stopped).
	type out struct {
		s   string
		err error
	}
	ch := make(chan out, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- out{err: fmt.Errorf("template panicked: %v", p)}
			}
		}()
		w := &cappedWriter{max: maxTemplateOutput}
		err := tp.Execute(w, params)
		ch <- out{w.b.String(), err}
	}()
	t0 := time.NewTimer(templateTimeout)
	defer t0.Stop()
	select {
	case o := <-ch:
		if o.err != nil {
			return "", o.err
		}
		return strings.ReplaceAll(o.s, "<no value>", ""), nil
	case <-t0.C:
		return "", fmt.Errorf("template ran longer than %s: not rendered", templateTimeout)
	}
}

// cappedWriter fails a template whose output passes max bytes.
type cappedWriter struct {
	b   bytes.Buffer
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, fmt.Errorf("template output is larger than %d bytes", w.max)
	}
	return w.b.Write(p)
}

func sortedAnyKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	maxTemplateOutput = 1 << 20
	templateTimeout   = 5 * time.Second
)
