//go:build !linux

package tasks

import "syscall"

// killWithParent is Linux's parent-death signal elsewhere: there, only Cleanup stops the processes.
func killWithParent() *syscall.SysProcAttr { return nil }
