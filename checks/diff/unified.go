package diff

import (
	"fmt"
	"strings"
)

// maxEditDistance bounds the Myers search; two texts further apart than this
// are shown as a whole replacement, which is what a reader sees anyway.
const maxEditDistance = 4000

type opKind byte

const (
	opEqual opKind = ' '
	opDel   opKind = '-'
	opIns   opKind = '+'
)

type lineOp struct {
	kind opKind
	text string
}

// lineDiff computes a shortest edit script between a and b (Myers' O(ND)
// algorithm), as a sequence of equal, deleted and inserted lines.
func lineDiff(a, b []string) []lineOp {
	// Trim the common prefix and suffix: most object diffs touch a few lines.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []lineOp
	for _, l := range a[:pre] {
		ops = append(ops, lineOp{opEqual, l})
	}
	ops = append(ops, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, lineOp{opEqual, l})
	}
	return ops
}

func myers(a, b []string) []lineOp {
	n, m := len(a), len(b)
	if n == 0 || m == 0 || n+m > 2*maxEditDistance*4 {
		return replaceAll(a, b)
	}
	maxD := n + m
	if maxD > maxEditDistance {
		maxD = maxEditDistance
	}
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int
	found := false
	for d := 0; d <= maxD && !found; d++ {
		snap := make([]int, len(v))
		copy(snap, v)
		trace = append(trace, snap)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = true
				break
			}
		}
	}
	if !found {
		return replaceAll(a, b)
	}
	// Backtrack through the saved frontiers.
	var rev []lineOp
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		vd := trace[d]
		k := x - y
		var prevK int
		if k == -d || (k != d && vd[off+k-1] < vd[off+k+1]) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := vd[off+prevK]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x--
			y--
			rev = append(rev, lineOp{opEqual, a[x]})
		}
		if x == prevX {
			y--
			rev = append(rev, lineOp{opIns, b[y]})
		} else {
			x--
			rev = append(rev, lineOp{opDel, a[x]})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, lineOp{opEqual, a[x]})
	}
	out := make([]lineOp, len(rev))
	for i := range rev {
		out[i] = rev[len(rev)-1-i]
	}
	return out
}

func replaceAll(a, b []string) []lineOp {
	out := make([]lineOp, 0, len(a)+len(b))
	for _, l := range a {
		out = append(out, lineOp{opDel, l})
	}
	for _, l := range b {
		out = append(out, lineOp{opIns, l})
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// Unified renders a unified diff of two texts with ctx lines of context, as
// `diff -u` and git do. It returns "" when the texts are equal.
func Unified(oldName, newName, oldText, newText string, ctx int) string {
	if oldText == newText {
		return ""
	}
	if ctx < 0 {
		ctx = 0
	}
	ops := lineDiff(splitLines(oldText), splitLines(newText))
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", oldName, newName)
	// Walk the ops, emitting hunks around each run of changes.
	i := 0
	ai, bi := 0, 0 // line numbers (0-based) at ops[i]
	for i < len(ops) {
		// Find the next change.
		j := i
		aj, bj := ai, bi
		for j < len(ops) && ops[j].kind == opEqual {
			j++
			aj++
			bj++
		}
		if j == len(ops) {
			break
		}
		start := j - ctx
		if start < i {
			start = i
		}
		as, bs := aj-(j-start), bj-(j-start)
		// Extend the hunk while changes are within 2*ctx equal lines.
		end := j
		ae, be := aj, bj
		for end < len(ops) {
			if ops[end].kind != opEqual {
				if ops[end].kind == opDel {
					ae++
				} else {
					be++
				}
				end++
				continue
			}
			run := 0
			for end+run < len(ops) && ops[end+run].kind == opEqual {
				run++
			}
			if end+run == len(ops) || run > 2*ctx {
				take := run
				if take > ctx {
					take = ctx
				}
				end += take
				ae += take
				be += take
				break
			}
			end += run
			ae += run
			be += run
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(as, ae-as), hunkRange(bs, be-bs))
		for _, op := range ops[start:end] {
			b.WriteByte(byte(op.kind))
			b.WriteString(op.text)
			b.WriteByte('\n')
		}
		i, ai, bi = end, ae, be
	}
	return b.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
