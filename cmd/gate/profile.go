package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// enableProfiling adds the hidden --cpuprofile and --memprofile flags that
// `make bench -profile` (cmd/gate-bench) uses to find hot spots. They wrap
// every command's RunE, so the profile covers the whole run and is written
// even when the gate fails (exit 1).
func enableProfiling(root *cobra.Command) {
	var cpu, mem string
	pf := root.PersistentFlags()
	pf.StringVar(&cpu, "cpuprofile", "", "write a CPU profile to this file")
	pf.StringVar(&mem, "memprofile", "", "write an allocation profile to this file when the command ends")
	_ = pf.MarkHidden("cpuprofile")
	_ = pf.MarkHidden("memprofile")
	var wrap func(c *cobra.Command)
	wrap = func(c *cobra.Command) {
		if inner := c.RunE; inner != nil {
			c.RunE = func(cmd *cobra.Command, args []string) (err error) {
				stop, perr := startProfiles(cpu, mem)
				if perr != nil {
					return &exitCodeError{code: exitError, err: perr}
				}
				defer func() {
					if perr := stop(); perr != nil && err == nil {
						err = &exitCodeError{code: exitError, err: perr}
					}
				}()
				return inner(cmd, args)
			}
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
}

func startProfiles(cpu, mem string) (stop func() error, err error) {
	var cpuFile *os.File
	if cpu != "" {
		if cpuFile, err = os.Create(cpu); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.Close(); err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
		}
		if mem == "" {
			return nil
		}
		f, err := os.Create(mem)
		if err != nil {
			return fmt.Errorf("memory profile: %w", err)
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return fmt.Errorf("memory profile: %w", err)
		}
		return nil
	}, nil
}
