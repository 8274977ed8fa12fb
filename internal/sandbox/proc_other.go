//go:build !linux

package sandbox

import "os/exec"

func setProcAttrs(*exec.Cmd, bool) {}

func namespaceRefused(error) bool { return false }
