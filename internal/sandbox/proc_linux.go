package sandbox

import (
	"errors"
	"os/exec"
	"syscall"
)

// setProcAttrs kills the worker if the parent dies, so a crashed server
// leaves no renders running, and (isolated) starts it in a network
// namespace of its own: no interface but a loopback that is down, so
// nothing a hostile input makes a library do reaches any network. As a
// user without CAP_SYS_ADMIN it takes a user namespace too, mapped to the
// same ids.
func setProcAttrs(cmd *exec.Cmd, isolated bool) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if isolated {
		attr.Cloneflags = syscall.CLONE_NEWNET
		if uid := syscall.Getuid(); uid != 0 {
			gid := syscall.Getgid()
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		}
	}
	cmd.SysProcAttr = attr
}

// namespaceRefused says whether a worker failed to start because the
// machine allows no new namespace (a container without the capability,
// user namespaces turned off).
func namespaceRefused(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EUSERS)
}
