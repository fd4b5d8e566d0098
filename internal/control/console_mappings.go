package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/usersync"
)

// ParseSiteMapping reads mapping n (1-based) as people write it: 'FILTER => SITE'.
func ParseSiteMapping(n int, s string) (SiteMapping, error) {
	filter, site, ok := strings.Cut(s, "=>")
	if !ok {
		return SiteMapping{}, fmt.Errorf("mapping %d %q: write it as 'FILTER => SITE', e.g. 'user.department == \"Sales\" => Sales'", n, s)
	}
	return SiteMapping{Filter: strings.TrimSpace(filter), Site: strings.TrimSpace(site)}, nil
}

// MaxPreviewUsers bounds the users a site-mapping preview reads from Graph.
const MaxPreviewUsers = 5000

// previewSamples is how many names each line of a preview shows.
const previewSamples = 5

// Bucket counts users and names a few of them.
type Bucket struct {
	Count   int
	Samples []string
}

func (b *Bucket) add(name string) {
	b.Count++
	if len(b.Samples) < previewSamples {
		b.Samples = append(b.Samples, name)
	}
}

// MappingProblem is why one mapping cannot be saved; Line and Column point
// into its filter (0 when the problem is not at a place in it).
type MappingProblem struct {
	Mapping      int // 1-based
	Line, Column int
	Message, Fix string
}

// MappedCount is what one mapping would place.
type MappedCount struct {
	SiteMapping
	Bucket
}

// MappingPreview is what a list of site mappings would do to a tenant's
// users, read live from Microsoft Graph, against the PSA users today.
type MappingPreview struct {
	Mappings    []MappedCount
	Unplaced    Bucket // no mapping places them: not imported
	Moved       Bucket // active today in another site
	Inactivated Bucket // active today, inactive after (unplaced or account disabled)
	New         Bucket // placed and not in the PSA yet
	Users       int    // Graph users read
	Truncated   bool   // the tenant has more than MaxPreviewUsers users: counts cover the first
	ReadAt      time.Time
	Problems    []MappingProblem // when not empty nothing was previewed
}

// PreviewSiteMappings places the customer's users as the mappings would,
// without saving them. The users come from a bounded live read of Graph
// (users/delta with the properties the filters read), so the preview is as
// fresh as the moment it is asked; their PSA side is what the last rounds
// stored.
func (c *Control) PreviewSiteMappings(ctx context.Context, partnerID, customerID string, ms []SiteMapping) (MappingPreview, error) {
	st, cu, err := c.customerByID(ctx, customerID)
	if err != nil {
		return MappingPreview{}, err
	}
	if cu.PartnerID != partnerID {
		return MappingPreview{}, ErrNotYours
	}
	if cu.TenantID == "" {
		return MappingPreview{}, fmt.Errorf("customer %s has no tenant yet: there are no users to preview", cu.Name)
	}
	p := MappingPreview{}
	sites, err := st.ListSites(ctx, cu.ID)
	if err != nil {
		return p, err
	}
	known := map[string]bool{}
	for _, s := range sites {
		known[s.Name] = true
	}
	var filters []*usersync.Filter
	for i, m := range ms {
		f, err := usersync.CompileFilter(m.Filter)
		var ee *usersync.ExprError
		switch {
		case errors.As(err, &ee):
			p.Problems = append(p.Problems, MappingProblem{Mapping: i + 1, Line: ee.Line, Column: ee.Column, Message: ee.Message, Fix: ee.Fix})
		case err != nil:
			p.Problems = append(p.Problems, MappingProblem{Mapping: i + 1, Message: err.Error()})
		case !known[m.Site]:
			p.Problems = append(p.Problems, MappingProblem{Mapping: i + 1, Message: fmt.Sprintf("customer %s has no site %q", cu.Name, m.Site),
				Fix: "pick one of its sites, or add it with `cspsync sites add`"})
		}
		filters = append(filters, f)
		p.Mappings = append(p.Mappings, MappedCount{SiteMapping: m})
	}
	if len(p.Problems) > 0 {
		return p, nil
	}
	settings, err := st.UserSettings(ctx, partnerID)
	if err != nil {
		return p, err
	}
	today, err := st.ListUsers(ctx, cu.ID)
	if err != nil {
		return p, err
	}
	byAzure := map[string]int{}
	for i, u := range today {
		if u.AzureObjectID != "" {
			byAzure[u.AzureObjectID] = i
		}
	}
	users, truncated, err := c.readUsers(ctx, partnerID, cu.TenantID, usersync.PreviewSelect(filters))
	if err != nil {
		return p, err
	}
	p.Users, p.Truncated, p.ReadAt = len(users), truncated, time.Now().UTC()
	for i := range users {
		u := &users[i]
		at := usersync.FirstMatch(filters, u)
		enabled := u.AccountEnabled || settings.IgnoreAccountEnabled
		j, exists := byAzure[u.ID]
		activeToday := exists && today[j].Active
		switch {
		case at < 0:
			p.Unplaced.add(u.DisplayName)
			if activeToday {
				p.Inactivated.add(u.DisplayName)
			}
			continue
		case !enabled && activeToday:
			p.Inactivated.add(u.DisplayName)
		case !exists:
			p.New.add(u.DisplayName)
		case activeToday && today[j].Site != ms[at].Site:
			p.Moved.add(u.DisplayName)
		}
		p.Mappings[at].add(u.DisplayName)
	}
	return p, nil
}

// readUsers reads up to MaxPreviewUsers of a tenant's users from Graph,
// removed ones left out.
func (c *Control) readUsers(ctx context.Context, partnerID, tenantID string, sel []string) ([]usersync.GraphUser, bool, error) {
	st, err := c.sealed(ctx)
	if err != nil {
		return nil, false, err
	}
	auth, err := c.microsoft(ctx)
	if err != nil {
		return nil, false, err
	}
	creds, err := st.Credentials(ctx, partnerID)
	if err != nil {
		return nil, false, err
	}
	gu, err := auth.GraphUsers(creds, tenantID)
	if err != nil {
		return nil, false, err
	}
	var out []usersync.GraphUser
	body, err := gu.DeltaFirstPage(ctx, sel, microsoft.MaxDeltaPageSize)
	for {
		if err != nil {
			return nil, false, fmt.Errorf("reading the tenant's users from Microsoft Graph: %w", err)
		}
		page, perr := usersync.DecodeDeltaPage(body)
		if perr != nil {
			return nil, false, perr
		}
		usersync.RefuseOddIDs(page.Users)
		for _, u := range page.Users {
			if u.Removed == nil {
				out = append(out, u)
			}
		}
		if page.NextLink == "" {
			return out, false, nil
		}
		if len(out) >= MaxPreviewUsers {
			return out[:MaxPreviewUsers], true, nil
		}
		body, err = gu.DeltaPage(ctx, page.NextLink, microsoft.MaxDeltaPageSize)
	}
}
