package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits bound what one ops repo may cost to parse and render. Every limit
// hit is a finding that names the limit and the flag that raises it.
type Limits struct {
	// MaxDocuments per YAML file.
	MaxDocuments int
	// MaxDepth of nesting inside one document.
	MaxDepth int
	// MaxNodes is the size of a document with every alias expanded; it stops
	// billion-laughs documents before kustomize expands them.
	MaxNodes int
}

// DefaultLimits are generous for real ops repos and small for attacks.
func DefaultLimits() Limits {
	return Limits{MaxDocuments: 10000, MaxDepth: 256, MaxNodes: 2_000_000}
}

// Doc is one YAML document of a source file with its position.
type Doc struct {
	// Index is the 0-based position of the document in its file.
	Index int
	// Line is the 1-based line of the document's first key.
	Line int
	Node *yaml.Node
	// APIVersion, Kind, Name and Namespace are read from the document when
	// it is a Kubernetes object.
	APIVersion, Kind, Name, Namespace string
}

// ParseError is a YAML problem with its line.
type ParseError struct {
	File string
	Line int
	Msg  string
	// Limit names the limit that was hit, when one was.
	Limit string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseDocs splits a multi-document YAML file into nodes, enforcing limits.
// Empty documents are skipped; their indexes still count, as kustomize's do not.
func ParseDocs(file string, data []byte, lim Limits) ([]Doc, error) {
	if lim.MaxDocuments == 0 {
		lim = DefaultLimits()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Doc
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		// Checked once a document is known to exist: a file of exactly
		// MaxDocuments documents is within the limit.
		if i >= lim.MaxDocuments {
			return nil, &ParseError{File: file, Msg: fmt.Sprintf("more than %d YAML documents in one file (limit max-documents; raise it with --max-documents or gate.yaml limits.maxDocuments)", lim.MaxDocuments), Limit: "max-documents"}
		}
		if err != nil {
			return nil, yamlError(file, data, err)
		}
		if len(n.Content) == 0 {
			continue
		}
		if err := checkNode(file, &n, lim); err != nil {
			return nil, err
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		d := Doc{Index: i, Line: root.Line, Node: root}
		if root.Kind == yaml.MappingNode {
			d.APIVersion = scalar(root, "apiVersion")
			d.Kind = scalar(root, "kind")
			if md := child(root, "metadata"); md != nil {
				d.Name = scalar(md, "name")
				d.Namespace = scalar(md, "namespace")
			}
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func yamlError(file string, data []byte, err error) error {
	msg := strings.TrimSpace(err.Error())
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ParseError{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	line := errLine(data, err.Error())
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &ParseError{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

// errLine finds the line of a YAML error the parser reported without one:
// invalid UTF-8 and control characters, unknown anchors, and any error on
// the first line (yaml.v3 leaves out "line 1"). It is the shortest prefix
// of whole lines that fails with the same error; each probe stops at the
// error, so the cost is a few parses of the text before it. 0 when no
// prefix fails the same way.
func errLine(data []byte, msg string) int {
	ends := []int{}
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(k int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(data[:ends[k-1]]))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if err == nil {
				continue
			}
			return err.Error() == msg
		}
	}
	lo, hi := 1, len(ends)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// checkNode enforces depth, expanded size and duplicate keys.
func checkNode(file string, n *yaml.Node, lim Limits) error {
	// memo keeps each node's expanded size and height (depth below it), so
	// a subtree reused through an alias is counted without being walked
	// again, and still cannot nest deeper than the limit where it is reused.
	type size struct{ nodes, height int }
	memo := map[*yaml.Node]size{}
	tooDeep := func(n *yaml.Node) error {
		return &ParseError{File: file, Line: n.Line, Msg: fmt.Sprintf("YAML nested deeper than %d levels (limit max-depth; raise it with --max-yaml-depth or gate.yaml limits.maxYAMLDepth)", lim.MaxDepth), Limit: "max-depth"}
	}
	var walk func(n *yaml.Node, depth int, active map[*yaml.Node]bool) (size, error)
	walk = func(n *yaml.Node, depth int, active map[*yaml.Node]bool) (size, error) {
		if depth > lim.MaxDepth {
			return size{}, tooDeep(n)
		}
		if v, ok := memo[n]; ok {
			if depth+v.height > lim.MaxDepth {
				return size{}, tooDeep(n)
			}
			return v, nil
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil || active[n.Alias] {
				return size{}, &ParseError{File: file, Line: n.Line, Msg: "YAML alias refers to itself"}
			}
			if v, ok := memo[n.Alias]; ok && depth+1+v.height > lim.MaxDepth {
				return size{}, tooDeep(n) // name the alias, not its anchor
			}
			active[n.Alias] = true
			v, err := walk(n.Alias, depth+1, active)
			delete(active, n.Alias)
			v.height++
			memo[n] = v
			return v, err
		}
		total, height := 1, 0
		if n.Kind == yaml.MappingNode {
			seen := make(map[string]int, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind == yaml.ScalarNode && k.Value != "<<" {
					if prev, dup := seen[k.Value]; dup {
						return size{}, &ParseError{File: file, Line: k.Line, Msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, prev)}
					}
					seen[k.Value] = k.Line
				}
			}
		}
		for _, c := range n.Content {
			v, err := walk(c, depth+1, active)
			if err != nil {
				return size{}, err
			}
			total += v.nodes
			height = max(height, v.height+1)
			if total > lim.MaxNodes {
				return size{}, &ParseError{File: file, Line: n.Line, Msg: fmt.Sprintf("YAML expands to more than %d nodes once aliases are resolved (limit max-nodes; a billion-laughs document? raise it with --max-yaml-nodes or gate.yaml limits.maxYAMLNodes)", lim.MaxNodes), Limit: "max-nodes"}
			}
		}
		memo[n] = size{total, height}
		return size{total, height}, nil
	}
	_, err := walk(n, 0, map[*yaml.Node]bool{})
	return err
}

// child returns the value node of key in a mapping, or nil.
func child(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// keyNode returns the key node of key in a mapping, or nil.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

// scalar returns the value of key in a mapping, "" when it is absent, not
// a scalar, or null ("name: ~" names nothing).
func scalar(m *yaml.Node, key string) string {
	c := child(m, key)
	if c == nil || c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
		return ""
	}
	return c.Value
}
