//go:build !linux

package main

import "syscall"

// sysProcAttr is nil off Linux, where the harness cannot read /proc and
// reports no CPU or memory figures.
func sysProcAttr() *syscall.SysProcAttr { return nil }
