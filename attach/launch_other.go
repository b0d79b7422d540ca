//go:build !linux

package main

// Only Linux runs a session's program under a filter.

func launchMain([]string) { usage() }

func lingerMain() { usage() }
