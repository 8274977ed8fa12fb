package sandbox

import (
	"os/exec"
	"syscall"
)

// setProcAttrs kills the worker if the parent dies, so a crashed server
// leaves no renders running.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
