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
		if i >= lim.MaxDocuments {
			return nil, &ParseError{File: file, Msg: fmt.Sprintf("more than %d YAML documents in one file (limit max-documents; raise it with --max-documents)", lim.MaxDocuments), Limit: "max-documents"}
		}
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlError(file, err)
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

func yamlError(file string, err error) error {
	msg := strings.TrimSpace(err.Error())
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ParseError{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &ParseError{File: file, Msg: "invalid YAML: " + msg}
}

// checkNode enforces depth, expanded size and duplicate keys.
func checkNode(file string, n *yaml.Node, lim Limits) error {
	memo := map[*yaml.Node]int{}
	var walk func(n *yaml.Node, depth int, active map[*yaml.Node]bool) (int, error)
	walk = func(n *yaml.Node, depth int, active map[*yaml.Node]bool) (int, error) {
		if depth > lim.MaxDepth {
			return 0, &ParseError{File: file, Line: n.Line, Msg: fmt.Sprintf("YAML nested deeper than %d levels (limit max-depth)", lim.MaxDepth), Limit: "max-depth"}
		}
		if v, ok := memo[n]; ok {
			return v, nil
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil || active[n.Alias] {
				return 0, &ParseError{File: file, Line: n.Line, Msg: "YAML alias refers to itself"}
			}
			active[n.Alias] = true
			v, err := walk(n.Alias, depth+1, active)
			delete(active, n.Alias)
			memo[n] = v
			return v, err
		}
		total := 1
		if n.Kind == yaml.MappingNode {
			seen := make(map[string]int, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind == yaml.ScalarNode && k.Value != "<<" {
					if prev, dup := seen[k.Value]; dup {
						return 0, &ParseError{File: file, Line: k.Line, Msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, prev)}
					}
					seen[k.Value] = k.Line
				}
			}
		}
		for _, c := range n.Content {
			v, err := walk(c, depth+1, active)
			if err != nil {
				return 0, err
			}
			total += v
			if total > lim.MaxNodes {
				return 0, &ParseError{File: file, Line: n.Line, Msg: fmt.Sprintf("YAML expands to more than %d nodes once aliases are resolved (limit max-nodes; a billion-laughs document?)", lim.MaxNodes), Limit: "max-nodes"}
			}
		}
		memo[n] = total
		return total, nil
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

func scalar(m *yaml.Node, key string) string {
	c := child(m, key)
	if c == nil || c.Kind != yaml.ScalarNode {
		return ""
	}
	return c.Value
}
