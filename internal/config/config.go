// Package config names every setting cspsync reads, with its environment
// variable and default, in one place shared by the CLI, the worker, the
// tests and the docker-compose check.
package config

import (
	"fmt"
	"strings"
	"unicode"
)

// Environment variables. Each CLI flag of the same meaning reads one of these.
const (
	EnvDatabaseURL       = "CSPSYNC_DATABASE_URL"
	EnvEncryptionKey     = "CSPSYNC_ENCRYPTION_KEY"
	EnvEncryptionKeyFile = "CSPSYNC_ENCRYPTION_KEY_FILE"
	EnvTemporalAddress   = "TEMPORAL_ADDRESS"
	EnvTemporalNamespace = "TEMPORAL_NAMESPACE"
	// EnvTemporalUI is the Temporal UI address the console links workflows to.
	EnvTemporalUI         = "CSPSYNC_TEMPORAL_UI"
	EnvTaskQueue          = "CSPSYNC_TASK_QUEUE"
	EnvHTTPAddr           = "CSPSYNC_HTTP_ADDR"
	EnvPublicURL          = "CSPSYNC_PUBLIC_URL"
	EnvCAFile             = "CSPSYNC_CA_FILE"
	EnvDataDir            = "CSPSYNC_DATA_DIR"
	EnvSimAddr            = "CSPSYNC_SIM_ADDR"
	EnvSimScenario        = "CSPSYNC_SIM_SCENARIO"
	EnvSimTenants         = "CSPSYNC_SIM_TENANTS"
	EnvDiscoveryPageSize  = "CSPSYNC_DISCOVERY_PAGE_SIZE"
	EnvUserPageSize       = "CSPSYNC_USER_PAGE_SIZE"
	EnvDiscoveryHeartbeat = "CSPSYNC_DISCOVERY_HEARTBEAT"
	EnvLogLevel           = "CSPSYNC_LOG_LEVEL"
	EnvTenantSyncInterval = "CSPSYNC_TENANT_SYNC_INTERVAL"
	EnvDiscoveryInterval  = "CSPSYNC_DISCOVERY_INTERVAL"
	EnvOperators          = "CSPSYNC_OPERATORS"
	EnvOperatorGroup      = "CSPSYNC_OPERATOR_GROUP"
	// EnvOperatorsEveryone lets every user of the partner's tenant use the
	// worker's pages; without it (or an allow-list) the pages admit no one.
	EnvOperatorsEveryone = "CSPSYNC_OPERATORS_EVERYONE_IN_PARTNER_TENANT"

	EnvMaxConcurrentActivities      = "CSPSYNC_MAX_CONCURRENT_ACTIVITIES"
	EnvMaxConcurrentWorkflowTasks   = "CSPSYNC_MAX_CONCURRENT_WORKFLOW_TASKS"
	EnvTaskQueueActivitiesPerSecond = "CSPSYNC_TASK_QUEUE_ACTIVITIES_PER_SECOND"
)

// Defaults for a local machine.
const (
	DefaultDatabaseURL       = "postgres://postgres@127.0.0.1:5432/cspsync?sslmode=disable"
	DefaultTemporalAddress   = "127.0.0.1:7233"
	DefaultTemporalNamespace = "default"
	DefaultTaskQueue         = "cspsync"
	DefaultHTTPAddr          = "127.0.0.1:8400"
	DefaultPublicURL         = "http://localhost:8400"
	DefaultDataDir           = ".data"
	KeyFileName              = "encryption.key" // in the data directory, by default
	SimStateDirName          = "sim"            // the simulator's state and CA, in the data directory
	DefaultSimAddr           = "127.0.0.1:8443"
	DefaultTemporalUIPort    = 8233

	// Temporal's own defaults: a worker takes up to 1,000 activities and
	// 1,000 workflow tasks at once, and the task queue has no rate limit (0).
	DefaultMaxConcurrentActivities      = 1000
	DefaultMaxConcurrentWorkflowTasks   = 1000
	DefaultTaskQueueActivitiesPerSecond = 0
)

// Connection is where cspsync's parts are: what the CLI and the worker both need.
type Connection struct {
	DatabaseURL       string
	EncryptionKey     string
	EncryptionKeyFile string
	TemporalAddress   string
	TemporalNamespace string
	TaskQueue         string
	// PublicURL is where browsers reach the worker's HTTP server; the
	// redirect URIs registered in Entra ID are PublicURL+CallbackPath and
	// PublicURL+ConsentCallbackPath.
	PublicURL string
	// CAFile is an extra CA bundle to trust (the simulator's), added to the
	// system roots. Empty for real Microsoft.
	CAFile string
}

// Worker is what the worker process needs.
type Worker struct {
	Connection
	HTTPAddr string
	// DiscoveryPageSize is the Partner Center page size (1..500).
	DiscoveryPageSize int
	// UserPageSize is the users/delta page size (1..200, Graph's largest).
	UserPageSize int
	// Operators may use the worker's pages.
	Operators Operators
	// Concurrency is how much of the task queue this worker takes on; zero
	// fields take Temporal's defaults.
	Concurrency Concurrency
}

// Concurrency bounds a worker's share of the task queue. Every worker of
// the queue runs all of cspsync's workflows and activities, so adding
// workers adds capacity; the rate limit holds for the queue as a whole.
type Concurrency struct {
	// Activities is how many activities this worker runs at once (Temporal's
	// MaxConcurrentActivityExecutionSize).
	Activities int
	// WorkflowTasks is how many workflow tasks it runs at once
	// (MaxConcurrentWorkflowTaskExecutionSize); Temporal refuses 1.
	WorkflowTasks int
	// TaskQueueActivitiesPerSecond caps the activities all workers of the
	// task queue start per second together, enforced by the Temporal server
	// (TaskQueueActivitiesPerSecond); 0 means no limit.
	TaskQueueActivitiesPerSecond float64
}

// Check refuses values Temporal would reject or that stop all work, naming
// the setting to change.
func (c Concurrency) Check() error {
	switch {
	case c.Activities < 1:
		return fmt.Errorf("%s=%d: a worker needs at least 1 activity slot (Temporal's default is %d)", EnvMaxConcurrentActivities, c.Activities, DefaultMaxConcurrentActivities)
	case c.WorkflowTasks < 2:
		return fmt.Errorf("%s=%d: Temporal needs at least 2 workflow task slots (its default is %d)", EnvMaxConcurrentWorkflowTasks, c.WorkflowTasks, DefaultMaxConcurrentWorkflowTasks)
	case c.TaskQueueActivitiesPerSecond < 0:
		return fmt.Errorf("%s=%g: use a positive rate, or 0 for no limit", EnvTaskQueueActivitiesPerSecond, c.TaskQueueActivitiesPerSecond)
	}
	return nil
}

// Operators is the allow-list of the worker's pages. Operators sign in with
// their account in the partner's Entra tenant. With no list and no group the
// pages admit no one, unless EveryoneInPartnerTenant says, explicitly, that
// every user of that tenant is an operator: a worker set up without thought
// must not open every tenant's data to the partner's whole staff.
type Operators struct {
	UPNs                    []string // user principal names, in any case
	Group                   string   // object id of a security group (the ID token's groups claim)
	EveryoneInPartnerTenant bool
}

// Listed tells whether an allow-list (names or a group) is configured.
func (o Operators) Listed() bool { return len(o.UPNs) > 0 || o.Group != "" }

// Rule says which rule admits operators, for `check` and the pages.
func (o Operators) Rule() string {
	switch {
	case o.EveryoneInPartnerTenant:
		return "every user of the partner's tenant (" + EnvOperatorsEveryone + ")"
	case len(o.UPNs) > 0 && o.Group != "":
		return fmt.Sprintf("the %d users %s lists and the members of the group %s", len(o.UPNs), EnvOperators, o.Group)
	case len(o.UPNs) > 0:
		return fmt.Sprintf("the %d users %s lists", len(o.UPNs), EnvOperators)
	case o.Group != "":
		return "the members of the group " + o.Group + " (" + EnvOperatorGroup + ")"
	}
	return "no one: no allow-list is configured"
}

// SplitList splits a list written with commas or spaces (CSPSYNC_OPERATORS).
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// Paths served by the worker's HTTP server.
const (
	CallbackPath         = "/auth/callback"
	ConsentCallbackPath  = "/consent/callback"
	OperatorCallbackPath = "/auth/operator/callback" // operators' sign-in (Partner Center app)
)

// Custom search attributes cspsync's workflows set (all Keyword). The dev
// setup and tests register them; a production namespace needs them too
// (`temporal operator search-attribute create`).
const (
	SearchPartnerID    = "PartnerId"
	SearchTenantID     = "TenantId"
	SearchCustomerName = "CustomerName"
	SearchRelationship = "Relationship"
	SearchConsentState = "ConsentState"
	SearchSyncState    = "SyncState"
)

// SearchAttributes maps each custom search attribute to its Temporal type.
var SearchAttributes = map[string]string{
	SearchPartnerID:    "Keyword",
	SearchTenantID:     "Keyword",
	SearchCustomerName: "Keyword",
	SearchRelationship: "Keyword",
	SearchConsentState: "Keyword",
	SearchSyncState:    "Keyword",
}
