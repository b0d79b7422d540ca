package main

import (
	"path/filepath"
	"strings"

	"mq/internal/mqclient"
)

// defaultService is the service attach uses without -s (SPEC §10).
func defaultService() string { return "attach-" + mqclient.User() }

// historyDir is where the mq that attach starts for service srv keeps
// its sessions (`mq -r dir`, SPEC §11.6): the per-user directory
// stateBase()/attach for the default service, attach.srv beside it for
// another. It is made, mode 0700, if absent.
func historyDir(srv string) (string, error) {
	dir, err := historyPath(srv)
	if err != nil {
		return "", err
	}
	if err := mkdirPrivate(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// historyPath is historyDir, not made.
func historyPath(srv string) (string, error) {
	base, err := stateBase()
	if err != nil {
		return "", err
	}
	name := "attach"
	if srv != defaultService() {
		name += "." + strings.ReplaceAll(srv, "/", "_")
	}
	return filepath.Join(base, name), nil
}
