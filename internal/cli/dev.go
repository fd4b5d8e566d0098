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
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/sim"
)

// devDataDir is dev's own --data-dir, so that `cspsync dev --data-dir D`
// works as `cspsync --data-dir D dev` does (flags.DataDirPath reads either).
// Each command gets its own instance: urfave/cli marks a shared one set
// wherever it was set.
func devDataDir() cli.Flag {
	return &cli.StringFlag{Name: flags.DataDir.Name, Value: config.DefaultDataDir,
		Usage: "the data directory (as the global --data-dir): the key, logs, Temporal state, the simulator's state and CA", EnvVars: []string{config.EnvDataDir}}
}

func devCommand() *cli.Command {
	devFlags := append(simFlags(), flags.HTTPAddr, flags.PublicURL, devDataDir(),
		&cli.StringFlag{Name: "temporal-bin", Value: ".bin/temporal", Usage: "the pinned Temporal CLI (built by `make tools`)", EnvVars: []string{"CSPSYNC_TEMPORAL_BIN"}},
		&cli.StringFlag{Name: "worker-bin", Usage: "the cspsync-worker binary (default: beside this executable)", EnvVars: []string{"CSPSYNC_WORKER_BIN"}},
		&cli.StringFlag{Name: "partner", Value: "demo", Usage: "partner id to connect", EnvVars: []string{"CSPSYNC_DEV_PARTNER"}},
		&cli.StringFlag{Name: "default-relationship", Value: "DAP", Usage: "DAP or GDAP for imported tenants", EnvVars: []string{"CSPSYNC_DEV_RELATIONSHIP"}},
		&cli.IntFlag{Name: "workers", Value: 1, Usage: "how many worker processes share the task queue (each listens on the next port after --http-addr's)", EnvVars: []string{"CSPSYNC_DEV_WORKERS"}},
	)
	return &cli.Command{
		Name:  "dev",
		Usage: "run everything locally on the simulator: Temporal dev server, simulator, worker; connect, authorise and discover",
		Flags: devFlags,
		Action: func(c *cli.Context) error {
			return runDev(c)
		},
		Subcommands: []*cli.Command{{
			Name:  "stop",
			Usage: "stop the background processes `cspsync dev` (or `make cluster`) started",
			Flags: []cli.Flag{devDataDir()},
			Action: func(c *cli.Context) error {
				dataDir := flags.DataDirPath(c)
				workers, err := filepath.Glob(pidFile(dataDir, "worker*"))
				if err != nil {
					return err
				}
				var names []string
				for _, f := range workers {
					names = append(names, strings.TrimSuffix(filepath.Base(f), ".pid"))
				}
				for _, name := range append(names, "sim", "temporal") {
					if stopped, err := stopProcess(dataDir, name); err != nil {
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

// dev is one run of `cspsync dev`: where it keeps its state and what the
// processes it starts are given.
type dev struct {
	c        *cli.Context
	out      io.Writer
	dataDir  string // every default path below derives from it
	keyFile  string
	stateDir string   // the simulator's
	caFile   string   // written by the simulator, read when first needed
	env      []string // of the processes it starts
	temporal string   // the Temporal frontend's address
}

func runDev(c *cli.Context) error {
	ctx := c.Context
	d := &dev{c: c, out: c.App.Writer, dataDir: flags.DataDirPath(c), temporal: c.String(flags.TemporalAddress.Name),
		stateDir: simStateDir(c), keyFile: flags.KeyFilePath(c)}
	d.caFile = filepath.Join(d.stateDir, "ca.pem")
	if err := os.MkdirAll(filepath.Join(d.dataDir, "logs"), 0o700); err != nil {
		return err
	}
	if err := ensureKeyFile(d.keyFile, c.String(flags.Key.Name)); err != nil {
		return err
	}
	d.env = append(os.Environ(), config.EnvEncryptionKeyFile+"="+d.keyFile)

	step(d.out, "PostgreSQL")
	cfg := flags.Connection(c)
	cfg.EncryptionKeyFile, cfg.CAFile = d.keyFile, d.caFile
	ctl := service.Open(cfg)
	defer ctl.Close()
	if _, err := ctl.Migrate(ctx); err != nil {
		return fmt.Errorf("%w\n  On Debian: apt-get install postgresql && pg_ctlcluster 15 main start", err)
	}
	if err := d.startTemporal(ctx); err != nil {
		return err
	}
	sc, err := d.startSimulator(ctx)
	if err != nil {
		return err
	}
	d.env = append(d.env, config.EnvCAFile+"="+d.caFile) // the workers trust the simulator
	d.env = append(d.env, demoOperators()...)
	if err := d.startWorkers(); err != nil {
		return err
	}
	conn, err := d.connect(ctx, ctl, sc)
	if err != nil {
		return err
	}
	awaiting, err := d.discover(ctx, ctl, conn.Partner)
	if err != nil {
		return err
	}
	if err := printLicenceSummary(ctx, d.out, ctl, conn.Partner); err != nil {
		return err
	}
	example, err := printUsersSummary(ctx, d.out, ctl, conn.Partner)
	if err != nil {
		return err
	}
	d.printTryNext(conn, awaiting, example)
	return nil
}

// startTemporal starts the Temporal dev server unless one answers already.
func (d *dev) startTemporal(ctx context.Context) error {
	step(d.out, "Temporal at "+d.temporal)
	if reachable(d.temporal) {
		return nil
	}
	bin := d.c.String("temporal-bin")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the Temporal CLI is not at %s: build it with `make tools` (or set --temporal-bin)", bin)
	}
	host, port, err := net.SplitHostPort(d.temporal)
	if err != nil {
		return fmt.Errorf("--temporal-address %q: %w", d.temporal, err)
	}
	args := []string{"server", "start-dev", "--ip", host, "--port", port,
		"--ui-port", strconv.Itoa(config.DefaultTemporalUIPort), "--db-filename", filepath.Join(d.dataDir, "temporal.db"), "--log-level", "warn"}
	for name, typ := range config.SearchAttributes {
		args = append(args, "--search-attribute", name+"="+typ)
	}
	if err := startProcess(d.dataDir, "temporal", bin, nil, args...); err != nil {
		return err
	}
	if err := waitFor(ctx, 90*time.Second, func() bool { return reachable(d.temporal) }); err != nil {
		return fmt.Errorf("the Temporal dev server did not come up on %s: see %s", d.temporal, logFile(d.dataDir, "temporal"))
	}
	return nil
}

// startSimulator starts the Microsoft simulator unless one answers already,
// and returns the scenario it runs.
func (d *dev) startSimulator(ctx context.Context) (sim.Scenario, error) {
	c := d.c
	step(d.out, "Microsoft simulator")
	sc, err := scenarioFrom(c)
	if err != nil {
		return sc, err
	}
	addr := c.String(flagSimAddr.Name)
	if reachable(addr) {
		return sc, nil
	}
	self, err := os.Executable()
	if err != nil {
		return sc, err
	}
	args := []string{"sim", "--sim-addr", addr, "--state-dir", d.stateDir,
		"--tenants", strconv.Itoa(c.Int(flagSimTenants.Name)), "--gdap", strconv.Itoa(c.Int(flagSimGDAP.Name)),
		"--seed", strconv.FormatInt(c.Int64(flagSimSeed.Name), 10), "--users", strconv.Itoa(c.Int(flagSimUsers.Name))}
	if f := c.String(flagSimScenario.Name); f != "" {
		args = append(args, "--scenario", f)
	}
	if err := startProcess(d.dataDir, "sim", self, d.env, args...); err != nil {
		return sc, err
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return reachable(addr) }); err != nil {
		return sc, fmt.Errorf("the simulator did not come up on %s: see %s", addr, logFile(d.dataDir, "sim"))
	}
	return sc, nil
}

// startWorkers starts the workers that do not answer already.
func (d *dev) startWorkers() error {
	workers := d.c.Int("workers")
	if workers < 1 {
		return fmt.Errorf("--workers %d: start at least one worker", workers)
	}
	step(d.out, fmt.Sprintf("cspsync workers: %d on one task queue", workers))
	for i := range workers {
		if err := startWorker(d.c, d.dataDir, d.env, d.temporal, i); err != nil {
			return err
		}
	}
	return nil
}

// connect connects the demo partner to the simulator and signs it in.
func (d *dev) connect(ctx context.Context, ctl *control.Control, sc sim.Scenario) (control.Connected, error) {
	partner := d.c.String("partner")
	step(d.out, "Connecting partner "+partner+" and signing in (with MFA) on the simulator")
	hc, err := microsoft.NewHTTPClient(d.caFile)
	if err != nil {
		return control.Connected{}, err
	}
	simURL := "https://" + d.c.String(flagSimAddr.Name)
	conn, err := ctl.Connect(ctx, control.ConnectRequest{PartnerConfig: control.PartnerConfig{
		ID: partner, DisplayName: "Demo partner", PartnerTenantID: sc.PartnerTenantID,
		PCClientID: sim.DefaultPCClientID, PCClientSecret: sim.DefaultPCSecret,
		GraphClientID: sim.DefaultGraphClientID, GraphClientSecret: sim.DefaultGraphSecret,
		AuthorityURL: simURL, PartnerCenterURL: simURL, GraphURL: simURL,
		DefaultRelationship: domain.Relationship(d.c.String("default-relationship")),
	}, DiscoveryInterval: 6 * time.Hour})
	if err != nil {
		return conn, err
	}
	return conn, completeSignIn(ctx, hc, conn.AuthorizeURL)
}

// discover runs a discovery, waits for the tenants' workflows to settle,
// prints the tenants and returns how many wait for consent.
func (d *dev) discover(ctx context.Context, ctl *control.Control, partner string) (int, error) {
	step(d.out, "Discovering customer tenants in Partner Center")
	r, err := ctl.Discover(ctx, partner, 5*time.Minute)
	if err != nil {
		return 0, err
	}
	step(d.out, "Waiting for each tenant's workflow to settle")
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
		return 0, err
	}
	fmt.Fprintf(d.out, "\nImported %d customer tenants (%d new, %d linked by name, %d updated):\n\n", r.Tenants, r.Inserted, r.Linked, r.Updated)
	rows := [][]string{}
	byState := map[domain.TenantState]int{}
	for _, cu := range customers {
		rows = append(rows, []string{strconv.FormatInt(cu.ID, 10), cu.Name, cu.TenantID,
			string(cu.Relationship) + " (" + string(cu.RelationshipSource) + ")", string(cu.ConsentState), string(cu.SyncState)})
		byState[cu.SyncState]++
	}
	if err := table(d.out, "ID\tNAME\tTENANT ID\tRELATIONSHIP\tCONSENT\tSTATE", rows); err != nil {
		return 0, err
	}
	fmt.Fprintf(d.out, "\nTenants: %s.\n", tenantSummary(byState))
	return byState[domain.TenantAwaitingConsent], nil
}

// printTryNext tells where to go from here: consents to give, the Temporal
// UI, commands to try and how to stop.
func (d *dev) printTryNext(conn control.Connected, awaiting int, example string) {
	c, out := d.c, d.out
	if awaiting > 0 {
		fmt.Fprintf(out, "%d tenants wait for GDAP admin consent: open %s/, sign in as the operator %s,\n"+
			"and press \"Grant admin consent\" (on the simulator each tenant's admin is admin@<its domain>;\n"+
			"every simulated user has password %s and MFA code %s).\n",
			awaiting, strings.TrimRight(c.String(flags.PublicURL.Name), "/"), sim.DefaultOperatorUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	}
	if ui := fmt.Sprintf("127.0.0.1:%d", config.DefaultTemporalUIPort); reachable(ui) {
		fmt.Fprintf(out, "\nTemporal UI:  http://%s/namespaces/%s/workflows  (workflow %s)\n", ui, c.String(flags.TemporalNamespace.Name), conn.WorkflowID)
	}
	console := strings.TrimRight(c.String(flags.PublicURL.Name), "/")
	fmt.Fprintf(out, "\nOperator console:  %s/  (sign in as %s, password %s, MFA code %s)\n"+
		"  try: Customers > a customer > \"Edit its site mappings\", type a filter such as user.department == \"Sales\" => Main\n"+
		"  and watch the live preview; Licences for the seat chart; Errors; Check; Inbound log.\n",
		console, sim.DefaultOperatorUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	stop := "bin/cspsync dev stop"
	if d.dataDir != config.DefaultDataDir {
		stop += " --data-dir " + d.dataDir
	}
	fmt.Fprint(out, tryNext(d.exports(), conn.Partner, example, d.dataDir, stop))
}

// tryNext is the demo's closing list of commands, each runnable as printed
// once the export line is pasted.
func tryNext(exports, partner, customer, dataDir, stop string) string {
	return fmt.Sprintf(`
Try next:
  export %[1]s
  bin/cspsync status
  bin/cspsync tenants list
  bin/cspsync licences report
  bin/cspsync users list --customer %[3]s
  bin/cspsync mappings sites --customer %[3]s
  bin/cspsync sync --partner %[2]s --users --wait
  bin/cspsync check
  bin/cspsync sync --partner %[2]s --wait
  bin/cspsync errors list
  .bin/temporal workflow list --query 'SyncState="AwaitingConsent"'
Logs in %[4]s/logs; stop everything with: %[5]s
`, exports, partner, customer, dataDir, stop)
}

// exports is what the CLI needs in its environment to reach the dev setup.
func (d *dev) exports() string {
	keyFile := ""
	if d.c.String(flags.KeyFile.Name) != "" {
		keyFile = d.keyFile
	}
	return demoExports(d.caFile, d.c.String(flags.DatabaseURL.Name), d.dataDir, keyFile, demoOperators())
}

// demoOperators is who may use the demo's pages: the members of the
// operators group the simulator creates (its admin is one, its outsider is
// not), unless the environment already says who.
func demoOperators() []string {
	for _, k := range []string{config.EnvOperators, config.EnvOperatorGroup, config.EnvOperatorsEveryone} {
		if os.Getenv(k) != "" {
			return nil
		}
	}
	return []string{config.EnvOperatorGroup + "=" + sim.DefaultOperatorsGroupID}
}

// demoExports is the environment the demo's "Try next" commands need: the
// simulator's CA for those that call Microsoft (check, connect), and, when
// they are not the defaults, the database, the data directory (every default
// path derives from it) and a key file given apart from it; and the
// operators setting the workers got, so that `check` shows their rule.
func demoExports(caFile, databaseURL, dataDir, keyFile string, operators []string) string {
	vars := append([]string{config.EnvCAFile + "=" + caFile}, operators...)
	if databaseURL != config.DefaultDatabaseURL {
		vars = append(vars, config.EnvDatabaseURL+"='"+databaseURL+"'")
	}
	if dataDir != config.DefaultDataDir {
		vars = append(vars, config.EnvDataDir+"="+dataDir)
	}
	if keyFile != "" {
		vars = append(vars, config.EnvEncryptionKeyFile+"="+keyFile)
	}
	return strings.Join(vars, " ")
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

// ensureKeyFile creates a key in the key file f unless the key is given
// inline or f exists.
func ensureKeyFile(f, key string) error {
	if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) && key == "" {
		if err := os.WriteFile(f, []byte(secrets.NewKeyText()+"\n"), 0o600); err != nil {
			return fmt.Errorf("creating the local encryption key %s: %w", f, err)
		}
	}
	return nil
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
