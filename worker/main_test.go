package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every flag of the worker can also be set from the environment.
func TestEveryWorkerFlagHasAnEnvironmentVariable(t *testing.T) {
	for _, f := range app().Flags {
		env, ok := f.(interface{ GetEnvVars() []string })
		if assert.True(t, ok, "--%s", f.Names()[0]) {
			assert.NotEmpty(t, env.GetEnvVars(), "--%s has no environment variable", f.Names()[0])
		}
	}
}
