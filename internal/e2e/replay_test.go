package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// EnvRecordHistories names a directory to save every replayed history to
// (workflows/testdata/histories keeps a few, replayed by the unit tests to
// guard determinism across releases).
const EnvRecordHistories = "CSPSYNC_RECORD_HISTORIES"

// replayAll replays every closed run the test produced against the current
// workflow code: any non-determinism in the paths the test exercised fails it.
func replayAll(t *testing.T, s *testenv.Stack) {
	t.Helper()
	ctx := context.Background()
	resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000})
	require.NoError(t, err)
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	dir := os.Getenv(EnvRecordHistories)
	replayed := 0
	for _, ex := range resp.Executions {
		if ex.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue // a running history ends mid-flight; its closed siblings cover it
		}
		h := &historypb.History{}
		iter := s.Client.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			h.Events = append(h.Events, ev)
		}
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, h), "replaying %s run %s", ex.Execution.WorkflowId, ex.Execution.RunId)
		replayed++
		if dir != "" {
			b, err := protojson.Marshal(h)
			require.NoError(t, err)
			name := strings.NewReplacer("/", "_").Replace(ex.Execution.WorkflowId) + "_" + ex.Execution.RunId + ".json"
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
	}
	require.Positive(t, replayed)
	t.Logf("replayed %d closed runs", replayed)
}
