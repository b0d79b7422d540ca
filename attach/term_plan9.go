package main

import (
	"errors"
	"os"

	"mq/internal/mqclient"
)

// Plan 9 has no pseudo-terminals: its programs write the streams
// themselves, and a window is rio's business (SPEC §10.1).

func canTerminal() error { return errors.New("no pseudo-terminals on Plan 9") }

func startTerminal(mqclient.FS, string, []string) (proc, error) { return nil, canTerminal() }

func makeRaw() bool { return false }

func restoreTerminal() {}

func terminalSize() (rows, cols int, ok bool) { return 0, 0, false }

var terminationSignals, resizeSignals, quitSignals []os.Signal

func signalNumber(os.Signal) int { return 0 }
