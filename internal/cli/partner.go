package cli

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

var (
	guidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	partnerIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

func connectCommand() *cli.Command {
	return &cli.Command{
		Name:  "connect",
		Usage: "store a partner's app registrations and print the sign-in link that authorises cspsync",
		Flags: []cli.Flag{flagPartner, flagPublicURL, flagCAFile, flagJSON,
			&cli.StringFlag{Name: "name", Usage: "display name of the partner", EnvVars: []string{"CSPSYNC_PARTNER_NAME"}},
			&cli.StringFlag{Name: "partner-tenant", Required: true, Usage: "the partner's Entra tenant id or primary domain", EnvVars: []string{"CSPSYNC_PARTNER_TENANT"}},
			&cli.StringFlag{Name: "pc-client-id", Required: true, Usage: "client id of the single-tenant Partner Center app", EnvVars: []string{"CSPSYNC_PC_CLIENT_ID"}},
			&cli.StringFlag{Name: "pc-client-secret", Required: true, Usage: "secret VALUE of the Partner Center app (prefer the environment variable)", EnvVars: []string{"CSPSYNC_PC_CLIENT_SECRET"}},
			&cli.StringFlag{Name: "graph-client-id", Required: true, Usage: "client id of the multi-tenant Graph app", EnvVars: []string{"CSPSYNC_GRAPH_CLIENT_ID"}},
			&cli.StringFlag{Name: "graph-client-secret", Required: true, Usage: "secret VALUE of the Graph app (prefer the environment variable)", EnvVars: []string{"CSPSYNC_GRAPH_CLIENT_SECRET"}},
			&cli.StringFlag{Name: "authority-url", Value: "https://login.microsoftonline.com", Usage: "Entra ID base URL", EnvVars: []string{"CSPSYNC_AUTHORITY_URL"}},
			&cli.StringFlag{Name: "partner-center-url", Value: "https://api.partnercenter.microsoft.com", Usage: "Partner Center API base URL", EnvVars: []string{"CSPSYNC_PARTNER_CENTER_URL"}},
			&cli.StringFlag{Name: "graph-url", Value: "https://graph.microsoft.com", Usage: "Microsoft Graph base URL", EnvVars: []string{"CSPSYNC_GRAPH_URL"}},
			&cli.StringFlag{Name: "default-relationship", Value: "GDAP", Usage: "DAP or GDAP, for newly imported tenants", EnvVars: []string{"CSPSYNC_DEFAULT_RELATIONSHIP"}},
			flagHeartbeat, flagTenantSyncInterval, flagDiscoveryInterval,
		},
		Action: func(c *cli.Context) error {
			pc := store.PartnerConfig{
				ID: c.String(flagPartner.Name), DisplayName: c.String("name"), PartnerTenantID: c.String("partner-tenant"),
				PCClientID: c.String("pc-client-id"), PCClientSecret: c.String("pc-client-secret"),
				GraphClientID: c.String("graph-client-id"), GraphClientSecret: c.String("graph-client-secret"),
				AuthorityURL: c.String("authority-url"), PartnerCenterURL: c.String("partner-center-url"), GraphURL: c.String("graph-url"),
				DefaultRelationship: strings.ToUpper(c.String("default-relationship")),
			}
			if err := validatePartner(&pc); err != nil {
				return err
			}
			for _, s := range []struct{ flag, v string }{{"--pc-client-secret", pc.PCClientSecret}, {"--graph-client-secret", pc.GraphClientSecret}} {
				if guidRE.MatchString(s.v) {
					fmt.Fprintf(c.App.ErrWriter, "warning: %s looks like a secret ID (a GUID), not a secret value; Entra ID will answer AADSTS7000215. Copy the Value column instead.\n", s.flag)
				}
			}
			hc, err := microsoft.NewHTTPClient(c.String(flagCAFile.Name))
			if err != nil {
				return err
			}
			settings := workflows.PartnerSettings{DiscoveryHeartbeat: c.Duration(flagHeartbeat.Name),
				Tenant: activities.TenantSettings{SyncInterval: c.Duration(flagTenantSyncInterval.Name)}}
			return withControl(c, func(ctl *control.Control) error {
				u, err := connectPartner(c.Context, ctl.Store, ctl.Temporal, hc, pc, settings, c.Duration(flagDiscoveryInterval.Name),
					c.String(flagPublicURL.Name), ctl.TaskQueue)
				if err != nil {
					return err
				}
				if c.Bool(flagJSON.Name) {
					return printJSON(c.App.Writer, map[string]string{"partner": pc.ID, "authorizeUrl": u})
				}
				fmt.Fprintf(c.App.Writer, "Partner %s stored. Open this link as a partner admin (AdminAgents) and complete MFA:\n\n  %s\n\nThe link works once, for 30 minutes. Then run `cspsync status`.\n", pc.ID, u)
				return nil
			})
		},
	}
}

var flagHeartbeat = &cli.DurationFlag{Name: "discovery-heartbeat", Value: 30 * time.Second,
	Usage: "how long a crashed worker may hold a discovery before another resumes it", EnvVars: []string{config.EnvDiscoveryHeartbeat}}

var flagDiscoveryInterval = &cli.DurationFlag{Name: "discovery-interval", Value: 6 * time.Hour,
	Usage: "how often a Temporal schedule rediscovers the partner's tenants (0 turns it off)", EnvVars: []string{config.EnvDiscoveryInterval}}

var flagTenantSyncInterval = &cli.DurationFlag{Name: "tenant-sync-interval", Value: time.Hour,
	Usage: "how often each Ready tenant syncs on its own", EnvVars: []string{config.EnvTenantSyncInterval}}

func validatePartner(pc *store.PartnerConfig) error {
	if !partnerIDRE.MatchString(pc.ID) {
		return fmt.Errorf("--partner %q: use lowercase letters, digits and dashes (at most 63)", pc.ID)
	}
	if pc.DisplayName == "" {
		pc.DisplayName = pc.ID
	}
	for _, f := range []struct{ flag, v string }{{"--pc-client-id", pc.PCClientID}, {"--graph-client-id", pc.GraphClientID}} {
		if !guidRE.MatchString(f.v) {
			return fmt.Errorf("%s %q is not an application (client) id: copy the GUID from Entra ID > App registrations > Overview", f.flag, f.v)
		}
	}
	if pc.DefaultRelationship != "DAP" && pc.DefaultRelationship != "GDAP" {
		return fmt.Errorf("--default-relationship %q: use DAP or GDAP", pc.DefaultRelationship)
	}
	for _, f := range []struct{ flag, v string }{{"--authority-url", pc.AuthorityURL}, {"--partner-center-url", pc.PartnerCenterURL}, {"--graph-url", pc.GraphURL}} {
		if !strings.HasPrefix(f.v, "https://") {
			return fmt.Errorf("%s %q must be an https:// URL (MSAL and Microsoft accept nothing else)", f.flag, f.v)
		}
	}
	return nil
}

// connectPartner stores the partner, makes sure its workflow and discovery
// schedule run and returns a single-use sign-in link (state and PKCE verifier
// kept in the store).
func connectPartner(ctx context.Context, st *store.Store, tc client.Client, hc *http.Client, pc store.PartnerConfig,
	settings workflows.PartnerSettings, discoveryEvery time.Duration, publicURL, taskQueue string) (string, error) {
	if err := st.Migrate(ctx); err != nil {
		return "", err
	}
	if err := st.UpsertPartner(ctx, pc); err != nil {
		return "", err
	}
	if err := workflows.EnsurePartner(ctx, tc, taskQueue, pc.ID, settings); err != nil {
		return "", err
	}
	if err := workflows.EnsureDiscoverySchedule(ctx, tc, taskQueue, pc.ID, discoveryEvery); err != nil {
		return "", err
	}
	state := microsoft.RandomToken()
	verifier, challenge := microsoft.PKCE()
	redirect := strings.TrimRight(publicURL, "/") + config.CallbackPath
	if err := st.CreateAuthRequest(ctx, store.AuthRequest{State: state, PartnerID: pc.ID, Kind: "authorise",
		CodeVerifier: verifier, RedirectURI: redirect, TTL: 30 * time.Minute}); err != nil {
		return "", err
	}
	auth := &microsoft.Auth{Store: st, HTTP: hc}
	return auth.AuthorizeURL(ctx, pc.ID, redirect, state, challenge)
}

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "discover the partner's customer tenants now",
		Flags: []cli.Flag{flagPartner,
			&cli.BoolFlag{Name: "wait", Usage: "wait until the discovery has finished", EnvVars: []string{"CSPSYNC_SYNC_WAIT"}},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "how long --wait waits", EnvVars: []string{"CSPSYNC_SYNC_TIMEOUT"}}},
		Action: func(c *cli.Context) error {
			tc, err := dialTemporal(c)
			if err != nil {
				return err
			}
			defer tc.Close()
			partner := c.String(flagPartner.Name)
			before, err := workflows.QueryPartner(c.Context, tc, partner)
			if err != nil {
				return fmt.Errorf("partner %s has no running workflow (%w): run `cspsync connect` first", partner, err)
			}
			if err := workflows.SignalPartner(c.Context, tc, c.String(flagTaskQueue.Name), partner, workflows.SignalDiscover, struct{}{}); err != nil {
				return err
			}
			if before.Auth != workflows.AuthAuthorised {
				return fmt.Errorf("partner %s is %s: discovery will run once it is authorised (`cspsync connect`)", partner, before.Auth)
			}
			if !c.Bool("wait") {
				fmt.Fprintln(c.App.Writer, "Discovery requested; `cspsync status` shows its result.")
				return nil
			}
			st, err := waitForDiscovery(c.Context, tc, partner, before.Discoveries, c.Duration("timeout"))
			if err != nil {
				return err
			}
			r := st.LastDiscovery
			fmt.Fprintf(c.App.Writer, "Discovered %d tenants: %d new, %d linked by name, %d updated.\n", r.Tenants, r.Inserted, r.Linked, r.Updated)
			return nil
		},
	}
}

// waitForDiscovery polls the partner workflow until it has finished more
// discoveries than `after`, or has stopped on an error.
func waitForDiscovery(ctx context.Context, tc client.Client, partner string, after int, timeout time.Duration) (workflows.PartnerState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last workflows.PartnerState
	for {
		st, err := workflows.QueryPartner(ctx, tc, partner)
		if err == nil {
			last = st
			if st.Discoveries > after {
				return st, nil
			}
			if st.LastError != nil && !st.LastError.At.IsZero() && st.Auth == workflows.AuthNeedsReauthorisation {
				return st, fmt.Errorf("partner %s needs attention: %s: %s", partner, st.LastError.Code, st.LastError.Remediation)
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("discovery of %s did not finish within %s (is the worker running? see `cspsync status`)", partner, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
