package workflows

import (
	"go.temporal.io/sdk/worker"

	"github.com/cspsync/cspsync/activities"
)

// acts references the activities in ExecuteActivity calls, so the compiler
// checks their names and arguments.
var acts *activities.Activities

// Register registers every workflow; the worker calls it once.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(PartnerWorkflow)
	r.RegisterWorkflow(TenantWorkflow)
	r.RegisterWorkflow(DiscoveryTriggerWorkflow)
	r.RegisterWorkflow(LicenceChangeWorkflow)
}
