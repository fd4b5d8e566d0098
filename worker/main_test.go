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

// A malformed allow-list stops the worker before it connects to anything.
func TestMalformedOperatorAllowListNamesTheSetting(t *testing.T) {
	for args, want := range map[string]string{
		"--operator-group=cspsync operators": "CSPSYNC_OPERATOR_GROUP \"cspsync operators\" is not a group object id",
		"--operators=bob@contoso.com alice":  "CSPSYNC_OPERATORS: \"alice\" is not a user principal name",
	} {
		err := app().Run([]string{"cspsync-worker", args})
		if assert.Error(t, err, args) {
			assert.Contains(t, err.Error(), want)
		}
	}
}
