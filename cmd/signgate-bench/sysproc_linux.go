package main

import "syscall"

// sysProcAttr has the kernel kill a server if the harness dies first. It
// fires when the forking thread exits, which Go threads do not do in
// practice.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
