package main

import (
	"os/exec"
	"strings"
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

// Concurrency settings Temporal would refuse stop the worker before it
// connects, naming the setting.
func TestConcurrencyOutOfRangeNamesTheSetting(t *testing.T) {
	for args, want := range map[string]string{
		"--max-concurrent-activities=0":           "CSPSYNC_MAX_CONCURRENT_ACTIVITIES=0: a worker needs at least 1 activity slot",
		"--max-concurrent-workflow-tasks=1":       "CSPSYNC_MAX_CONCURRENT_WORKFLOW_TASKS=1: Temporal needs at least 2 workflow task slots",
		"--task-queue-activities-per-second=-0.5": "CSPSYNC_TASK_QUEUE_ACTIVITIES_PER_SECOND=-0.5: use a positive rate, or 0 for no limit",
	} {
		err := app().Run([]string{"cspsync-worker", args})
		if assert.Error(t, err, args) {
			assert.Contains(t, err.Error(), want)
		}
	}
}

// The worker binary carries neither the CLI nor the simulator.
func TestWorkerCarriesNeitherTheCLINorTheSimulator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		assert.NotContains(t, []string{"github.com/cspsync/cspsync/internal/cli", "github.com/cspsync/cspsync/internal/sim"}, pkg)
	}
}
