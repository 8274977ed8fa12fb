package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/gate-ops/gate/checks/source"
)

// recordsFormat versions the records index.
const recordsFormat = "gate-records-index/2"

// recordsIndex is the records of a tree's environments, by manifest key
// (see Renderer.Records). The zero value, and a nil one, hold nothing and
// save nothing.
type recordsIndex struct {
	c       *Cache
	key, id string
	records map[string]Record
	dirty   bool
}

// recordsEntry is the stored index. Fifty environments share most of
// their probes, so each distinct (probe, answer) pair is stored once and a
// record lists the pairs it holds, in order.
type recordsEntry struct {
	Format  string                   `json:"format"`
	Tree    string                   `json:"tree"`
	Probes  []source.Probe           `json:"probes"`
	Answers []string                 `json:"answers"`
	Records map[string]indexedRecord `json:"records"`
}

type indexedRecord struct {
	Result string `json:"result,omitempty"`
	Pairs  []int  `json:"pairs"`
}

// recordsKey keys src's records index: the gate build and the content ID
// that names src whole; "" when src has none (the work tree, the index).
func (c *Cache) recordsKey(src source.Source) (key, id string) {
	ider, ok := source.Unwrap(src).(contentIDer)
	if !ok {
		return "", ""
	}
	if id = ider.ContentID(); id == "" {
		return "", ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", recordsFormat, c.salt, id)
	return "x-" + hex.EncodeToString(h.Sum(nil)), id
}

// openRecordsIndex reads src's records index (nil without a cache or a
// content ID; empty when none is stored or it does not parse).
func (c *Cache) openRecordsIndex(src source.Source) *recordsIndex {
	if c == nil {
		return nil
	}
	key, id := c.recordsKey(src)
	if key == "" {
		return nil
	}
	ix := &recordsIndex{c: c, key: key, id: id, records: map[string]Record{}}
	if recs, ok := c.loadRecords(key, id); ok {
		ix.records = recs
	}
	return ix
}

func (c *Cache) loadRecords(key, id string) (map[string]Record, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	var e recordsEntry
	if json.Unmarshal(b, &e) != nil || e.Format != recordsFormat || e.Tree != id || len(e.Probes) != len(e.Answers) {
		return nil, false
	}
	out := make(map[string]Record, len(e.Records))
	for k, ir := range e.Records {
		rec := Record{Result: ir.Result, Probes: make([]source.Probe, len(ir.Pairs)), Answers: make([]string, len(ir.Pairs))}
		for i, j := range ir.Pairs {
			if j < 0 || j >= len(e.Probes) {
				return nil, false
			}
			rec.Probes[i], rec.Answers[i] = e.Probes[j], e.Answers[j]
		}
		out[k] = rec
	}
	return out, true
}

// encodeRecords is the stored form of records.
func encodeRecords(id string, records map[string]Record) recordsEntry {
	type pair struct {
		p source.Probe
		a string
	}
	e := recordsEntry{Format: recordsFormat, Tree: id, Probes: []source.Probe{}, Answers: []string{}, Records: make(map[string]indexedRecord, len(records))}
	at := map[pair]int{}
	for k, rec := range records {
		ir := indexedRecord{Result: rec.Result, Pairs: make([]int, len(rec.Probes))}
		for i, p := range rec.Probes {
			pa := pair{p, rec.Answers[i]}
			j, ok := at[pa]
			if !ok {
				j = len(e.Probes)
				at[pa] = j
				e.Probes = append(e.Probes, p)
				e.Answers = append(e.Answers, pa.a)
			}
			ir.Pairs[i] = j
		}
		e.Records[k] = ir
	}
	return e
}

func (ix *recordsIndex) get(mkey string) (Record, bool) {
	if ix == nil {
		return Record{}, false
	}
	rec, ok := ix.records[mkey]
	return rec, ok
}

func (ix *recordsIndex) add(mkey string, rec Record) {
	if ix == nil {
		return
	}
	ix.records[mkey] = rec
	ix.dirty = true
}

// save writes the index when records were added, merged with what a
// concurrent run stored meanwhile (a lost race is a later miss, never a
// wrong record: every record of the file is one of this tree's).
func (ix *recordsIndex) save() error {
	if ix == nil || !ix.dirty {
		return nil
	}
	merged := ix.records
	if recs, ok := ix.c.loadRecords(ix.key, ix.id); ok {
		for k, rec := range recs {
			if _, mine := merged[k]; !mine {
				merged[k] = rec
			}
		}
	}
	for k, rec := range merged {
		if len(rec.Probes) != len(rec.Answers) {
			delete(merged, k)
		}
	}
	b, err := json.Marshal(encodeRecords(ix.id, merged))
	if err != nil {
		return fmt.Errorf("encode records index: %w", err)
	}
	ix.dirty = false
	return ix.c.write(ix.key, b)
}
