package render

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// Bounds on what one chart's templates may build with the sprig functions
// that allocate in proportion to an argument. Helm's engine cannot be
// interrupted: text/template never looks at a context, so a template that
// loops past the render deadline would keep a core busy (and memory
// growing) long after gate reported the timeout, and in `gate serve` every
// push of a hostile chart would add another. These guards replace the
// functions such loops are built from: each call checks the deadline and a
// budget, so an abandoned render stops at its next call.
const (
	// maxTemplateItems bounds the list one until, untilStep or seq call makes.
	maxTemplateItems = 1 << 20
	// maxTemplateBytes bounds the strings one render builds with repeat,
	// indent, nindent and the rand* functions, together.
	maxTemplateBytes = 64 << 20
)

// templateGuard is the budget of one render's guarded functions.
type templateGuard struct {
	ctx context.Context
	// rnd, when set, makes the rand* functions deterministic (see helmRand).
	rnd   *helmRand
	spent atomic.Int64
}

// templateGuards returns the guarded functions for one render. rnd, when
// set, makes the rand* functions deterministic (see helmRand).
func templateGuards(ctx context.Context, rnd *helmRand) template.FuncMap {
	g := &templateGuard{ctx: ctx, rnd: rnd}
	return template.FuncMap{
		"until": func(count int) ([]int, error) {
			if count < 0 {
				return g.untilStep(0, count, -1)
			}
			return g.untilStep(0, count, 1)
		},
		"untilStep": g.untilStep,
		"seq":       g.seq,
		"repeat": func(count int, s string) (string, error) {
			if err := g.strBytes("repeat", count, len(s)); err != nil {
				return "", err
			}
			return strings.Repeat(s, max(count, 0)), nil
		},
		"indent": func(spaces int, s string) (string, error) { return g.indent("indent", spaces, s) },
		"nindent": func(spaces int, s string) (string, error) {
			out, err := g.indent("nindent", spaces, s)
			return "\n" + out, err
		},
		"randAlpha":    g.rand("randAlpha", alphaChars),
		"randAlphaNum": g.rand("randAlphaNum", alphaNumChars),
		"randAscii":    g.rand("randAscii", ""),
		"randNumeric":  g.rand("randNumeric", numericChars),
		"randBytes":    g.randBytes,
	}
}

// check fails a call past the deadline, one making more than
// maxTemplateItems items, or one taking the render's text past
// maxTemplateBytes.
func (g *templateGuard) check(fn string, items, bytes int64) error {
	if err := g.ctx.Err(); err != nil {
		return fmt.Errorf("%s: render deadline passed: %w", fn, err)
	}
	if items > maxTemplateItems {
		return fmt.Errorf("%s would make %d items, over gate's limit of %d per call (a template loop bomb?)", fn, items, maxTemplateItems)
	}
	if bytes < 0 || g.spent.Add(bytes) > maxTemplateBytes {
		return fmt.Errorf("%s: templates built more than %d MiB of text (a template allocation bomb?)", fn, maxTemplateBytes>>20)
	}
	return nil
}

func (g *templateGuard) untilStep(start, stop, step int) ([]int, error) {
	n := int64(0)
	switch {
	case stop < start && step < 0:
		n = (int64(start) - int64(stop) + int64(-step) - 1) / int64(-step)
	case stop > start && step > 0:
		n = (int64(stop) - int64(start) + int64(step) - 1) / int64(step)
	}
	if err := g.check("untilStep", n, 0); err != nil {
		return nil, err
	}
	v := make([]int, 0, n)
	for i := int64(0); i < n; i++ {
		v = append(v, start+int(i)*step)
	}
	return v, nil
}

// seq bounds the count the way sprig's seq reads its arguments (end, start
// end, or start step end), then lets sprig do it.
func (g *templateGuard) seq(params ...int) (string, error) {
	n := int64(0)
	switch len(params) {
	case 1:
		n = absInt(int64(params[0])-1) + 1
	case 2:
		n = absInt(int64(params[1])-int64(params[0])) + 1
	case 3:
		if params[1] != 0 {
			n = absInt(int64(params[2])-int64(params[0]))/absInt(int64(params[1])) + 1
		}
	}
	if err := g.check("seq", n, 0); err != nil {
		return "", err
	}
	return seq(params...), nil
}

func (g *templateGuard) strBytes(fn string, count, size int) error {
	if count < 0 {
		count = 0
	}
	return g.check(fn, 0, int64(count)*int64(size))
}

func (g *templateGuard) indent(fn string, spaces int, s string) (string, error) {
	if err := g.strBytes(fn, spaces, strings.Count(s, "\n")+1); err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", max(spaces, 0))
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad), nil
}

func (g *templateGuard) rand(fn, set string) func(int) (string, error) {
	orig := sprigFunc(fn)
	return func(n int) (string, error) {
		if err := g.strBytes(fn, n, 1); err != nil {
			return "", err
		}
		if g.rnd != nil {
			return g.rnd.str(fn, set, n), nil
		}
		return orig(n), nil
	}
}

func (g *templateGuard) randBytes(n int) (string, error) {
	if err := g.strBytes("randBytes", n, 2); err != nil {
		return "", err
	}
	if g.rnd != nil {
		return g.rnd.randBytes(n), nil
	}
	f, _ := sprig.TxtFuncMap()["randBytes"].(func(int) (string, error))
	return f(n)
}

func absInt(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// sprigFunc returns one of sprig's func(int) string functions.
func sprigFunc(name string) func(int) string {
	f, _ := sprig.TxtFuncMap()[name].(func(int) string)
	if f == nil {
		return func(int) string { return "" }
	}
	return f
}

// seq is sprig's seq.
func seq(params ...int) string {
	f, _ := sprig.TxtFuncMap()["seq"].(func(...int) string)
	if f == nil {
		return ""
	}
	return f(params...)
}

// secretKeyRe matches values keys whose values are treated as secrets.
var secretKeyRe = regexp.MustCompile(`(?i)pass|secret|token|key|cred|cert|auth|private|pwd|dsn|salt|signing`)

// maxHelmError bounds a renderer error in a finding.
const maxHelmError = 2000

// helmErrorText scrubs the values under secret-looking keys from a Helm
// error and shortens it to its outer and innermost frames.
func helmErrorText(msg string, values ...map[string]any) string {
	var secrets []string
	var walk func(v any, secretKey bool)
	walk = func(v any, secretKey bool) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				walk(x, secretKey || secretKeyRe.MatchString(k))
			}
		case []any:
			for _, x := range t {
				walk(x, secretKey)
			}
		case string:
			if secretKey && len(strings.TrimSpace(t)) >= 4 {
				secrets = append(secrets, strings.TrimSpace(t))
			}
		}
	}
	for _, m := range values {
		walk(m, false)
	}
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	return shorten(scrub(msg, secrets))
}

// shorten cuts a renderer error to its outer and innermost frames: a
// template that includes itself nests a thousand frames, a ladder of
// kustomize bases one "accumulating resources" frame per level.
func shorten(msg string) string {
	if len(msg) > maxHelmError {
		msg = msg[:maxHelmError/2] + " … " + msg[len(msg)-maxHelmError/2:]
	}
	return strings.ToValidUTF8(msg, "")
}
