package render

import (
	"strings"

	"github.com/gate-ops/gate/checks/source"
)

// base is a directory climbing strings are resolved from, with what
// joining from it needs: its components, and whether it is plain (no
// backslash, NUL, ".", "..", empty or .git component), the only bases
// the lexical join below is exact for.
type base struct {
	p     string
	id    int32 // closureIndex.id
	n     int   // components ("." has none)
	plain bool
}

func baseOf(d string) base {
	b := base{p: d, plain: plainPath(d)}
	if d != "." {
		b.n = strings.Count(d, "/") + 1
	}
	return b
}

// plainPath reports whether p ("." or a/b/c) has only plain components.
func plainPath(p string) bool {
	if p == "." {
		return true
	}
	if p == "" || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for len(p) > 0 {
		c := p
		if i := strings.IndexByte(p, '/'); i >= 0 {
			c, p = p[:i], p[i+1:]
			if p == "" {
				return false // a trailing slash
			}
		} else {
			p = ""
		}
		if c == "" || c == "." || c == ".." || c == ".git" {
			return false
		}
	}
	return true
}

// climb is a climbing string of a closure (../a/b, clean): how many
// directories it climbs and the rest, and how many of the closure's
// bases it has met (closureState).
type climb struct {
	u     string
	up    int
	rest  string
	plain bool
	met   int
	id    int32 // closureIndex.climbID
}

func climbOf(u string) *climb {
	c := &climb{u: u}
	rest := u
	for {
		if r, ok := strings.CutPrefix(rest, "../"); ok {
			c.up++
			rest = r
			continue
		}
		if rest == ".." {
			c.up++
			rest = ""
		}
		break
	}
	c.rest = rest
	c.plain = c.up > 0 && (rest == "" || plainPath(rest))
	return c
}

// join is source.Join(b, u) (ok false where it fails): for a plain base
// and string, b less its last up components, then the rest; anything
// else is left to source.Join.
func (c *climb) join(b base) (string, bool) {
	if !b.plain || !c.plain {
		j, err := source.Join(b.p, c.u)
		return j, err == nil
	}
	if c.up > b.n {
		return "", false // above the root
	}
	prefix := ""
	if keep := b.n - c.up; keep > 0 {
		end := len(b.p)
		for i := 0; i < c.up; i++ {
			end = strings.LastIndexByte(b.p[:end], '/')
		}
		prefix = b.p[:end]
	}
	var j string
	switch {
	case prefix == "" && c.rest == "":
		return ".", true
	case prefix == "":
		j = c.rest
	case c.rest == "":
		j = prefix
	default:
		j = prefix + "/" + c.rest
	}
	if len(j) > 1 && j[1] == ':' {
		return "", false // source.Clean refuses it as a drive letter
	}
	return j, true
}
