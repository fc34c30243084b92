//go:build tools

// Package tools records the program this helper module builds (helm), so that
// `go mod tidy` keeps its dependencies in go.mod/go.sum. Never compiled.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
