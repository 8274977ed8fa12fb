package schema

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/gate-ops/gate/checks"
)

// leaf is one cause of a validation failure: where and why.
type leaf struct {
	path []string
	msg  string
}

// schemaErrors turns a jsonschema error tree into one finding per cause,
// each with the JSON path of the field and the nested reason, never just
// "validation failed".
func (vr *validation) schemaErrors(err error, prefix []string) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		vr.add(RuleInvalid, checks.SeverityError, prefix, oneLine(err), helpAPI)
		return
	}
	p := message.NewPrinter(language.English)
	var leaves []leaf
	collect(ve, p, vr.s.strict, &leaves)
	sort.SliceStable(leaves, func(i, j int) bool {
		a, b := dotted(leaves[i].path), dotted(leaves[j].path)
		if a != b {
			return a < b
		}
		return leaves[i].msg < leaves[j].msg
	})
	seen := map[string]bool{}
	n := 0
	for _, l := range leaves {
		full := append(append([]string(nil), prefix...), l.path...)
		where := dotted(full)
		if where == "" {
			where = "(root)"
		}
		msg := where + ": " + l.msg
		if seen[msg] {
			continue
		}
		seen[msg] = true
		if n == maxErrorsPerResource {
			vr.add(RuleInvalid, checks.SeverityError, prefix, fmt.Sprintf("%d more schema errors in this object (showing the first %d)", countNew(leaves, seen, prefix), maxErrorsPerResource), helpAPI)
			return
		}
		n++
		vr.add(RuleInvalid, checks.SeverityError, full, msg, helpAPI)
	}
}

func countNew(leaves []leaf, seen map[string]bool, prefix []string) int {
	c := 0
	for _, l := range leaves {
		where := dotted(append(append([]string(nil), prefix...), l.path...))
		if where == "" {
			where = "(root)"
		}
		if !seen[where+": "+l.msg] {
			c++
			seen[where+": "+l.msg] = true
		}
	}
	return c
}

// collect walks the error tree down to its causes. Alternatives (anyOf,
// oneOf) are one cause at their location naming why each branch failed.
func collect(e *jsonschema.ValidationError, p *message.Printer, strict bool, out *[]leaf) {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		var alts []string
		for _, c := range e.Causes {
			var sub []leaf
			collect(c, p, strict, &sub)
			var parts []string
			for _, l := range sub {
				rel := l.path[min(len(loc), len(l.path)):]
				if len(rel) > 0 {
					parts = append(parts, dotted(rel)+": "+l.msg)
				} else {
					parts = append(parts, l.msg)
				}
			}
			if len(parts) > 0 {
				alts = append(alts, strings.Join(parts, ", "))
			}
		}
		msg := k.LocalizedString(p)
		if len(alts) > 0 {
			msg = "matches none of the allowed forms (" + strings.Join(alts, " | ") + ")"
		}
		*out = append(*out, leaf{path: loc, msg: msg})
		return
	case *kind.AdditionalProperties:
		if !strict {
			return
		}
		for _, prop := range k.Properties {
			*out = append(*out, leaf{path: append(append([]string(nil), loc...), prop), msg: fmt.Sprintf("unknown field %q (additional properties are not allowed here)", prop)})
		}
		return
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, leaf{path: loc, msg: fmt.Sprintf("missing required field %q", m)})
		}
		return
	}
	if len(e.Causes) == 0 {
		*out = append(*out, leaf{path: loc, msg: e.ErrorKind.LocalizedString(p)})
		return
	}
	for _, c := range e.Causes {
		collect(c, p, strict, out)
	}
}

func sortStrings(s []string) { sort.Strings(s) }
