//go:build tools

// Package tools pins the developer binaries cspsync needs (the Temporal CLI
// with its dev server and UI) in a module of their own, so the main module
// stays lean and `go build` of this module installs exactly this version.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
