package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cspsync/cspsync/workflows"
)

// EnvRecordHistories names a directory to save every replayed closed history
// to (workflows/testdata/histories keeps a few, replayed by the unit tests to
// guard determinism across releases).
const EnvRecordHistories = "CSPSYNC_RECORD_HISTORIES"

// Executions lists every run the stack's Temporal holds, closed and running.
func (s *Stack) Executions() []*workflowpb.WorkflowExecutionInfo {
	s.T.Helper()
	var out []*workflowpb.WorkflowExecutionInfo
	req := &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000}
	for {
		resp, err := s.Client.ListWorkflow(context.Background(), req)
		require.NoError(s.T, err)
		out = append(out, resp.Executions...)
		if len(resp.NextPageToken) == 0 {
			return out
		}
		req.NextPageToken = resp.NextPageToken
	}
}

// History returns every event of one run.
func (s *Stack) History(ex *workflowpb.WorkflowExecutionInfo) *historypb.History {
	s.T.Helper()
	h := &historypb.History{}
	iter := s.Client.GetWorkflowHistory(context.Background(), ex.Execution.WorkflowId, ex.Execution.RunId, false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(s.T, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

// replayAll replays every run the test produced, closed or still running,
// against the current workflow code: any non-determinism in the paths the
// test exercised fails it. NewStack runs it when a test ends.
func (s *Stack) replayAll() {
	s.T.Helper()
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	dir := os.Getenv(EnvRecordHistories)
	replayed, closed := 0, 0
	for _, ex := range s.Executions() {
		h := s.History(ex)
		if !decided(h) {
			continue // started, no workflow task completed yet: no decision to check
		}
		require.NoError(s.T, replayer.ReplayWorkflowHistory(nil, h), "replaying %s run %s", ex.Execution.WorkflowId, ex.Execution.RunId)
		replayed++
		if ex.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue
		}
		closed++
		if dir != "" {
			b, err := protojson.Marshal(h)
			require.NoError(s.T, err)
			name := strings.NewReplacer("/", "_").Replace(ex.Execution.WorkflowId) + "_" + ex.Execution.RunId + ".json"
			require.NoError(s.T, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
	}
	s.T.Logf("replayed %d runs (%d closed)", replayed, closed)
}

// decided reports whether a workflow task of the run completed.
func decided(h *historypb.History) bool {
	for _, ev := range h.Events {
		if ev.EventType == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return true
		}
	}
	return false
}

// replayAtEnd replays every run when a test (not a benchmark) ends well.
func (s *Stack) replayAtEnd() {
	if _, ok := s.T.(*testing.T); !ok {
		return
	}
	s.T.Cleanup(func() {
		if !s.T.Failed() {
			s.replayAll()
		}
	})
}
