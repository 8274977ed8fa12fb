package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

var kubeconformSummaryRe = regexp.MustCompile(`Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)`)

var conftestSummaryRe = regexp.MustCompile(`\d+ tests?, \d+ passed, \d+ warnings?, (\d+) failures?`)

// runBaseline runs the baseline pipeline over envs, par at a time.
func runBaseline(ctx context.Context, repo, bin, schemaDir string, cset *conftestSet, o options, envs []*benchEnv) (sample, error) {
	type envOut struct {
		valid, invalid, errs, skipped, failures int
		rss                                     int64
		cpu                                     time.Duration
	}
	outs := make(map[string]*envOut, len(envs))
	for _, e := range envs {
		outs[e.Name] = &envOut{}
	}
	start := time.Now()
	err := forEach(envs, o.par, func(e *benchEnv) error {
		kust := []string{filepath.Join(bin, "kustomize"), "build"}
		if e.Helm {
			kust = append(kust, "--enable-helm", "--helm-command", filepath.Join(bin, "helm"))
		}
		kust = append(kust, e.Path)
		kc := []string{filepath.Join(bin, "kubeconform"), "-strict", "-summary", "-kubernetes-version", o.kubeVersion + ".0",
			"-schema-location", filepath.Join(schemaDir, kubeconformTemplate)}
		if e.flux != nil {
			// Flux's own kinds have no schema here; gate warns about them too.
			kc = append(kc, "-ignore-missing-schemas")
		}
		kc = append(kc, "-")
		ct := []string{filepath.Join(bin, "conftest"), "test", "--no-color", "--combine", "--parser", "yaml", "--data", e.data}
		for _, p := range cset.Paths {
			ct = append(ct, "-p", p)
		}
		ct = append(ct, "-")
		var procs []*proc
		var err error
		if e.flux != nil {
			procs, err = seqPipeline(ctx, repo, e.flux.commands(bin, o.kubeVersion), kc, ct)
			if err != nil {
				return fmt.Errorf("env %s: %w", e.Name, err)
			}
			// One producer line for the checks below: the consumers stay last.
			prod := &proc{}
			for _, p := range procs[:len(procs)-2] {
				prod.rss = max(prod.rss, p.rss)
				prod.cpu += p.cpu
			}
			procs = append([]*proc{prod}, procs[len(procs)-2:]...)
		} else {
			procs, err = pipeline(ctx, repo, kust, kc, ct)
			if err != nil {
				return fmt.Errorf("env %s: %w", e.Name, err)
			}
		}
		eo := outs[e.Name]
		for _, p := range procs {
			eo.rss = max(eo.rss, p.rss)
			eo.cpu += p.cpu
		}
		if procs[0].code != 0 {
			return fmt.Errorf("env %s: kustomize build exited %d: %s", e.Name, procs[0].code, tail(procs[0].stderr, 5))
		}
		if procs[1].code > 1 {
			return fmt.Errorf("env %s: kubeconform exited %d: %s", e.Name, procs[1].code, tail(append(procs[1].stdout, procs[1].stderr...), 5))
		}
		m := kubeconformSummaryRe.FindSubmatch(procs[1].stdout)
		if m == nil {
			return fmt.Errorf("env %s: kubeconform printed no summary: %s", e.Name, tail(append(procs[1].stdout, procs[1].stderr...), 5))
		}
		eo.valid, _ = strconv.Atoi(string(m[1]))
		eo.invalid, _ = strconv.Atoi(string(m[2]))
		eo.errs, _ = strconv.Atoi(string(m[3]))
		eo.skipped, _ = strconv.Atoi(string(m[4]))
		if procs[2].code > 1 {
			return fmt.Errorf("env %s: conftest exited %d: %s", e.Name, procs[2].code, tail(append(procs[2].stdout, procs[2].stderr...), 5))
		}
		// conftest exits 1 on failures and on errors alike (a policy it
		// cannot load): only its summary line tells them apart.
		m = conftestSummaryRe.FindSubmatch(procs[2].stdout)
		if m == nil {
			return fmt.Errorf("env %s: conftest printed no summary (exit %d): %s", e.Name, procs[2].code, tail(append(procs[2].stdout, procs[2].stderr...), 5))
		}
		eo.failures, _ = strconv.Atoi(string(m[1]))
		return nil
	})
	s := sample{wall: time.Since(start)}
	if err != nil {
		return s, err
	}
	var valid, invalid, errs, skipped, failures int
	for _, eo := range outs {
		s.peakRSS = max(s.peakRSS, eo.rss)
		s.cpu += eo.cpu
		valid += eo.valid
		invalid += eo.invalid
		errs += eo.errs
		skipped += eo.skipped
		failures += eo.failures
	}
	s.note = fmt.Sprintf("%d resources: %d invalid, %d errors, %d skipped; %d policy failures", valid+invalid+errs+skipped, invalid, errs, skipped, failures)
	return s, nil
}
