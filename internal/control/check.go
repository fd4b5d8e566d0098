package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/parallel"
	"github.com/cspsync/cspsync/internal/store"
)

// Report receives one checked item: whether it holds, what it is, and the
// cause and fix when it does not.
type Report func(ok bool, what, detail string)

// Err reports err as the item what: a tick when nil, else a cross with the
// error as its cause and fix. It says whether the item holds.
func (r Report) Err(err error, what string) bool {
	if err != nil {
		r(false, what, err.Error())
		return false
	}
	r(true, what, "")
	return true
}

// CheckPartners checks, for each partner, that its secrets open, its
// authorisation, Partner Center, the consent of every GDAP tenant and Graph
// in every consented tenant. (internal/service checks the parts first.)
func (c *Control) CheckPartners(ctx context.Context, report Report) {
	st, err := c.db(ctx)
	if err != nil {
		report(false, "PostgreSQL reachable", err.Error())
		return
	}
	auth, err := c.microsoft(ctx)
	if err != nil {
		report(false, "CA bundle loads", err.Error())
		return
	}
	partners, err := st.ListPartners(ctx)
	if !report.Err(err, "partners readable") {
		return
	}
	report.Err(verifiesCertificates(ctx, auth.HTTP, partners), "CA bundle usable: Microsoft's certificates verify against it")
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
	if !report.Err(err, name+": stored secrets open with this key") {
		return
	}
	authorised := p.AuthState == domain.AuthAuthorised
	if authorised {
		report(true, name+": authorised", "")
		_, _, err = auth.PartnerCenter(creds).CustomersPage(ctx, microsoft.Cursor{}, 1)
		report.Err(remedied(err), name+": Partner Center reachable at "+p.PartnerCenterURL)
	} else {
		report(false, name+": authorised", string(p.AuthState)+": run `cspsync connect` and sign in")
	}
	customers, err := st.ListCustomers(ctx, p.ID)
	if !report.Err(err, name+": tenants readable") {
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
	// Where cspsync manages licences, the consent must cover writing them.
	for _, cu := range readable {
		by, err := st.ManagedBy(ctx, cu.ID)
		if err != nil || by != licensing.Manager {
			continue
		}
		report.Err(licenceWriteConsent(ctx, auth, creds, cu.TenantID),
			fmt.Sprintf("%s: Graph consent in %s (%s) covers %s for licence management", name, cu.Name, cu.TenantID, microsoft.LicenceWritePermission))
	}
}

// verifiesCertificates calls each of the partners' Microsoft hosts once and
// returns the first certificate that does not verify, with its fix. Any
// HTTP answer verifies; a host that cannot be reached is the other lines'
// concern.
func verifiesCertificates(ctx context.Context, hc *http.Client, partners []store.Partner) error {
	hosts := map[string]bool{}
	for _, p := range partners {
		for _, u := range []string{p.AuthorityURL, p.PartnerCenterURL, p.GraphURL} {
			if pu, err := url.Parse(u); err == nil && pu.Host != "" && !hosts[pu.Host] {
				hosts[pu.Host] = true
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+pu.Host+"/", nil)
				if err != nil {
					return err
				}
				resp, err := hc.Do(req)
				if err == nil {
					resp.Body.Close()
				} else if microsoft.CertificateFailure(err) {
					return fmt.Errorf("%s: %w", pu.Host, remedied(microsoft.Classify(err)))
				}
			}
		}
	}
	return nil
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
