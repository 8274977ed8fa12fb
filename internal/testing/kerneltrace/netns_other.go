//go:build !linux

package kerneltrace

import (
	"errors"
	"os/exec"
)

func setNetNS(*exec.Cmd) {}

func loopbackUp() error { return errors.New("not Linux") }
