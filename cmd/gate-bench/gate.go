package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type gateCaps struct {
	check, base, cacheDir, cpuProfile bool
}

func probeGate(ctx context.Context, gate string) gateCaps {
	var c gateCaps
	if p, err := runProc(ctx, "", nil, nil, gate, "check", "--help"); err == nil && p.code == 0 {
		c.check = true
		help := string(p.stdout)
		c.base = strings.Contains(help, "--base")
		c.cacheDir = strings.Contains(help, "--cache-dir")
	}
	if p, err := runProc(ctx, "", nil, nil, gate, "--cpuprofile", os.DevNull, "version"); err == nil && p.code == 0 {
		c.cpuProfile = true
	}
	return c
}

// runGate runs one gate command in the repo. Exit 1 (the gate failed on
// findings) is a normal outcome; 2 is an error.
func runGate(ctx context.Context, repo, gate, jsonReport string, env []string, args ...string) (sample, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return sample{}, err
	}
	defer devnull.Close()
	start := time.Now()
	p, err := runProc(ctx, repo, env, devnull, gate, args...)
	s := sample{wall: time.Since(start)}
	if err != nil {
		return s, err
	}
	s.peakRSS, s.cpu = p.rss, p.cpu
	if p.code > 1 {
		return s, fmt.Errorf("gate %s exited %d: %s", strings.Join(args, " "), p.code, tail(p.stderr, 8))
	}
	if jsonReport != "" {
		s.note = summarizeReport(jsonReport)
	}
	return s, nil
}

// summarizeReport reads the counts that matter from a gate JSON report.
func summarizeReport(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "no report: " + err.Error()
	}
	var r struct {
		Envs []struct {
			Status    string `json:"status"`
			Resources int    `json:"resources"`
			Findings  []struct {
				Check string `json:"check"`
			} `json:"findings"`
		} `json:"environments"`
		Pass bool `json:"pass"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "unreadable report: " + err.Error()
	}
	resources := 0
	byCheck := map[string]int{}
	byStatus := map[string]int{}
	for _, e := range r.Envs {
		resources += e.Resources
		byStatus[e.Status]++
		for _, f := range e.Findings {
			byCheck[f.Check]++
		}
	}
	var parts []string
	for _, k := range sortedKeys(byCheck) {
		parts = append(parts, fmt.Sprintf("%s %d", k, byCheck[k]))
	}
	var st []string
	for _, k := range sortedKeys(byStatus) {
		st = append(st, fmt.Sprintf("%s %d", k, byStatus[k]))
	}
	return fmt.Sprintf("%d envs (%s), %d resources; findings: %s", len(r.Envs), strings.Join(st, ", "), resources, strings.Join(parts, ", "))
}

func tailOf(p *proc) string {
	if p == nil {
		return ""
	}
	return tail(append(p.stdout, p.stderr...), 10)
}

// profileGate runs `gate check` once with the hidden profiling flags and
// prints the top of the CPU and allocation profiles.
func profileGate(ctx context.Context, out io.Writer, repo, gate, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cpu, mem := filepath.Join(dir, "check.cpu.pprof"), filepath.Join(dir, "check.allocs.pprof")
	if _, err := runGate(ctx, repo, gate, "", nil, "--cpuprofile", cpu, "--memprofile", mem, "check"); err != nil {
		return err
	}
	for _, pr := range []struct {
		file, title string
		args        []string
	}{
		{cpu, "CPU, cumulative", []string{"-top", "-cum", "-nodecount=30"}},
		{cpu, "CPU, flat", []string{"-top", "-nodecount=25"}},
		{mem, "allocated bytes, cumulative", []string{"-top", "-cum", "-sample_index=alloc_space", "-nodecount=30"}},
	} {
		args := append([]string{"tool", "pprof"}, pr.args...)
		args = append(args, gate, pr.file)
		cmd := exec.CommandContext(ctx, "go", args...)
		b, err := cmd.CombinedOutput()
		fmt.Fprintf(out, "\n== gate check profile: %s (%s)\n%s", pr.title, pr.file, b)
		if err != nil {
			return fmt.Errorf("go tool pprof: %w", err)
		}
	}
	return nil
}
