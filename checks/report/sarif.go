package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/escape"
)

// SARIF 2.1.0 as GitHub code scanning reads it. Only the parts gate fills
// are modelled.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool              sarifTool                 `json:"tool"`
	AutomationDetails *sarifAutomation          `json:"automationDetails,omitempty"`
	OriginalURIBaseID map[string]sarifArtifactL `json:"originalUriBaseIds,omitempty"`
	Results           []sarifResult             `json:"results"`
	Properties        map[string]any            `json:"properties,omitempty"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	FullDescription      *sarifText      `json:"fullDescription,omitempty"`
	HelpURI              string          `json:"helpUri,omitempty"`
	Help                 *sarifText      `json:"help,omitempty"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           map[string]any  `json:"properties,omitempty"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Kind                string            `json:"kind,omitempty"`
	Level               string            `json:"level"`
	BaselineState       string            `json:"baselineState,omitempty"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations,omitempty"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Suppressions        []sarifSuppress   `json:"suppressions,omitempty"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifSuppress struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical          `json:"physicalLocation"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
}

type sarifLogicalLocation struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactL `json:"artifactLocation"`
	Region           *sarifRegion   `json:"region,omitempty"`
}

type sarifArtifactL struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// sarifSchemaURI is the schema GitHub and editors recognise.
const sarifSchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"

func sarifLevel(s checks.Severity) string {
	switch s {
	case checks.SeverityError:
		return "error"
	case checks.SeverityWarning:
		return "warning"
	case checks.SeverityNotice:
		return "note"
	}
	return "none"
}

// SARIF writes the findings as one SARIF 2.1.0 run, for GitHub code
// scanning and other SARIF viewers. Each rule id becomes a reporting
// descriptor with help; each finding a result on its source line (relative
// to the repo root, %SRCROOT%). The environment is part of the message and
// of the fingerprint, so the same problem in two environments is two
// alerts. Waived findings carry an external suppression with the reason.
//
// Compared with a base (or a baseline file), each result has a
// baselineState: new, unchanged (existing) or absent: the base's findings
// the change fixes, as results of kind pass and level none so no viewer
// counts them as problems.
func SARIF(w io.Writer, rep *checks.Report, opts Options) error {
	all := rep.AllFindings()
	for _, e := range rep.Envs {
		all = append(all, e.Fixed...)
	}
	rules, ruleIdx := sarifRules(all)
	results := make([]sarifResult, 0, len(all))
	for _, f := range all {
		results = append(results, sarifResultOf(f, ruleIdx[f.RuleID], opts))
	}
	if rules == nil {
		rules = []sarifRule{}
	}
	props := sarifRunProperties(rep)
	log := sarifLog{
		Schema:  sarifSchemaURI,
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name:           "gate",
				InformationURI: "https://github.com/gate-ops/gate",
				Version:        opts.ToolVersion,
				Rules:          rules,
			}},
			AutomationDetails: &sarifAutomation{ID: "gate/"},
			Results:           results,
			Properties:        props,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(log)
}

// sarifRules are the reporting descriptors of the rules among all, sorted
// by id, and each id's index.
func sarifRules(all []checks.Finding) ([]sarifRule, map[string]int) {
	ruleIdx := map[string]int{}
	var rules []sarifRule
	type ruleInfo struct {
		check, help string
		sev         checks.Severity
	}
	info := map[string]*ruleInfo{}
	var ids []string
	for _, f := range all {
		ri, ok := info[f.RuleID]
		if !ok {
			ri = &ruleInfo{check: f.Check}
			info[f.RuleID] = ri
			ids = append(ids, f.RuleID)
		}
		if ri.help == "" {
			ri.help = f.HelpURL
		}
		if f.Severity > ri.sev {
			ri.sev = f.Severity
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		ri := info[id]
		ruleIdx[id] = len(rules)
		check := ri.check
		if check == "" {
			check = "gate"
		}
		help := fmt.Sprintf("Reported by gate's %s check. The message names the object and the field; fix the source line the result points at.", check)
		if ri.help != "" {
			help += " More: " + ri.help
		}
		r := sarifRule{
			ID:                   id,
			Name:                 ruleName(id),
			ShortDescription:     sarifText{Text: fmt.Sprintf("gate %s rule %s", check, id)},
			Help:                 &sarifText{Text: help},
			HelpURI:              ri.help,
			DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(ri.sev)},
			Properties:           map[string]any{"tags": []string{"gate", check}},
		}
		rules = append(rules, r)
	}
	return rules, ruleIdx
}

// sarifResultOf is one finding as a result on its source line.
func sarifResultOf(f checks.Finding, ruleIndex int, opts Options) sarifResult {
	msg := f.Message
	if f.Resource != nil {
		msg = f.Resource.String() + ": " + msg
	}
	if f.Env != "" {
		msg = "[" + f.Env + "] " + msg
	}
	res := sarifResult{
		RuleID:              f.RuleID,
		RuleIndex:           ruleIndex,
		Level:               sarifLevel(f.Severity),
		Message:             sarifText{Text: msg},
		PartialFingerprints: map[string]string{"gateFinding/v1": fingerprint(f)},
		Properties:          map[string]any{"check": f.Check, "severity": f.Severity.String()},
	}
	if f.Fingerprint != "" {
		// Line-free identity that also survives generator renames:
		// the one new/existing/fixed are decided by.
		res.PartialFingerprints["gateIdentity/v1"] = f.Fingerprint
	}
	switch f.Baseline {
	case checks.BaselineNew:
		res.BaselineState = "new"
	case checks.BaselineExisting:
		res.BaselineState = "unchanged"
	case checks.BaselineFixed:
		res.BaselineState, res.Kind, res.Level = "absent", "pass", "none"
	}
	if f.Baseline != "" {
		res.Properties["baseline"] = f.Baseline
	}
	if f.Env != "" {
		res.Properties["env"] = f.Env
	}
	if f.Path != "" {
		res.Properties["fieldPath"] = f.Path
	}
	if !f.Origin.IsZero() {
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifactL{URI: escape.URI(opts.URIPrefix + f.Origin.File), URIBaseID: "%SRCROOT%"}}}
		if f.Origin.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Origin.Line, StartColumn: f.Origin.Column}
		}
		if f.Resource != nil {
			loc.LogicalLocations = []sarifLogicalLocation{{FullyQualifiedName: f.Resource.String(), Kind: "object"}}
		}
		res.Locations = []sarifLocation{loc}
	}
	if f.Waived != "" {
		res.Suppressions = []sarifSuppress{{Kind: "external", Justification: f.Waived}}
	}
	return res
}

// sarifRunProperties are the run's verdict, revisions, baseline counts and
// the environments an incremental run left out.
func sarifRunProperties(rep *checks.Report) map[string]any {
	props := map[string]any{"pass": rep.Pass, "failOn": rep.FailOn.String(), "headRev": rep.HeadRev, "baseRev": rep.BaseRev}
	if b := rep.Baseline; b != nil {
		props["failOnScope"] = rep.FailOnScope
		props["baseline"] = map[string]any{"against": b.Against, "new": b.New, "existing": b.Existing, "fixed": b.Fixed}
	}
	// Environments an incremental run left out have no results because
	// nothing was looked at: say so, so a viewer does not read their
	// absence as "fixed".
	var skipped []string
	for i := range rep.Envs {
		if _, ok := notRendered(&rep.Envs[i]); ok {
			skipped = append(skipped, rep.Envs[i].Env.Name)
		}
	}
	if len(skipped) > 0 {
		props["notRendered"] = skipped
	}
	return props
}

// ruleName turns "policy/no-latest-tag" into "NoLatestTag", SARIF's
// PascalCase convention for rule names.
func ruleName(id string) string {
	var b strings.Builder
	up := true
	for _, r := range id[strings.LastIndexByte(id, '/')+1:] {
		switch {
		case r == '-' || r == '_' || r == '.' || r == ' ':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "Finding"
	}
	return b.String()
}

// fingerprint identifies a finding across runs without its line number, so
// an alert survives unrelated edits above it.
func fingerprint(f checks.Finding) string {
	res := ""
	if f.Resource != nil {
		res = f.Resource.Key()
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{f.Env, f.RuleID, res, f.Path, f.Origin.File, f.Message}, "\x00")))
	return hex.EncodeToString(sum[:16])
}
