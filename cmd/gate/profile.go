package main

import (
	"github.com/gate-ops/gate/internal/run"
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
				stop, perr := run.StartProfiles(cpu, mem)
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
