//go:build !linux

package testredis

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; cleanups stop servers.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
