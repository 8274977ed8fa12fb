package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

// Helm validates values against a chart's values.schema.json with loaders
// for file://, http:// and https:// $refs: a chart in a pull request could
// read any host file into a finding or make gate send a request. gate runs
// the same validation (same library, same messages) with one loader that
// serves only the chart's own files; a $ref that leaves the chart is a
// finding on the line of the $ref.

// schemaBase is the URL Helm compiles a values.schema.json under: relative
// $refs resolve against it, so "defs.json" is the chart's defs.json.
const schemaBase = "file:///values.schema.json"

// validateChartSchemas is chartutil.ValidateAgainstSchema with gate's
// loader. chartDir is where the top chart lives in the repo ("" for a
// cached chart, whose schema is not in the repo).
func validateChartSchemas(ch *chartv2.Chart, values map[string]any, chartDir string) error {
	var sb strings.Builder
	if len(ch.Schema) > 0 {
		file := ""
		if chartDir != "" {
			file = path.Join(chartDir, "values.schema.json")
		}
		if err := validateSchema(ch, values, file); err != nil {
			var re *RefError
			if errors.As(err, &re) {
				return err
			}
			fmt.Fprintf(&sb, "%s:\n", ch.Name())
			sb.WriteString(err.Error())
		}
	}
	for _, sub := range ch.Dependencies() {
		raw, ok := values[sub.Name()]
		if !ok || raw == nil {
			continue
		}
		sv, ok := raw.(map[string]any)
		if !ok {
			fmt.Fprintf(&sb, "%s:\ninvalid type for values: expected object (map), got %T\n", sub.Name(), raw)
			continue
		}
		subDir := ""
		if chartDir != "" {
			subDir = subchartDir(chartDir, sub)
		}
		if err := validateChartSchemas(sub, sv, subDir); err != nil {
			var re *RefError
			if errors.As(err, &re) {
				return err
			}
			sb.WriteString(err.Error())
		}
	}
	if sb.Len() > 0 {
		return errors.New(sb.String())
	}
	return nil
}

// subchartDir is the repo directory of a vendored subchart, charts/<name>
// under its parent (an approximation when the directory is named otherwise
// or the subchart is an archive).
func subchartDir(parentDir string, sub *chartv2.Chart) string {
	return path.Join(parentDir, "charts", sub.Name())
}

// validateSchema validates values against one chart's schema. A $ref the
// loader refuses is a *RefError located in file (the repo path of the
// schema, "" when it is not in the repo).
func validateSchema(ch *chartv2.Chart, values map[string]any, file string) (reterr error) {
	defer func() {
		if r := recover(); r != nil {
			reterr = fmt.Errorf("unable to validate schema: %s", r)
		}
	}()
	refs, err := schemaRefs(ch.Schema)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if why := refOutside(r.value); why != "" {
			return schemaRefError(file, r.line, r.value, why)
		}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ch.Schema))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(chartSchemaLoader{ch: ch})
	if err := c.AddResource(schemaBase, doc); err != nil {
		return err
	}
	sch, err := c.Compile(schemaBase)
	if err != nil {
		var le *jsonschema.LoadURLError
		if errors.As(err, &le) {
			return schemaRefError(file, refLine(refs, le.URL), le.URL, le.Err.Error())
		}
		return err
	}
	if err := sch.Validate(chartcommon.Values(values).AsMap()); err != nil {
		msg := strings.TrimPrefix(err.Error(), "jsonschema validation failed with '"+schemaBase+"#'\n")
		return errors.New(msg + "\n")
	}
	return nil
}

func schemaRefError(file string, line int, ref, why string) error {
	msg := fmt.Sprintf("values.schema.json: $ref %q is not loaded: %s (gate loads schemas only from the chart's own files, never host files or the network)", ref, why)
	if file == "" {
		return errors.New(msg)
	}
	return &RefError{File: file, Line: line, Rule: "render/helm", Msg: msg}
}

// refOutside says why a $ref cannot resolve inside the chart, or "".
func refOutside(ref string) string {
	if strings.HasPrefix(ref, "#") || ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "it is not a valid URL"
	}
	switch {
	case u.Scheme == "urn":
		return "" // resolved to a permissive schema, as Helm does
	case u.Scheme != "" || u.Host != "":
		return fmt.Sprintf("a %s URL", strings.ToLower(cmpOr(u.Scheme, "network")))
	case strings.HasPrefix(u.Path, "/"):
		return "an absolute path"
	}
	if p := path.Clean(u.Path); p == ".." || strings.HasPrefix(p, "../") {
		return "the path leaves the chart"
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// chartSchemaLoader serves $refs from the chart's own files: file URLs
// under schemaBase's root are paths in the chart. Any other scheme has no
// loader, so no request is ever made.
type chartSchemaLoader struct{ ch *chartv2.Chart }

func (l chartSchemaLoader) Load(raw string) (any, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "urn":
		return jsonschema.UnmarshalJSON(strings.NewReader("true"))
	case "file":
	default:
		return nil, fmt.Errorf("a %s URL", cmpOr(u.Scheme, "relative"))
	}
	if u.Host != "" {
		return nil, errors.New("a file URL with a host")
	}
	name := strings.TrimPrefix(path.Clean(u.Path), "/")
	for _, f := range l.ch.Raw {
		if f.Name == name {
			return jsonschema.UnmarshalJSON(bytes.NewReader(f.Data))
		}
	}
	return nil, fmt.Errorf("%s is not a file of chart %s", name, l.ch.Name())
}

// schemaRef is one $ref (or $dynamicRef, $recursiveRef, $schema, $id)
// string value in a schema file and its line.
type schemaRef struct {
	value string
	line  int
	key   string
}

// schemaRefs lists the reference values of a JSON schema with their lines.
// $id and $schema are listed for refLine only: they name, they do not load.
func schemaRefs(b []byte) ([]schemaRef, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []schemaRef
	// stack of containers: true for an object.
	var stack []bool
	expectKey := false
	key := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		inObj := len(stack) > 0 && stack[len(stack)-1]
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, true)
				expectKey = true
				continue
			case '[':
				stack = append(stack, false)
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if inObj && expectKey {
				key = t
				expectKey = false
				continue
			}
			if inObj {
				switch key {
				case "$ref", "$dynamicRef", "$recursiveRef":
					off := int(dec.InputOffset())
					out = append(out, schemaRef{value: t, line: 1 + bytes.Count(b[:off], []byte("\n")), key: key})
				}
			}
		}
		if len(stack) > 0 && stack[len(stack)-1] {
			expectKey = true
		}
	}
	return out, nil
}

// refLine finds the line of the $ref that resolved to u (fragment aside).
func refLine(refs []schemaRef, u string) int {
	want, _, _ := strings.Cut(u, "#")
	base, _ := url.Parse(schemaBase)
	for _, r := range refs {
		ru, err := url.Parse(r.value)
		if err != nil {
			continue
		}
		got := base.ResolveReference(ru)
		got.Fragment = ""
		if got.String() == want || strings.TrimSuffix(r.value, "#"+ru.Fragment) == want {
			return r.line
		}
	}
	// Resolved against an $id: the $ref naming the same last segment.
	last := path.Base(want)
	for _, r := range refs {
		v, _, _ := strings.Cut(r.value, "#")
		if v != "" && path.Base(v) == last {
			return r.line
		}
	}
	if len(refs) > 0 {
		return refs[0].line
	}
	return 1
}
