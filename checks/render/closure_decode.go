package render

import (
	"bytes"
	"encoding/json"
)

// decodeClosures reads a closures entry as storeClosures writes it
// (encoding/json's output for closuresEntry: no spaces, fields in their
// order, omitted when empty) without reflection: a warm run reads the
// base's 50 closures, 64,241 indexes, on every run. It returns what
// json.Unmarshal would, or ok false for anything else (the caller then
// asks json.Unmarshal): a string with an escape or a byte outside
// printable ASCII is handed to json.Unmarshal, a number that is not a
// plain non-negative integer of at most 9 digits refuses the fast path.
func decodeClosures(b []byte) (e closuresEntry, ok bool) {
	d := &fastDec{b: b}
	if !d.lit(`{"format":`) || !d.str(&e.Format) || !d.lit(`,"paths":[`) {
		return e, false
	}
	e.Paths, e.Closures = []string{}, []storedClosure{}
	for first := true; !d.lit("]"); first = false {
		var p string
		if !first && !d.lit(",") || !d.str(&p) {
			return e, false
		}
		e.Paths = append(e.Paths, p)
	}
	if !d.lit(`,"closures":[`) {
		return e, false
	}
	for first := true; !d.lit("]"); first = false {
		var sc storedClosure
		if !first && !d.lit(",") || !d.lit(`{"env":`) || !d.str(&sc.Env) {
			return e, false
		}
		if d.lit(`,"whole":`) && !d.str(&sc.Whole) {
			return e, false
		}
		for _, l := range []struct {
			key string
			to  *[]int
		}{{`,"dirs":[`, &sc.Dirs}, {`,"files":[`, &sc.Files}, {`,"named":[`, &sc.Named}} {
			if d.lit(l.key) && !d.ints(l.to) {
				return e, false
			}
		}
		if !d.lit("}") {
			return e, false
		}
		e.Closures = append(e.Closures, sc)
	}
	return e, d.lit("}") && d.i == len(d.b)
}

// fastDec is decodeClosures' cursor.
type fastDec struct {
	b []byte
	i int
}

// lit consumes s when the input continues with it.
func (d *fastDec) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// str reads a JSON string: plain printable ASCII here, anything else
// through json.Unmarshal.
func (d *fastDec) str(to *string) bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	plain := true
	for j := d.i + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '\\':
			plain = false
			j++
		case c == '"':
			tok := d.b[d.i : j+1]
			d.i = j + 1
			if plain {
				*to = string(tok[1 : len(tok)-1])
				return true
			}
			return json.Unmarshal(tok, to) == nil
		case c < 0x20 || c >= 0x7f:
			plain = false
		}
	}
	return false
}

// ints reads the rest of a list of small non-negative integers, "]"
// included.
func (d *fastDec) ints(to *[]int) bool {
	n := bytes.IndexByte(d.b[d.i:], ']')
	if n < 0 {
		return false
	}
	out := make([]int, 0, n/3+1)
	for first := true; !d.lit("]"); first = false {
		if !first && !d.lit(",") {
			return false
		}
		v, start := 0, d.i
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' && d.i-start < 9 {
			v = v*10 + int(d.b[d.i]-'0')
			d.i++
		}
		digits := d.i - start
		if digits == 0 || digits > 1 && d.b[start] == '0' || d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			return false // none, a leading zero, or too long: json.Unmarshal decides
		}
		out = append(out, v)
	}
	*to = out
	return true
}
