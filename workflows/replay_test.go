package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/cspsync/cspsync/workflows"
)

// TestReplayRecordedHistories replays histories recorded by the end-to-end
// tests (CSPSYNC_RECORD_HISTORIES) against today's workflow code. A change
// that would break running workflows fails here: guard it with
// workflow.GetVersion, or re-record when no such workflow can be running.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	for _, f := range files {
		require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f), f)
	}
}
