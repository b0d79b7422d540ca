//go:build !plan9

package main

import (
	"errors"
	"io"
	"testing"

	"9fans.net/go/plan9/client"
)

// The count of a "reader fell behind" error moves a reader's count of
// messages on (SPEC §7.3, §11.6); other errors are not it.
func TestLostCount(t *testing.T) {
	tests := []struct {
		err  error
		n    uint32
		lost bool
	}{
		{client.Error("reader fell behind: 12 messages lost"), 12, true},
		{client.Error("reader fell behind: 1 messages lost"), 1, true},
		{client.Error("file does not exist"), 0, false},
		{io.EOF, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		n, lost := lostCount(tt.err)
		if n != tt.n || lost != tt.lost {
			t.Errorf("lostCount(%v) = %d, %v; want %d, %v", tt.err, n, lost, tt.n, tt.lost)
		}
	}
}

// Errors the server sends are refusals; anything else from a call
// means its connection is gone.
func TestBroken(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{client.Error("file does not exist"), false},
		{io.EOF, true},
		{errors.New("write unix ->x: broken pipe"), true},
	}
	for _, tt := range tests {
		if got := broken(tt.err); got != tt.want {
			t.Errorf("broken(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
