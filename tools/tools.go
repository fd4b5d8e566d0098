//go:build tools

// Package tools pins the binaries cspsync's tests and local clusters need in
// a module of their own, so the main module stays lean: the Temporal CLI
// (dev server and UI) and, at the server version that CLI embeds, the
// production server and its SQL schema tool.
package tools

import (
	_ "github.com/temporalio/cli/cmd/temporal"
	_ "go.temporal.io/server/cmd/server"
	_ "go.temporal.io/server/cmd/tools/sql"
)
