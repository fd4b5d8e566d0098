package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/flags"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/sim"
)

func devCommand() *cli.Command {
	flags := append(simFlags(), flags.HTTPAddr, flags.PublicURL,
		&cli.StringFlag{Name: "data-dir", Value: config.DefaultDataDir, Usage: "where the dev setup keeps its key, logs and Temporal state", EnvVars: []string{config.EnvDataDir}},
		&cli.StringFlag{Name: "temporal-bin", Value: ".bin/temporal", Usage: "the pinned Temporal CLI (built by `make tools`)", EnvVars: []string{"CSPSYNC_TEMPORAL_BIN"}},
		&cli.StringFlag{Name: "worker-bin", Usage: "the cspsync-worker binary (default: beside this executable)", EnvVars: []string{"CSPSYNC_WORKER_BIN"}},
		&cli.StringFlag{Name: "partner", Value: "demo", Usage: "partner id to connect", EnvVars: []string{"CSPSYNC_DEV_PARTNER"}},
		&cli.StringFlag{Name: "default-relationship", Value: "DAP", Usage: "DAP or GDAP for imported tenants", EnvVars: []string{"CSPSYNC_DEV_RELATIONSHIP"}},
		&cli.IntFlag{Name: "workers", Value: 1, Usage: "how many worker processes share the task queue (each listens on the next port after --http-addr's)", EnvVars: []string{"CSPSYNC_DEV_WORKERS"}},
	)
	return &cli.Command{
		Name:  "dev",
		Usage: "run everything locally on the simulator: Temporal dev server, simulator, worker; connect, authorise and discover",
		Flags: flags,
		Action: func(c *cli.Context) error {
			return runDev(c)
		},
		Subcommands: []*cli.Command{{
			Name:  "stop",
			Usage: "stop the background processes `cspsync dev` (or `make cluster`) started",
			Flags: flags,
			Action: func(c *cli.Context) error {
				workers, err := filepath.Glob(pidFile(c.String("data-dir"), "worker*"))
				if err != nil {
					return err
				}
				var names []string
				for _, f := range workers {
					names = append(names, strings.TrimSuffix(filepath.Base(f), ".pid"))
				}
				for _, name := range append(names, "sim", "temporal") {
					if stopped, err := stopProcess(c.String("data-dir"), name); err != nil {
						return err
					} else if stopped {
						fmt.Fprintf(c.App.Writer, "stopped %s\n", name)
					}
				}
				return nil
			},
		}},
	}
}

func runDev(c *cli.Context) error {
	ctx := c.Context
	out := c.App.Writer
	dataDir := c.String("data-dir")
	if err := os.MkdirAll(filepath.Join(dataDir, "logs"), 0o700); err != nil {
		return err
	}
	keyFile, err := ensureKeyFile(c, dataDir)
	if err != nil {
		return err
	}
	env := append(os.Environ(), config.EnvEncryptionKeyFile+"="+keyFile)

	step(out, "PostgreSQL")
	cfg := flags.Connection(c)
	cfg.EncryptionKeyFile = keyFile
	cfg.CAFile = filepath.Join(c.String("state-dir"), "ca.pem") // written by the simulator, read when first needed
	ctl, err := control.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer ctl.Close()
	if _, err := ctl.Migrate(ctx); err != nil {
		return fmt.Errorf("%w\n  On Debian: apt-get install postgresql && pg_ctlcluster 15 main start", err)
	}

	temporalAddr := c.String(flags.TemporalAddress.Name)
	step(out, "Temporal at "+temporalAddr)
	if !reachable(temporalAddr) {
		bin := c.String("temporal-bin")
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("the Temporal CLI is not at %s: build it with `make tools` (or set --temporal-bin)", bin)
		}
		host, port, err := net.SplitHostPort(temporalAddr)
		if err != nil {
			return fmt.Errorf("--temporal-address %q: %w", temporalAddr, err)
		}
		args := []string{"server", "start-dev", "--ip", host, "--port", port,
			"--ui-port", strconv.Itoa(config.DefaultTemporalUIPort), "--db-filename", filepath.Join(dataDir, "temporal.db"), "--log-level", "warn"}
		for name, typ := range config.SearchAttributes {
			args = append(args, "--search-attribute", name+"="+typ)
		}
		if err := startProcess(dataDir, "temporal", bin, nil, args...); err != nil {
			return err
		}
		if err := waitFor(ctx, 90*time.Second, func() bool { return reachable(temporalAddr) }); err != nil {
			return fmt.Errorf("the Temporal dev server did not come up on %s: see %s", temporalAddr, logFile(dataDir, "temporal"))
		}
	}
	step(out, "Microsoft simulator")
	sc, err := scenarioFrom(c)
	if err != nil {
		return err
	}
	simURL := "https://" + c.String(flagSimAddr.Name)
	caFile := cfg.CAFile
	if !reachable(c.String(flagSimAddr.Name)) {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		args := []string{"sim", "--sim-addr", c.String(flagSimAddr.Name), "--state-dir", c.String("state-dir"),
			"--tenants", strconv.Itoa(c.Int(flagSimTenants.Name)), "--gdap", strconv.Itoa(c.Int(flagSimGDAP.Name)),
			"--seed", strconv.FormatInt(c.Int64(flagSimSeed.Name), 10), "--users", strconv.Itoa(c.Int(flagSimUsers.Name))}
		if f := c.String(flagSimScenario.Name); f != "" {
			args = append(args, "--scenario", f)
		}
		if err := startProcess(dataDir, "sim", self, env, args...); err != nil {
			return err
		}
		if err := waitFor(ctx, 30*time.Second, func() bool { return reachable(c.String(flagSimAddr.Name)) }); err != nil {
			return fmt.Errorf("the simulator did not come up on %s: see %s", c.String(flagSimAddr.Name), logFile(dataDir, "sim"))
		}
	}
	env = append(env, config.EnvCAFile+"="+caFile)

	workers := c.Int("workers")
	if workers < 1 {
		return fmt.Errorf("--workers %d: start at least one worker", workers)
	}
	step(out, fmt.Sprintf("cspsync workers: %d on one task queue", workers))
	for i := range workers {
		if err := startWorker(c, dataDir, env, temporalAddr, i); err != nil {
			return err
		}
	}

	step(out, "Connecting partner "+c.String("partner")+" and signing in (with MFA) on the simulator")
	hc, err := microsoft.NewHTTPClient(caFile)
	if err != nil {
		return err
	}
	partner := c.String("partner")
	conn, err := ctl.Connect(ctx, control.ConnectRequest{PartnerConfig: control.PartnerConfig{
		ID: partner, DisplayName: "Demo partner", PartnerTenantID: sc.PartnerTenantID,
		PCClientID: sim.DefaultPCClientID, PCClientSecret: sim.DefaultPCSecret,
		GraphClientID: sim.DefaultGraphClientID, GraphClientSecret: sim.DefaultGraphSecret,
		AuthorityURL: simURL, PartnerCenterURL: simURL, GraphURL: simURL,
		DefaultRelationship: domain.Relationship(c.String("default-relationship")),
	}, DiscoveryInterval: 6 * time.Hour})
	if err != nil {
		return err
	}
	if err := completeSignIn(ctx, hc, conn.AuthorizeURL); err != nil {
		return err
	}

	step(out, "Discovering customer tenants in Partner Center")
	r, err := ctl.Discover(ctx, partner, 5*time.Minute)
	if err != nil {
		return err
	}
	step(out, "Waiting for each tenant's workflow to settle")
	var customers []control.Customer
	_ = waitFor(ctx, 60*time.Second, func() bool {
		customers, err = ctl.Customers(ctx, partner, true)
		if err != nil {
			return true
		}
		for _, cu := range customers {
			if !cu.SyncState.Settled() {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nImported %d customer tenants (%d new, %d linked by name, %d updated):\n\n", r.Tenants, r.Inserted, r.Linked, r.Updated)
	rows := [][]string{}
	byState := map[domain.TenantState]int{}
	for _, cu := range customers {
		rows = append(rows, []string{strconv.FormatInt(cu.ID, 10), cu.Name, cu.TenantID,
			string(cu.Relationship) + " (" + string(cu.RelationshipSource) + ")", string(cu.ConsentState), string(cu.SyncState)})
		byState[cu.SyncState]++
	}
	if err := table(out, "ID\tNAME\tTENANT ID\tRELATIONSHIP\tCONSENT\tSTATE", rows); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nTenants: %s.\n", tenantSummary(byState))
	if err := printLicenceSummary(ctx, out, ctl, partner); err != nil {
		return err
	}
	example, err := printUsersSummary(ctx, out, ctl, partner)
	if err != nil {
		return err
	}
	if n := byState[domain.TenantAwaitingConsent]; n > 0 {
		fmt.Fprintf(out, "%d tenants wait for GDAP admin consent: open %s/, sign in as the operator %s,\n"+
			"and press \"Grant admin consent\" (on the simulator each tenant's admin is admin@<its domain>;\n"+
			"every simulated user has password %s and MFA code %s).\n",
			n, strings.TrimRight(c.String(flags.PublicURL.Name), "/"), sim.DefaultOperatorUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	}
	if ui := fmt.Sprintf("127.0.0.1:%d", config.DefaultTemporalUIPort); reachable(ui) {
		fmt.Fprintf(out, "\nTemporal UI:  http://%s/namespaces/%s/workflows  (workflow %s)\n", ui, c.String(flags.TemporalNamespace.Name), conn.WorkflowID)
	}
	fmt.Fprint(out, "\nTry next:\n")
	// The CLI's defaults name the demo's database and key; say so when these differ.
	if db := c.String(flags.DatabaseURL.Name); db != config.DefaultDatabaseURL || keyFile != flags.KeyFile.Value {
		fmt.Fprintf(out, "  export %s='%s' %s=%s\n", config.EnvDatabaseURL, db, config.EnvEncryptionKeyFile, keyFile)
	}
	stop := "bin/cspsync dev stop"
	if dataDir != config.DefaultDataDir {
		stop += " --data-dir " + dataDir
	}
	fmt.Fprintf(out, `  bin/cspsync status
  bin/cspsync tenants list
  bin/cspsync licences report
  bin/cspsync users list --customer %[5]s
  bin/cspsync mappings sites --customer %[5]s
  bin/cspsync sync --partner %[2]s --users --wait
  bin/cspsync check --ca-file %[1]s
  bin/cspsync sync --partner %[2]s --wait
  bin/cspsync errors list
  .bin/temporal workflow list --query 'SyncState="AwaitingConsent"'
Logs in %[3]s/logs; stop everything with: %[4]s
`, caFile, partner, dataDir, stop, example)
	return nil
}

// startWorker starts worker i (0-based) unless something answers on its
// port already: the first on --http-addr, the next ones on the ports after
// it. All share the public URL, which names the first.
func startWorker(c *cli.Context, dataDir string, env []string, temporalAddr string, i int) error {
	host, port, err := net.SplitHostPort(c.String(flags.HTTPAddr.Name))
	if err != nil {
		return fmt.Errorf("--http-addr %q: %w", c.String(flags.HTTPAddr.Name), err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("--http-addr %q: the port is not a number", c.String(flags.HTTPAddr.Name))
	}
	httpAddr, name := net.JoinHostPort(host, strconv.Itoa(p+i)), "worker"
	if i > 0 {
		name = fmt.Sprintf("worker-%d", i+1)
	}
	if reachable(httpAddr) {
		return nil
	}
	bin := c.String("worker-bin")
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		bin = filepath.Join(filepath.Dir(self), "cspsync-worker")
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("worker binary not found at %s: build it with `make build` (or set --worker-bin)", bin)
	}
	wenv := append(slices.Clip(env), config.EnvHTTPAddr+"="+httpAddr, config.EnvPublicURL+"="+c.String(flags.PublicURL.Name),
		config.EnvDatabaseURL+"="+c.String(flags.DatabaseURL.Name), config.EnvTemporalAddress+"="+temporalAddr,
		config.EnvTaskQueue+"="+c.String(flags.TaskQueue.Name), config.EnvTemporalNamespace+"="+c.String(flags.TemporalNamespace.Name))
	if err := startProcess(dataDir, name, bin, wenv); err != nil {
		return err
	}
	if err := waitFor(c.Context, 60*time.Second, func() bool { return reachable(httpAddr) }); err != nil {
		return fmt.Errorf("%s did not come up on %s: see %s", name, httpAddr, logFile(dataDir, name))
	}
	return nil
}

// printLicenceSummary imports every tenant's licences (waiting for them) and
// prints the seats and where they go unused.
func printLicenceSummary(ctx context.Context, out io.Writer, ctl *control.Control, partner string) error {
	step(out, "Importing licences from Partner Center")
	imp, err := ctl.ImportLicences(ctx, partner, "", true, 5*time.Minute)
	if err != nil {
		return err
	}
	rep, err := ctl.Licences(ctx, partner)
	if err != nil {
		return err
	}
	t := rep.Total
	fmt.Fprintf(out, "\nLicences: %d licences on %d customers; %d seats paid for, %d assigned, %d unused", imp.Licences, len(rep.Customers), t.Paid, t.Assigned, t.Unused)
	if t.Suspended+t.Warning+t.Over > 0 {
		fmt.Fprintf(out, " (%d suspended, %d in their grace period, %d assigned beyond what is paid)", t.Suspended, t.Warning, t.Over)
	}
	fmt.Fprintln(out, ".")
	customers := rep.Customers
	sort.SliceStable(customers, func(i, j int) bool { return customers[i].Total.Unused > customers[j].Total.Unused })
	var rows [][]string
	for _, cu := range customers[:min(5, len(customers))] {
		if cu.Total.Unused > 0 {
			rows = append(rows, []string{cu.Customer, strconv.Itoa(cu.Total.Paid), strconv.Itoa(cu.Total.Assigned), strconv.Itoa(cu.Total.Unused)})
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(out, "Most unused seats:")
		if err := table(out, "  CUSTOMER\tPAID\tASSIGNED\tUNUSED", indent(rows)); err != nil {
			return err
		}
	}
	if len(imp.Failed) > 0 {
		fmt.Fprintf(out, "%d tenants' licences could not be imported: see `cspsync errors list`.\n", len(imp.Failed))
	}
	return nil
}

// printUsersSummary waits for a users round of every tenant whose users
// can be read, prints the PSA users they hold, and returns the id of a
// customer with users, for the commands to try next.
func printUsersSummary(ctx context.Context, out io.Writer, ctl *control.Control, partner string) (string, error) {
	step(out, "Syncing users from Microsoft Graph")
	res, err := ctl.SyncAllUsers(ctx, partner, false, true, 5*time.Minute)
	if err != nil {
		return "", err
	}
	rows, err := ctl.Tenants(ctx, partner)
	if err != nil {
		return "", err
	}
	active, all, customers, example := 0, 0, 0, "ID"
	for _, r := range rows {
		if r.Users.All > 0 {
			active, all, customers = active+r.Users.Active, all+r.Users.All, customers+1
			example = strconv.FormatInt(r.ID, 10)
		}
	}
	fmt.Fprintf(out, "\nUsers: %d PSA users on %d customers, %d active (disabled and deleted accounts stay, inactive).\n", all, customers, active)
	if len(res.Failed) > 0 {
		fmt.Fprintf(out, "%d tenants' users could not be read: see `cspsync errors list`.\n", len(res.Failed))
	}
	return example, nil
}

func indent(rows [][]string) [][]string {
	for _, r := range rows {
		r[0] = "  " + r[0]
	}
	return rows
}

// completeSignIn plays the partner admin in the simulator's sign-in pages and
// follows the final redirect to the worker's callback, as a browser would.
func completeSignIn(ctx context.Context, hc *http.Client, authorizeURL string) error {
	redirect, err := sim.SignIn(ctx, hc, authorizeURL, sim.DefaultAdminUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	if err != nil {
		return fmt.Errorf("signing in on the simulator: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, redirect.String(), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("calling the worker's callback %s: %w", redirect.Host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the worker refused the sign-in (%s): %s (see `cspsync errors list`)", resp.Status, textOf(body))
	}
	return nil
}

// textOf strips tags from a small HTML page for a one-line message.
func textOf(html []byte) string {
	var b strings.Builder
	in := false
	for _, r := range string(html) {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func ensureKeyFile(c *cli.Context, dataDir string) (string, error) {
	f := c.String(flags.KeyFile.Name)
	if !c.IsSet(flags.KeyFile.Name) {
		f = filepath.Join(dataDir, "encryption.key")
	}
	if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) && c.String(flags.Key.Name) == "" {
		if err := os.WriteFile(f, []byte(secrets.NewKeyText()+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("creating the local encryption key %s: %w", f, err)
		}
	}
	return f, nil
}

func step(w io.Writer, s string) { fmt.Fprintf(w, "==> %s\n", s) }

func reachable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func waitFor(ctx context.Context, d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func logFile(dataDir, name string) string { return filepath.Join(dataDir, "logs", name+".log") }
func pidFile(dataDir, name string) string { return filepath.Join(dataDir, name+".pid") }

// startProcess runs a service detached from this command, logging to a file,
// so `cspsync dev` can return while the services keep running.
func startProcess(dataDir, name, bin string, env []string, args ...string) error {
	logf, err := os.OpenFile(logFile(dataDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	if err := os.WriteFile(pidFile(dataDir, name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func stopProcess(dataDir, name string) (bool, error) {
	b, err := os.ReadFile(pidFile(dataDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_ = os.Remove(pidFile(dataDir, name))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, nil // already gone
	}
	return true, nil
}
