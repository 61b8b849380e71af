package tasks

import "syscall"

// killWithParent has Linux kill a test's redis-server when the test binary dies without running
// its Cleanup (a panic, a -timeout), so that no process outlives the run.
func killWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
