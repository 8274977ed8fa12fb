package render

import (
	"fmt"
	"strings"
)

// fluxSubstitute runs Flux's post-build variable substitution on text:
// ${var}, ${var:=default}, ${var:-default}, ${var=default} and
// ${var-default}; $${var} is an escape that leaves ${var}; a bare $var is
// never substituted (Flux documents this so shell scripts in ConfigMaps
// survive). A variable with no value and no default becomes the empty
// string, as kustomize-controller does without strict substitution, and
// is returned in missing so gate can say so.
func fluxSubstitute(text string, vars map[string]string) (out string, missing []string, err error) {
	var b strings.Builder
	for i := 0; i < len(text); {
		c := text[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if strings.HasPrefix(text[i:], "$${") {
			end := strings.IndexByte(text[i:], '}')
			if end < 0 {
				b.WriteString(text[i:])
				break
			}
			b.WriteString(text[i+1 : i+end+1])
			i += end + 1
			continue
		}
		if !strings.HasPrefix(text[i:], "${") {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			return "", missing, fmt.Errorf("unterminated variable %q", clip(text[i:], 40))
		}
		expr := text[i+2 : i+end]
		n := 0
		for n < len(expr) && (expr[n] == '_' || isAlpha(expr[n]) || n > 0 && isDigit(expr[n])) {
			n++
		}
		name, op := expr[:n], expr[n:]
		if name == "" {
			return "", missing, fmt.Errorf("invalid variable %q", "${"+expr+"}")
		}
		val, set := vars[name]
		switch {
		case op == "":
			if !set {
				missing = append(missing, name)
			}
		case strings.HasPrefix(op, ":=") || strings.HasPrefix(op, ":-"):
			if val == "" {
				val = op[2:]
			}
		case strings.HasPrefix(op, "=") || strings.HasPrefix(op, "-"):
			if !set {
				val = op[1:]
			}
		default:
			return "", missing, fmt.Errorf("variable %q uses an expansion gate does not support (use ${var}, ${var:=default} or ${var:-default})", "${"+expr+"}")
		}
		b.WriteString(val)
		i += end + 1
	}
	return b.String(), missing, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
