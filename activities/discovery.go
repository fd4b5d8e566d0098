package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/text"
)

// DiscoveryResult counts what one discovery did.
type DiscoveryResult struct {
	Pages    int
	Tenants  int
	Inserted int
	Linked   int
	Updated  int
	Resumed  bool // continued from a cursor left by a crashed attempt
	// Returned counts customers that had left Partner Center and are listed
	// again; Left those this discovery found gone (only a discovery that
	// read every page itself, not a resumed one, retires anyone).
	Returned int
	Left     int
}

// DiscoverTenants pages through the partner's customers in Partner Center
// and upserts them as PSA customers. Each page and the cursor after it are
// committed together, so a retry after a crash resumes at the first page not
// yet saved.
func (a *Activities) DiscoverTenants(ctx context.Context, partnerID string) (DiscoveryResult, error) {
	var res DiscoveryResult
	creds, err := a.credentials(ctx, partnerID, "", domain.OpDiscovery)
	if err != nil {
		return res, err
	}
	gdap, err := a.readGDAP(ctx, partnerID, creds)
	if err != nil {
		return res, err
	}
	pc := a.Auth.PartnerCenter(creds)
	stored, err := a.Store.DiscoveryCursor(ctx, partnerID)
	if err != nil {
		return res, err
	}
	at, err := microsoft.DecodeCursor(stored)
	if err != nil {
		return res, fmt.Errorf("stored discovery cursor of %s is unreadable: %w", partnerID, err)
	}
	res.Resumed = stored != ""
	if res.Resumed {
		activity.GetLogger(ctx).Info("resuming discovery from stored cursor", "partner", partnerID)
	}
	for {
		items, next, err := pc.CustomersPage(ctx, at, a.DiscoveryPageSize)
		if err != nil {
			return res, a.fail(ctx, partnerID, "", domain.OpDiscovery, err)
		}
		tenants := make([]store.DiscoveredTenant, 0, len(items))
		for _, c := range items {
			tenants = append(tenants, discovered(c, gdap.relationships()))
		}
		counts, err := a.Store.SaveDiscoveryPage(ctx, partnerID, at.Encode(), next.Encode(), tenants)
		if errors.Is(err, store.ErrCursorMoved) {
			return res, err // retried; the next attempt starts from the stored cursor
		}
		if err != nil {
			return res, fmt.Errorf("saving discovery page %d of %s: %w", res.Pages+1, partnerID, err)
		}
		if err := a.recordGDAPProblems(ctx, partnerID, items, gdap); err != nil {
			return res, err
		}
		res.Pages++
		res.Tenants += len(items)
		res.Inserted += counts.Inserted
		res.Linked += counts.Linked
		res.Updated += counts.Updated
		res.Returned += counts.Returned
		activity.RecordHeartbeat(ctx, res.Pages)
		if next == (microsoft.Cursor{}) {
			break
		}
		at = next
	}
	if res.Left, err = a.Store.FinishDiscovery(ctx, partnerID, !res.Resumed); err != nil {
		return res, err
	}
	if err := a.Store.ResolveErrors(ctx, partnerID, "", domain.OpDiscovery); err != nil {
		return res, err
	}
	return res, nil
}

// discovered is a Partner Center customer as cspsync keeps it, with the
// relationship Microsoft says it has. Names and domains are whatever the
// customer's creator typed: cleaned and bounded, and a customer left without
// a printable name is named by its domain (or its tenant id), as the PSA
// needs a name.
func discovered(c microsoft.PCCustomer, gdap gdapByTenant) store.DiscoveredTenant {
	t := store.DiscoveredTenant{TenantID: tenantIDOf(c),
		Name: text.Clean(c.CompanyProfile.CompanyName, text.MaxName), Domain: text.Clean(c.CompanyProfile.Domain, text.MaxName)}
	var g domain.GDAPState
	if gdap != nil {
		g = domain.SummariseGDAP(gdap[strings.ToLower(t.TenantID)])
		t.GDAP = &g
	}
	t.Relationship = domain.DetectRelationship(c.AllowDelegatedAccess, g)
	for _, name := range []string{t.Domain, t.TenantID} {
		if t.Name == "" {
			t.Name = name
		}
	}
	return t
}

// tenantIDOf is the customer's tenant id (its company profile's, else its own id).
func tenantIDOf(c microsoft.PCCustomer) string {
	if id := text.Clean(c.CompanyProfile.TenantID, text.MaxCode); id != "" {
		return id
	}
	return text.Clean(c.ID, text.MaxCode)
}

// gdapByTenant holds the partner's GDAP relationships by lower-case customer
// tenant id; nil when they could not be read.
type gdapByTenant map[string][]domain.GDAPRelationship

// gdapRead is what a discovery knows of the partner's GDAP relationships:
// nil when they could not be read.
type gdapRead struct {
	byTenant gdapByTenant
	// open holds the codes of the open relationships errors by tenant
	// (lower-case), so that resolving them costs a page nothing when there
	// are none.
	open map[string][]string
}

func (g *gdapRead) relationships() gdapByTenant {
	if g == nil {
		return nil
	}
	return g.byTenant
}

// readGDAP reads the partner's GDAP relationships with their access
// assignments. What retrying can fix (throttling, an outage) fails the
// attempt, and unusable credentials fail the discovery as Partner Center's
// would; any other refusal (the Partner Center app lacks the Graph
// permission) is recorded as the partner's error, and discovery goes on
// without them: every tenant keeps the relationship it has.
func (a *Activities) readGDAP(ctx context.Context, partnerID string, creds domain.Credentials) (*gdapRead, error) {
	rels, err := a.Auth.GDAPRelationships(ctx, creds, func() { activity.RecordHeartbeat(ctx, 0) })
	if errors.Is(err, context.Canceled) {
		return nil, err
	}
	if err != nil {
		f := microsoft.Classify(err)
		if f.Reaction == domain.Retry || f.Reaction == domain.Reauthorise {
			return nil, a.fail(ctx, partnerID, "", domain.OpDiscovery, err)
		}
		activity.GetLogger(ctx).Warn("GDAP relationships unreadable; tenants keep their relationships", "code", f.Code)
		info := f.Info()
		info.Remediation = gdapUnreadable
		return nil, a.Store.RecordError(ctx, partnerID, "", domain.OpRelationships, info)
	}
	if err := a.Store.ResolveErrors(ctx, partnerID, "", domain.OpRelationships); err != nil {
		return nil, err
	}
	g := &gdapRead{byTenant: gdapByTenant{}, open: map[string][]string{}}
	for _, r := range rels {
		id := strings.ToLower(r.CustomerTenantID)
		g.byTenant[id] = append(g.byTenant[id], r)
	}
	open, err := a.Store.ListErrors(ctx, partnerID, false)
	if err != nil {
		return nil, err
	}
	for _, e := range open {
		if id := strings.ToLower(e.TenantID); e.Operation == domain.OpRelationships && id != "" {
			g.open[id] = append(g.open[id], e.Code)
		}
	}
	return g, nil
}

const gdapUnreadable = "cspsync reads the partner's GDAP relationships as the signed-in partner admin, through the Partner Center " +
	"app: add the Microsoft Graph delegated permission DelegatedAdminRelationship.Read.All to that app registration " +
	"(API permissions) and grant admin consent, then run `cspsync sync`. Until then each tenant keeps the relationship it has " +
	"(the partner's default, or `cspsync tenants set-relationship`)."

// recordGDAPProblems records, for each customer of a page, what stands in
// the way of a tenant administered only through GDAP (an ended relationship,
// one not active yet, roles that cannot read licences) before any import
// fails, and closes the problems that are gone. Unread relationships change
// nothing.
func (a *Activities) recordGDAPProblems(ctx context.Context, partnerID string, items []microsoft.PCCustomer, gdap *gdapRead) error {
	if gdap == nil {
		return nil
	}
	var settled []string // tenants whose open problems are gone or changed
	type problem struct {
		tenant string
		info   domain.ErrorInfo
	}
	var problems []problem
	for _, c := range items {
		t := tenantIDOf(c)
		p := domain.GDAPProblem(c.AllowDelegatedAccess, gdap.byTenant[strings.ToLower(t)])
		open := gdap.open[strings.ToLower(t)]
		if len(open) > 0 && (p == nil || slices.ContainsFunc(open, func(code string) bool { return code != p.Code })) {
			settled = append(settled, t)
		}
		if p != nil {
			problems = append(problems, problem{t, domain.ErrorInfo{Code: p.Code, Cause: p.Cause, Remediation: p.Remediation,
				Reaction: domain.NeedsFix, At: time.Now()}})
		}
	}
	if err := a.Store.ResolveTenantErrors(ctx, partnerID, domain.OpRelationships, settled); err != nil {
		return err
	}
	for _, p := range problems {
		if err := a.Store.RecordError(ctx, partnerID, p.tenant, domain.OpRelationships, p.info); err != nil { // a persisting problem stays one row
			return err
		}
	}
	return nil
}
