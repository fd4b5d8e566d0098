package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/flags"
)

var flagHeartbeat = &cli.DurationFlag{Name: "discovery-heartbeat", Value: 30 * time.Second,
	Usage: "how long a crashed worker may hold a discovery before another resumes it", EnvVars: []string{config.EnvDiscoveryHeartbeat}}

var flagDiscoveryInterval = &cli.DurationFlag{Name: "discovery-interval", Value: 6 * time.Hour,
	Usage: "how often a Temporal schedule rediscovers the partner's tenants (0 turns it off)", EnvVars: []string{config.EnvDiscoveryInterval}}

var flagTenantSyncInterval = &cli.DurationFlag{Name: "tenant-sync-interval", Value: time.Hour,
	Usage: "how often each Ready tenant syncs on its own", EnvVars: []string{config.EnvTenantSyncInterval}}

func connectCommand() *cli.Command {
	return &cli.Command{
		Name:  "connect",
		Usage: "store a partner's app registrations and print the sign-in link that authorises cspsync",
		Flags: []cli.Flag{flagPartner, flags.PublicURL, flags.CAFile, flagJSON,
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
			&cli.StringFlag{Name: "licence-source", Value: string(domain.FromSubscribedSkus), Usage: "how licences are imported: subscribed-skus (every SKU the customer holds) or subscriptions (the partner's own subscriptions; needs the Partner Center membership that API requires)", EnvVars: []string{"CSPSYNC_LICENCE_SOURCE"}},
			&cli.StringFlag{Name: "top-level", Usage: "top level (named group of customers) that newly imported customers join", EnvVars: []string{"CSPSYNC_TOP_LEVEL"}},
			&cli.BoolFlag{Name: "sso-allowed-tenants", Usage: "keep the imported tenants on the self-service portal's allowed-tenants list (`cspsync sso allowed-tenants`)", EnvVars: []string{"CSPSYNC_SSO_ALLOWED_TENANTS"}},
			flagHeartbeat, flagTenantSyncInterval, flagDiscoveryInterval,
			&cli.BoolFlag{Name: "forget-unreadable", Usage: "after a lost encryption key: first drop every stored secret and token the configured key cannot open " +
				"(each partner affected must then connect and sign in again)", EnvVars: []string{"CSPSYNC_FORGET_UNREADABLE"}},
		},
		Action: func(c *cli.Context) error {
			req := control.ConnectRequest{
				PartnerConfig: control.PartnerConfig{
					ID: c.String(flagPartner.Name), DisplayName: c.String("name"), PartnerTenantID: c.String("partner-tenant"),
					PCClientID: c.String("pc-client-id"), PCClientSecret: c.String("pc-client-secret"),
					GraphClientID: c.String("graph-client-id"), GraphClientSecret: c.String("graph-client-secret"),
					AuthorityURL: c.String("authority-url"), PartnerCenterURL: c.String("partner-center-url"), GraphURL: c.String("graph-url"),
					DefaultRelationship: domain.Relationship(c.String("default-relationship")),
					LicenceSource:       domain.LicenceSource(c.String("licence-source")),
					TopLevel:            c.String("top-level"), SSOAllowedTenants: c.Bool("sso-allowed-tenants"),
				},
				DiscoveryHeartbeat: c.Duration(flagHeartbeat.Name), TenantSyncInterval: c.Duration(flagTenantSyncInterval.Name),
				DiscoveryInterval: c.Duration(flagDiscoveryInterval.Name), ForgetUnreadable: c.Bool("forget-unreadable"),
			}
			return withControl(c, func(ctl *control.Control) error {
				res, err := ctl.Connect(c.Context, req)
				if err != nil {
					return err
				}
				for _, w := range res.Warnings {
					fmt.Fprintln(c.App.ErrWriter, "warning: "+w)
				}
				if len(res.Forgotten) > 0 {
					fmt.Fprintf(c.App.ErrWriter, "warning: dropped the stored secrets and tokens the encryption key cannot open, of partners %s; "+
						"their tenants pause until each is connected (`cspsync connect --partner ID`) and signed in again.\n", strings.Join(res.Forgotten, ", "))
				}
				if c.Bool(flagJSON.Name) {
					return printJSON(c.App.Writer, res)
				}
				printf(c.App.Writer, "Partner %s stored. Open this link as a partner admin (AdminAgents) and complete MFA:\n\n  %s\n\nThe link works once, for 30 minutes. Then run `cspsync status`.\n", res.Partner, res.AuthorizeURL)
				return nil
			})
		},
	}
}

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "discover the partner's customer tenants now; with --tenant, sync that tenant (licences, Graph, users)",
		Flags: []cli.Flag{flagPartner, flagTenant, flagJSON,
			&cli.BoolFlag{Name: "users", Usage: "sync every tenant of the partner (licences, Graph, users) instead of discovering", EnvVars: []string{"CSPSYNC_SYNC_USERS"}},
			&cli.BoolFlag{Name: "full", Usage: "with --tenant or --users: read every user again instead of the changes", EnvVars: []string{"CSPSYNC_SYNC_FULL"}},
			&cli.BoolFlag{Name: "wait", Usage: "wait until it has finished (a progress line shows a users round as it goes)", EnvVars: []string{"CSPSYNC_SYNC_WAIT"}},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "how long --wait waits", EnvVars: []string{"CSPSYNC_SYNC_TIMEOUT"}}},
		Action: func(c *cli.Context) error {
			partner := c.String(flagPartner.Name)
			return withControl(c, func(ctl *control.Control) error {
				if c.String(flagTenant.Name) != "" {
					return syncTenant(c, ctl)
				}
				if c.Bool("users") {
					return syncAllUsers(c, ctl)
				}
				if c.Bool("full") {
					return errors.New("--full reads users again: add --tenant T for one tenant or --users for all")
				}
				if !c.Bool("wait") {
					if err := ctl.RequestDiscovery(c.Context, partner); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, "Discovery requested; `cspsync status` shows its result.")
					return nil
				}
				r, err := ctl.Discover(c.Context, partner, c.Duration("timeout"))
				if err != nil || c.Bool(flagJSON.Name) {
					if err == nil {
						err = printJSON(c.App.Writer, r)
					}
					return err
				}
				printf(c.App.Writer, "Discovered %d tenants: %d new, %d linked by name, %d updated.\n", r.Tenants, r.Inserted, r.Linked, r.Updated)
				if r.Returned > 0 {
					printf(c.App.Writer, "%d of them had left Partner Center and are back as the same customers.\n", r.Returned)
				}
				if r.Left > 0 {
					printf(c.App.Writer, "%d tenants left Partner Center: their workflows end; customers, users and licences are kept (`cspsync tenants list`).\n", r.Left)
				}
				return nil
			})
		},
	}
}

func disconnectCommand() *cli.Command {
	return &cli.Command{
		Name:  "disconnect",
		Usage: "forget the partner's tokens and pause its tenants until `cspsync connect` authorises again",
		Flags: []cli.Flag{flagPartner},
		Action: func(c *cli.Context) error {
			return withControl(c, func(ctl *control.Control) error {
				if err := ctl.Disconnect(c.Context, c.String(flagPartner.Name)); err != nil {
					return err
				}
				printf(c.App.Writer, "Partner %s disconnected; its tenants pause until it is authorised again.\n", c.String(flagPartner.Name))
				return nil
			})
		},
	}
}
