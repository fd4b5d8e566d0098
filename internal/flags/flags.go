// Package flags declares the command-line flags the cspsync CLI and the
// worker share, each bound to its environment variable (internal/config).
package flags

import (
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/config"
)

var (
	DatabaseURL = &cli.StringFlag{Name: "database-url", Usage: "PostgreSQL URL of the PSA database",
		Value: config.DefaultDatabaseURL, EnvVars: []string{config.EnvDatabaseURL}}
	Key = &cli.StringFlag{Name: "encryption-key", Usage: "32-byte key, base64, sealing secrets at rest",
		EnvVars: []string{config.EnvEncryptionKey}}
	KeyFile = &cli.StringFlag{Name: "encryption-key-file", Usage: "file holding the encryption key, used when --encryption-key is empty (default: encryption.key in --data-dir)",
		EnvVars: []string{config.EnvEncryptionKeyFile}}
	DataDir = &cli.StringFlag{Name: "data-dir", Usage: "the local data directory: the default key file, and the dev setup's logs, Temporal state and simulator state and CA",
		Value: config.DefaultDataDir, EnvVars: []string{config.EnvDataDir}}
	TemporalAddress = &cli.StringFlag{Name: "temporal-address", Usage: "Temporal frontend host:port",
		Value: config.DefaultTemporalAddress, EnvVars: []string{config.EnvTemporalAddress}}
	TemporalNamespace = &cli.StringFlag{Name: "temporal-namespace", Usage: "Temporal namespace",
		Value: config.DefaultTemporalNamespace, EnvVars: []string{config.EnvTemporalNamespace}}
	TaskQueue = &cli.StringFlag{Name: "task-queue", Usage: "Temporal task queue of the cspsync worker",
		Value: config.DefaultTaskQueue, EnvVars: []string{config.EnvTaskQueue}}
	PublicURL = &cli.StringFlag{Name: "public-url", Usage: "URL where browsers reach the worker's HTTP server (redirect URIs hang off it)",
		Value: config.DefaultPublicURL, EnvVars: []string{config.EnvPublicURL}}
	HTTPAddr = &cli.StringFlag{Name: "http-addr", Usage: "listen address of the worker's HTTP server",
		Value: config.DefaultHTTPAddr, EnvVars: []string{config.EnvHTTPAddr}}
	CAFile = &cli.StringFlag{Name: "ca-file", Usage: "extra CA certificate to trust (the simulator's ca.pem); empty for real Microsoft",
		EnvVars: []string{config.EnvCAFile}}
	DiscoveryPageSize = &cli.IntFlag{Name: "discovery-page-size", Value: 100, Usage: "Partner Center page size (1..500)",
		EnvVars: []string{config.EnvDiscoveryPageSize}}
	Operators = &cli.StringFlag{Name: "operators", Usage: "user principal names allowed to use the worker's pages, comma-separated (empty: see --operator-group)",
		EnvVars: []string{config.EnvOperators}}
	OperatorGroup = &cli.StringFlag{Name: "operator-group", Usage: "object id of the Entra security group whose members may use the worker's pages (with --operators empty too, no one may, unless --operators-everyone-in-partner-tenant)",
		EnvVars: []string{config.EnvOperatorGroup}}
	OperatorsEveryone = &cli.BoolFlag{Name: "operators-everyone-in-partner-tenant", Usage: "let every user of the partner's tenant use the worker's pages (without it, or --operators / --operator-group, they admit no one)",
		EnvVars: []string{config.EnvOperatorsEveryone}}
	UserPageSize = &cli.IntFlag{Name: "user-page-size", Value: 200, Usage: "users/delta page size (1..200, Graph's largest)",
		EnvVars: []string{config.EnvUserPageSize}}
	MaxConcurrentActivities = &cli.IntFlag{Name: "max-concurrent-activities", Value: config.DefaultMaxConcurrentActivities,
		Usage: "how many activities this worker runs at once", EnvVars: []string{config.EnvMaxConcurrentActivities}}
	MaxConcurrentWorkflowTasks = &cli.IntFlag{Name: "max-concurrent-workflow-tasks", Value: config.DefaultMaxConcurrentWorkflowTasks,
		Usage: "how many workflow tasks this worker runs at once (at least 2)", EnvVars: []string{config.EnvMaxConcurrentWorkflowTasks}}
	TaskQueueActivitiesPerSecond = &cli.Float64Flag{Name: "task-queue-activities-per-second", Value: config.DefaultTaskQueueActivitiesPerSecond,
		Usage:   "most activities all workers of the task queue start per second together, enforced by the Temporal server (0: no limit)",
		EnvVars: []string{config.EnvTaskQueueActivitiesPerSecond}}
	LogLevel = &cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error",
		EnvVars: []string{config.EnvLogLevel}}
)

// Global are the flags every cspsync program takes: where the database,
// the key and Temporal are.
var Global = []cli.Flag{DatabaseURL, Key, KeyFile, DataDir, TemporalAddress, TemporalNamespace, TaskQueue}

// Connection reads the connection settings from the flags a command has
// (the global ones, and --ca-file and --public-url where it takes them).
func Connection(c *cli.Context) config.Connection {
	return config.Connection{
		DatabaseURL: c.String(DatabaseURL.Name), EncryptionKey: c.String(Key.Name),
		EncryptionKeyFile: KeyFilePath(c), TemporalAddress: c.String(TemporalAddress.Name),
		TemporalNamespace: c.String(TemporalNamespace.Name), TaskQueue: c.String(TaskQueue.Name),
		CAFile: c.String(CAFile.Name), PublicURL: c.String(PublicURL.Name),
	}
}

// Concurrency reads the worker's concurrency flags.
func Concurrency(c *cli.Context) config.Concurrency {
	return config.Concurrency{Activities: c.Int(MaxConcurrentActivities.Name), WorkflowTasks: c.Int(MaxConcurrentWorkflowTasks.Name),
		TaskQueueActivitiesPerSecond: c.Float64(TaskQueueActivitiesPerSecond.Name)}
}

// DataDirPath is the data directory every default path derives from:
// --data-dir where it was given (a command's own, as `dev --data-dir`, or
// the global one) or CSPSYNC_DATA_DIR, else .data.
func DataDirPath(c *cli.Context) string {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(DataDir.Name) {
			return ctx.String(DataDir.Name)
		}
	}
	return config.DefaultDataDir
}

// KeyFilePath is --encryption-key-file, or encryption.key in the data directory.
func KeyFilePath(c *cli.Context) string {
	if f := c.String(KeyFile.Name); f != "" {
		return f
	}
	return filepath.Join(DataDirPath(c), config.KeyFileName)
}

// OperatorsOf reads the operators allow-list flags (Operators,
// OperatorGroup, OperatorsEveryone) of a command that declares them.
func OperatorsOf(c *cli.Context) config.Operators {
	return config.Operators{UPNs: config.SplitList(c.String(Operators.Name)), Group: c.String(OperatorGroup.Name),
		EveryoneInPartnerTenant: c.Bool(OperatorsEveryone.Name)}
}
