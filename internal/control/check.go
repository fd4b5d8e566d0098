package control

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/parallel"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
)

// Report receives one checked item: whether it holds, what it is, and the
// cause and fix when it does not.
type Report func(ok bool, what, detail string)

func (r Report) err(err error, what string) bool {
	if err != nil {
		r(false, what, err.Error())
		return false
	}
	r(true, what, "")
	return true
}

// Check checks the configuration end to end: the key, Temporal, PostgreSQL
// and its schema, then for each partner its authorisation, Partner Center,
// the consent of every GDAP tenant and Graph in every consented tenant.
func Check(ctx context.Context, cfg Config, report Report) {
	box, err := secrets.Load(cfg.EncryptionKey, cfg.EncryptionKeyFile)
	report.err(err, "encryption key loads")
	tc, err := DialTemporal(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, discardLogger)
	if report.err(err, "Temporal reachable at "+cfg.TemporalAddress) {
		defer tc.Close()
	}
	if box == nil {
		return
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, box)
	if !report.err(err, "PostgreSQL reachable") {
		return
	}
	defer st.Close()
	if !report.err(st.RequireSchema(ctx), "PostgreSQL schema migrated") {
		return
	}
	if !report.err(st.CheckKey(ctx), "encryption key is the one the stored secrets were sealed with") {
		return
	}
	hc, err := microsoft.NewHTTPClient(cfg.CAFile)
	if !report.err(err, "CA bundle usable") {
		return
	}
	auth := &microsoft.Auth{HTTP: hc, Cache: st}
	partners, err := st.ListPartners(ctx)
	if !report.err(err, "partners readable") {
		return
	}
	if len(partners) == 0 {
		report(false, "a partner is connected", "run `cspsync connect`")
	}
	for _, p := range partners {
		checkPartner(ctx, report, st, auth, p)
	}
}

func checkPartner(ctx context.Context, report Report, st *store.Store, auth *microsoft.Auth, p store.Partner) {
	name := "partner " + p.ID
	creds, err := st.Credentials(ctx, p.ID)
	if !report.err(err, name+": stored secrets open with this key") {
		return
	}
	authorised := p.AuthState == domain.AuthAuthorised
	if authorised {
		report(true, name+": authorised", "")
		_, _, err = auth.PartnerCenter(creds).CustomersPage(ctx, microsoft.Cursor{}, 1)
		report.err(remedied(err), name+": Partner Center reachable at "+p.PartnerCenterURL)
	} else {
		report(false, name+": authorised", string(p.AuthState)+": run `cspsync connect` and sign in")
	}
	customers, err := st.ListCustomers(ctx, p.ID)
	if !report.err(err, name+": tenants readable") {
		return
	}
	var readable []store.Customer
	for _, cu := range customers {
		if cu.TenantID == "" || cu.LeftAt != nil {
			continue // a tenant that left Partner Center is not worked on
		}
		// Every GDAP tenant, and any tenant whose consent went missing.
		if cu.Relationship == domain.GDAP || cu.ConsentState.Missing() {
			consented := cu.ConsentState == domain.ConsentGranted
			detail := ""
			if !consented {
				detail = "consent " + string(cu.ConsentState) + ": `cspsync consent url " + cu.TenantID + "`"
			}
			report(consented, fmt.Sprintf("%s: tenant %s (%s, %s) consented", name, cu.Name, cu.TenantID, cu.Relationship), detail)
		}
		if cu.ConsentState == domain.ConsentGranted || cu.ConsentState == domain.ConsentNotRequired {
			readable = append(readable, cu)
		}
	}
	// Graph, concurrently but gently, in every tenant that should be readable.
	var mu sync.Mutex
	failed := 0
	_ = parallel.Each(ctx, readable, 4, func(ctx context.Context, cu store.Customer) error {
		_, err := auth.Organization(ctx, creds, cu.TenantID)
		if err != nil {
			mu.Lock()
			failed++
			report(false, fmt.Sprintf("%s: Graph reachable in %s (%s)", name, cu.Name, cu.TenantID), remedied(err).Error())
			mu.Unlock()
		}
		return nil
	})
	if len(readable) > 0 {
		report(failed == 0, fmt.Sprintf("%s: Graph reachable in %d of %d consented tenants", name, len(readable)-failed, len(readable)), "")
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
