package activities

import (
	"context"
	"errors"
	"fmt"

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
			tenants = append(tenants, discovered(c))
		}
		counts, err := a.Store.SaveDiscoveryPage(ctx, partnerID, at.Encode(), next.Encode(), tenants)
		if errors.Is(err, store.ErrCursorMoved) {
			return res, err // retried; the next attempt starts from the stored cursor
		}
		if err != nil {
			return res, fmt.Errorf("saving discovery page %d of %s: %w", res.Pages+1, partnerID, err)
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

// discovered is a Partner Center customer as cspsync keeps it. Names and
// domains are whatever the customer's creator typed: cleaned and bounded,
// and a customer left without a printable name is named by its domain (or
// its tenant id), as the PSA needs a name.
func discovered(c microsoft.PCCustomer) store.DiscoveredTenant {
	t := store.DiscoveredTenant{TenantID: text.Clean(c.CompanyProfile.TenantID, text.MaxCode),
		Name: text.Clean(c.CompanyProfile.CompanyName, text.MaxName), Domain: text.Clean(c.CompanyProfile.Domain, text.MaxName)}
	if t.TenantID == "" {
		t.TenantID = text.Clean(c.ID, text.MaxCode)
	}
	for _, name := range []string{t.Domain, t.TenantID} {
		if t.Name == "" {
			t.Name = name
		}
	}
	return t
}
