package workflows

import "go.temporal.io/sdk/worker"

// Register registers every workflow; the worker calls it once.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(PartnerWorkflow)
	r.RegisterWorkflow(TenantWorkflow)
	r.RegisterWorkflow(DiscoveryTriggerWorkflow)
}
