package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/report"
)

// hostileStrings are what a pull request can put in a name, a label, a
// value, a message or a file name: terminal escape sequences (colour,
// OSC-8 links, cursor moves), bidi controls (Trojan Source), forged lines,
// markdown and HTML, links and images, entities, URI metacharacters,
// invalid UTF-8 and workflow commands.
var hostileStrings = []string{
	"\x1b[31mred\x1b[0m",
	"\x1b]8;;https://EVIL.example/\x07click\x1b]8;;\x07",
	"\x1b[2J\x1b[Hcleared",
	"a\u202eevil\u202c b",
	"\u2066isolate\u2069\u200f",
	"x\nresult: PASS: no findings; 0 of 1 environments fail",
	"x\r\nresult: PASS",
	"x\rresult: PASS",
	"`code` ``two``",
	"<img src=x onerror=EVIL>",
	"<script>EVIL()</script>",
	"<a href=\"https://EVIL.example\">x</a>",
	"[click](https://EVIL.example)",
	"![img](https://EVIL.example/i.png)",
	"[ref]: https://EVIL.example",
	"https://EVIL.example/x",
	"HTTP://EVIL.example",
	"www.EVIL.example",
	"mail a@EVIL.example",
	"\\[x\\](https://EVIL.example)",
	"back\\slash\\",
	"| table | break |",
	"# heading",
	"&lt;img src=x onerror=EVIL&gt;",
	"&#x202e;&#60;script&#62;",
	"%2e%2e/x#frag?q=1",
	"\xff\xfe invalid",
	"tab\there",
	"\u0085nel\u009b31m",
	"\u2028line\u2029para",
	"zero\u200bwidth\ufeff",
	"tag\U000E0041\U000E0042",
	"::error file=x::forged",
	"*emph* _x_ ~~s~~",
	"</details><details open><summary>EVIL</summary>",
	"C:\\windows",
	"a:b/c",
	"--- a\n+++ b\n@@ -1 +1 @@",
	"```\nfence\n```",
	"~~~\nfence",
}

// hostileReport puts s in every field of a report that comes from the
// pull request.
func hostileReport(s string) *checks.Report {
	id := checks.ResourceID{Version: "v1", Kind: "ConfigMap" + s, Namespace: "ns" + s, Name: "n" + s}
	f := checks.Finding{Check: "policy", RuleID: "rule/" + s, Severity: checks.SeverityError, Env: "prod" + s,
		Resource: &id, Message: "msg " + s, Path: "data." + s, Origin: checks.Origin{File: "dir/" + s + ".yaml", Line: 3},
		HelpURL: "https://example.com/help"}
	w := f
	w.Severity = checks.SeverityWarning
	w.Waived = "waiver " + s
	diff := &checks.EnvDiff{
		Changes: []checks.ResourceChange{{ID: id, Action: checks.ActionChanged, Origin: checks.Origin{File: "dir/" + s + ".yaml", Line: 1},
			Fields:  []checks.FieldChange{{Path: "data." + s, Old: "old" + s, New: "new" + s}},
			Unified: "--- base/x\n+++ head/x\n@@ -1 +1 @@\n-a: " + s + "\n+a: b" + s + "\n"}},
		ByKind:      map[string]int{"Kind" + s: 1},
		SourceFiles: []string{"src/" + s},
	}
	return &checks.Report{
		SchemaVersion: checks.ReportSchemaVersion, HeadRev: "head", BaseRev: "base", FailOn: checks.SeverityError,
		Envs: []checks.EnvReport{
			{Env: checks.Env{Name: "prod" + s, Path: "envs/" + s, Kind: "kustomize"}, Status: checks.EnvChecked, Because: []string{"src/" + s},
				Resources: 1, Findings: []checks.Finding{f, w}, Diff: diff, Live: diff, Drift: diff},
			{Env: checks.Env{Name: "skip" + s, Path: "skip/" + s, Kind: "plain"}, Status: checks.EnvUntouched, NotRendered: "why " + s},
		},
		Findings:     []checks.Finding{f},
		PolicyImpact: &checks.PolicyImpact{ChangedFiles: []string{"policy/" + s}, NewlyFlagged: []checks.Finding{f}, Cleared: []checks.Finding{w}},
	}
}

// hiddenRune reports a character a terminal acts on instead of showing.
func hiddenRune(r rune) bool {
	return r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}

func assertVisible(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: invalid UTF-8 in the output", what)
	}
	for i, r := range out {
		if hiddenRune(r) {
			t.Errorf("%s: hidden character %U at byte %d: %q", what, r, i, out[max(0, i-40):min(len(out), i+40)])
			return
		}
	}
}

var (
	// allowedTag are the HTML tags gate itself writes in markdown.
	allowedTag  = regexp.MustCompile(`^</?(details|summary|code)>`)
	allowedTags = regexp.MustCompile(`</?(details|summary|code)>`)
	fenceLine   = regexp.MustCompile("^(`{3,}|~{3,})")
)

// markup returns the parts of a markdown document a renderer reads as
// markup: it drops fenced code blocks, inline code spans and
// backslash-escaped characters, which all show as text.
func markup(md string) string {
	var b strings.Builder
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if m := fenceLine.FindString(lines[i]); m != "" {
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], m); i++ {
			}
			continue
		}
		l := lines[i]
		for j := 0; j < len(l); j++ {
			switch c := l[j]; c {
			case '\\':
				j++
			case '`':
				n := 1
				for j+n < len(l) && l[j+n] == '`' {
					n++
				}
				fence := strings.Repeat("`", n)
				end := -1
				for k := j + n; k < len(l); {
					p := strings.Index(l[k:], fence)
					if p < 0 {
						break
					}
					p += k
					if p+n < len(l) && l[p+n] == '`' {
						k = p + n
						for k < len(l) && l[k] == '`' {
							k++
						}
						continue
					}
					end = p
					break
				}
				if end < 0 {
					b.WriteString(fence)
					j += n - 1
					continue
				}
				j = end + n - 1
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func assertMarkdownSafe(t *testing.T, what, md string) {
	t.Helper()
	assertVisible(t, what, md)
	// Lines gate starts with its own <details> are HTML blocks: markdown
	// is not read there, so only tags matter.
	var text []string
	for _, l := range strings.Split(md, "\n") {
		if !strings.HasPrefix(l, "<details>") && !strings.HasPrefix(l, "</details>") {
			text = append(text, l)
			continue
		}
		if rest := allowedTags.ReplaceAllString(l, ""); strings.ContainsAny(rest, "<>") {
			t.Errorf("%s: raw HTML in gate's HTML block: %q", what, l)
		}
	}
	m := markup(strings.Join(text, "\n"))
	for i := strings.IndexByte(m, '<'); i >= 0; i = strings.IndexByte(m, '<') {
		if !allowedTag.MatchString(m[i:]) {
			t.Errorf("%s: raw HTML reaches markdown: %q", what, m[i:min(len(m), i+60)])
			break
		}
		m = m[i+1:]
	}
	m = markup(strings.Join(text, "\n"))
	m = strings.ReplaceAll(m, "[help](https://example.com/help)", "")
	m = strings.ReplaceAll(m, "&lt;", "")
	for _, bad := range []string{"[", "](", "://", "www.", "@", "&#", "EVIL</", "<img", "<script", "<a "} {
		if i := strings.Index(strings.ToLower(m), strings.ToLower(bad)); i >= 0 {
			t.Errorf("%s: %q (a link, image, entity or tag) reaches markdown: %q", what, bad, m[max(0, i-30):min(len(m), i+40)])
		}
	}
}

// TestHostileStringsEveryFormat runs every hostile string through every
// output format and check-run payload, and asserts what the reader of each
// medium relies on.
func TestHostileStringsEveryFormat(t *testing.T) {
	for _, s := range hostileStrings {
		checkEveryFormat(t, s)
	}
}

// FuzzEveryFormat is the same property over any string a pull request can
// put in a name, a label, a value, a message or a file name: every format
// and check-run payload written with it (the sinks, not only their
// escaping functions) keeps control, escape and bidi characters from the
// terminal formats, raw HTML and links from markdown and check runs, and
// gives SARIF URIs that parse back to the repo-relative path.
func FuzzEveryFormat(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkEveryFormat(t, s)
	})
}

// checkEveryFormat writes a report carrying s in every PR-controlled field
// in every format and asserts what each medium's reader relies on.
func checkEveryFormat(t *testing.T, s string) {
	t.Helper()
	rep := hostileReport(s)
	for _, format := range report.FormatNames() {
		var buf bytes.Buffer
		if err := report.Write(&buf, format, rep, report.Options{Unified: true, URIPrefix: "deploy/", Command: "gate check"}); err != nil {
			t.Fatalf("%s %q: %v", format, s, err)
		}
		out := buf.String()
		what := format + " " + strings.ToValidUTF8(s, "?")
		switch format {
		case "text":
			assertVisible(t, what, out)
			if n := strings.Count(out, "\nresult:"); n != 1 || strings.HasPrefix(out, "result:") {
				t.Errorf("%s: %d lines start with result:, a forged verdict line:\n%s", what, n, out)
			}
		case "github":
			assertVisible(t, what, out)
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if !strings.HasPrefix(l, "::notice ") && !strings.HasPrefix(l, "::error ") && !strings.HasPrefix(l, "::warning ") {
					t.Errorf("%s: a line that is not gate's workflow command: %q", what, l)
				}
				props, _, ok := strings.Cut(strings.SplitN(l, " ", 2)[1], "::")
				if !ok {
					t.Errorf("%s: no message separator in %q", what, l)
				}
				for _, p := range strings.Split(props, ",") {
					if k, _, _ := strings.Cut(p, "="); k != "file" && k != "line" && k != "col" && k != "title" {
						t.Errorf("%s: a forged property %q in %q", what, p, l)
					}
				}
			}
		case "markdown":
			assertMarkdownSafe(t, what, out)
		case "sarif":
			assertSARIFURIs(t, what, out, "deploy/dir/"+s+".yaml")
		case "junit":
			d := xml.NewDecoder(strings.NewReader(out))
			for {
				if _, err := d.Token(); err != nil {
					if err.Error() != "EOF" {
						t.Errorf("%s: not well-formed XML: %v", what, err)
					}
					break
				}
			}
		case "json":
			var back checks.Report
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			// JSON keeps the text (an invalid byte becomes U+FFFD).
			if want := strings.Map(func(r rune) rune { return r }, rep.Findings[0].Message); back.Findings[0].Message != want {
				t.Errorf("%s: JSON changed the message: %q, want %q", what, back.Findings[0].Message, want)
			}
		}
	}
	for i := range rep.Envs {
		cr := report.EnvCheckRun(rep, &rep.Envs[i], report.CheckRunOptions{})
		what := "check run " + strings.ToValidUTF8(s, "?")
		assertVisible(t, what+" title", cr.Output.Title)
		assertMarkdownSafe(t, what+" summary", cr.Output.Summary)
		assertMarkdownSafe(t, what+" text", cr.Output.Text)
		assertMarkdownSafe(t, what+" full", cr.Full)
		for _, b := range cr.Batches {
			for _, a := range b {
				assertVisible(t, what+" annotation", a.Title+a.Message+a.RawDetails)
			}
		}
	}
	e := report.ErrorCheckRun("prod"+s, report.ConclusionFailure, "render failed: "+s)
	assertMarkdownSafe(t, "error check run "+strings.ToValidUTF8(s, "?"), e.Output.Summary)
}

func assertSARIFURIs(t *testing.T, what, out, want string) {
	t.Helper()
	var log struct {
		Runs []struct {
			Results []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	n := 0
	for _, r := range log.Runs {
		for _, res := range r.Results {
			for _, l := range res.Locations {
				uri := l.PhysicalLocation.ArtifactLocation.URI
				n++
				u, err := url.Parse(uri)
				if err != nil {
					t.Errorf("%s: URI %q does not parse: %v", what, uri, err)
					continue
				}
				if u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
					t.Errorf("%s: URI %q is not a plain relative path: %#v", what, uri, u)
				}
				wantJSON := strings.ToValidUTF8(want, "\uFFFD")
				if u.Path != wantJSON && u.Path != want {
					t.Errorf("%s: URI %q parses back to %q, want %q", what, uri, u.Path, want)
				}
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: no SARIF location", what)
	}
}
