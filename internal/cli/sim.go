package cli

import (
	"fmt"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/flags"
	"github.com/cspsync/cspsync/internal/sim"
)

var (
	flagSimAddr = &cli.StringFlag{Name: "sim-addr", Value: config.DefaultSimAddr, Usage: "listen address of the Microsoft simulator",
		EnvVars: []string{config.EnvSimAddr}}
	flagSimScenario = &cli.StringFlag{Name: "scenario", Usage: "scenario JSON file (default: a generated scenario)",
		EnvVars: []string{config.EnvSimScenario}}
	flagSimTenants = &cli.IntFlag{Name: "tenants", Value: 25, Usage: "customer tenants of a generated scenario",
		EnvVars: []string{config.EnvSimTenants}}
	flagSimGDAP = &cli.IntFlag{Name: "gdap", Value: 3, Usage: "how many generated tenants are GDAP (not yet consented)",
		EnvVars: []string{"CSPSYNC_SIM_GDAP"}}
	flagSimSeed  = &cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed of the generated scenario", EnvVars: []string{"CSPSYNC_SIM_SEED"}}
	flagSimUsers = &cli.IntFlag{Name: "users", Value: 5, Usage: "users per generated tenant", EnvVars: []string{"CSPSYNC_SIM_USERS"}}
)

func simFlags() []cli.Flag {
	return []cli.Flag{flagSimAddr, flagSimScenario, flagSimTenants, flagSimGDAP, flagSimSeed, flagSimUsers,
		&cli.StringFlag{Name: "state-dir", Usage: "where the simulator keeps its CA and state (default: sim in --data-dir)",
			EnvVars: []string{"CSPSYNC_SIM_STATE_DIR"}}}
}

// simStateDir is --state-dir, or sim in the data directory.
func simStateDir(c *cli.Context) string {
	if d := c.String("state-dir"); d != "" {
		return d
	}
	return filepath.Join(flags.DataDirPath(c), config.SimStateDirName)
}

func scenarioFrom(c *cli.Context) (sim.Scenario, error) {
	if f := c.String(flagSimScenario.Name); f != "" {
		return sim.LoadScenario(f)
	}
	n, gdap := c.Int(flagSimTenants.Name), c.Int(flagSimGDAP.Name)
	if n < 0 || gdap < 0 || gdap > n {
		return sim.Scenario{}, fmt.Errorf("--tenants %d --gdap %d: need 0 <= gdap <= tenants", n, gdap)
	}
	return sim.Generate(sim.GenerateOptions{Seed: c.Int64(flagSimSeed.Name), Tenants: n, GDAP: gdap, UsersPerTenant: c.Int(flagSimUsers.Name)}), nil
}

func simCommand() *cli.Command {
	return &cli.Command{
		Name:  "sim",
		Usage: "run the Microsoft cloud simulator (Entra ID, Partner Center, Graph) over HTTPS",
		Flags: simFlags(),
		Action: func(c *cli.Context) error {
			sc, err := scenarioFrom(c)
			if err != nil {
				return err
			}
			srv, err := sim.New(sc, sim.Options{Addr: c.String(flagSimAddr.Name), StateDir: simStateDir(c)})
			if err != nil {
				return err
			}
			if err := srv.Start(); err != nil {
				return fmt.Errorf("simulator cannot start on %s: %w (choose another --sim-addr)", c.String(flagSimAddr.Name), err)
			}
			defer srv.Close()
			fmt.Fprintf(c.App.Writer, "Microsoft simulator at %s (CA: %s), %d customer tenants.\n", srv.URL(), srv.CAFile(), len(sc.Tenants))
			fmt.Fprintf(c.App.Writer, "Connect with: cspsync connect --ca-file %s --authority-url %[2]s --partner-center-url %[2]s --graph-url %[2]s --partner-tenant %s --pc-client-id %s --graph-client-id %s (secrets: see `cspsync dev`)\n",
				srv.CAFile(), srv.URL(), sc.PartnerTenantID, sim.DefaultPCClientID, sim.DefaultGraphClientID)
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
}
