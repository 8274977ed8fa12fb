package engine

import "encoding/json"

// ResumPackForTest recomputes a verdict pack's checksum after an edit.
func ResumPackForTest(b []byte) []byte {
	var p verdictPack
	if err := json.Unmarshal(b, &p); err != nil {
		return b
	}
	p.Sum = packSum(p.Key, p.Entries)
	out, err := json.Marshal(p)
	if err != nil {
		return b
	}
	return out
}
