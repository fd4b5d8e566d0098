package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
)

// checker prints one tick or cross per item and remembers any failure.
type checker struct {
	w      io.Writer
	failed int
}

func (k *checker) item(ok bool, what, detail string) bool {
	mark := "✓"
	if !ok {
		mark = "✗"
		k.failed++
	}
	if detail != "" {
		what += " — " + detail
	}
	fmt.Fprintf(k.w, "%s %s\n", mark, what)
	return ok
}

func (k *checker) err(err error, what string) bool {
	if err != nil {
		return k.item(false, what, err.Error())
	}
	return k.item(true, what, "")
}

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "check the configuration end to end: a tick or a cross per item, non-zero exit if any fails",
		Flags: []cli.Flag{flagCAFile},
		Action: func(c *cli.Context) error {
			k := &checker{w: c.App.Writer}
			ctx, cancel := context.WithTimeout(c.Context, 2*time.Minute)
			defer cancel()
			runChecks(ctx, c, k)
			if k.failed > 0 {
				return fmt.Errorf("%d check(s) failed", k.failed)
			}
			fmt.Fprintln(c.App.Writer, "All checks passed.")
			return nil
		},
	}
}

func runChecks(ctx context.Context, c *cli.Context, k *checker) {
	box, err := secrets.Load(c.String(flagKey.Name), c.String(flagKeyFile.Name))
	k.err(err, "encryption key loads")

	tc, err := dialTemporal(c)
	if k.err(err, "Temporal reachable at "+c.String(flagTemporalAddress.Name)) {
		defer tc.Close()
	}
	if box == nil {
		return
	}
	st, err := store.Open(ctx, c.String(flagDatabaseURL.Name), box)
	if !k.err(err, "PostgreSQL reachable") {
		return
	}
	defer st.Close()
	applied, latest, err := st.SchemaVersion(ctx)
	if err == nil && applied != latest {
		err = fmt.Errorf("schema at version %d of %d: run `cspsync migrate`", applied, latest)
	}
	if !k.err(err, "PostgreSQL schema migrated") {
		return
	}
	hc, err := microsoft.NewHTTPClient(c.String(flagCAFile.Name))
	if !k.err(err, "CA bundle usable") {
		return
	}
	auth := &microsoft.Auth{Store: st, HTTP: hc}
	partners, err := st.ListPartners(ctx)
	if !k.err(err, "partners readable") {
		return
	}
	if len(partners) == 0 {
		k.item(false, "a partner is connected", "run `cspsync connect`")
	}
	for _, p := range partners {
		checkPartner(ctx, k, st, auth, p)
	}
}

func checkPartner(ctx context.Context, k *checker, st *store.Store, auth *microsoft.Auth, p store.Partner) {
	name := "partner " + p.ID
	_, err := st.PartnerSecrets(ctx, p.ID)
	k.err(err, name+": stored secrets open with this key")
	authorised := k.item(p.AuthState == store.AuthAuthorised, name+": authorised", map[bool]string{
		true: "", false: p.AuthState + ": run `cspsync connect` and sign in"}[p.AuthState == store.AuthAuthorised])
	if authorised {
		_, _, err = auth.PartnerCenter(p.ID, p.PartnerCenterURL).CustomersPage(ctx, microsoft.Cursor{}, 1)
		k.err(remedied(err), name+": Partner Center reachable at "+p.PartnerCenterURL)
	}
	customers, err := st.ListCustomers(ctx, p.ID)
	if !k.err(err, name+": tenants readable") {
		return
	}
	// Graph, concurrently but gently, for every tenant that should be readable.
	type result struct {
		c   store.Customer
		err error
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []result
		sem     = make(chan struct{}, 4)
	)
	for _, cu := range customers {
		if cu.TenantID == "" {
			continue
		}
		// Every GDAP tenant, and any tenant whose consent went missing.
		if cu.Relationship == "GDAP" || cu.ConsentState == store.ConsentPending || cu.ConsentState == store.ConsentRevoked {
			consented := cu.ConsentState == store.ConsentGranted
			k.item(consented, fmt.Sprintf("%s: tenant %s (%s, %s) consented", name, cu.Name, cu.TenantID, cu.Relationship),
				map[bool]string{true: "", false: "consent " + cu.ConsentState + ": `cspsync consent url " + cu.TenantID + "`"}[consented])
		}
		if cu.ConsentState != store.ConsentGranted && cu.ConsentState != store.ConsentNotRequired {
			continue
		}
		wg.Add(1)
		go func(cu store.Customer) {
			defer wg.Done()
			sem <- struct{}{}
			_, err := auth.Organization(ctx, p.ID, cu.TenantID, p.GraphURL)
			<-sem
			mu.Lock()
			results = append(results, result{cu, err})
			mu.Unlock()
		}(cu)
	}
	wg.Wait()
	reachable := 0
	for _, r := range results {
		if r.err == nil {
			reachable++
			continue
		}
		k.item(false, fmt.Sprintf("%s: Graph reachable in %s (%s)", name, r.c.Name, r.c.TenantID), remedied(r.err).Error())
	}
	if len(results) > 0 {
		k.item(reachable == len(results), fmt.Sprintf("%s: Graph reachable in %d of %d consented tenants", name, reachable, len(results)), "")
	}
}

// remedied phrases a Microsoft failure as its code, cause and fix.
func remedied(err error) error {
	if err == nil {
		return nil
	}
	var f *microsoft.Failure
	if errors.As(err, &f) {
		return fmt.Errorf("%s: %s %s", f.Code, f.Cause, f.Remediation)
	}
	return err
}
