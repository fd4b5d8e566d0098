package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
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
	users, truncated, err := c.readUsers(ctx, partnerID, cu.TenantID, usersync.PreviewSelect(filters), MaxPreviewUsers)
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

// readUsers reads up to limit of a tenant's users from Graph (the first
// pages of a full users/delta round), removed ones left out.
func (c *Control) readUsers(ctx context.Context, partnerID, tenantID string, sel []string, limit int) ([]usersync.GraphUser, bool, error) {
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
	pageSize := min(limit, microsoft.MaxDeltaPageSize)
	body, err := gu.DeltaFirstPage(ctx, sel, pageSize)
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
		if len(out) >= limit {
			return out[:limit], true, nil
		}
		body, err = gu.DeltaPage(ctx, page.NextLink, pageSize)
	}
}

// FieldPreviewUsers is how many users a field-mapping preview shows.
const FieldPreviewUsers = 5

// FieldPreview is what the field mappings, with one of them changed, would
// write for a few of a customer's users: the decisions the next users round
// makes for them, nothing saved.
type FieldPreview struct {
	Field                    string // the field being changed
	CustomerID               int64  // whose users
	CustomerName             string
	Fields                   []string // the PSA fields delta rounds write, in order
	SignInFields             []string // mapped fields only the daily sign-in pass refreshes: not previewed
	Users                    []FieldPreviewUser
	ReadAt                   time.Time
	Problem                  *MappingProblem // the expression does not compile: nothing was previewed
	PartnerLevel, Overridden bool            // a partner's mapping the customer's own overrides
}

// FieldPreviewUser is one user's PSA fields after the round.
type FieldPreviewUser struct {
	ID      string   // his Azure object id
	Name    string   // his Graph displayName
	Kind    string   // what the round does to him (usersync.Kind)
	Values  []string // in Fields' order
	Changed bool     // the changed field's value differs from what the PSA holds today
	Note    string   // why a field keeps its value, or why he is not written
}

// PreviewFieldMapping previews mapping field to expr (empty: back to the
// level below) at the partner's level (customerID "") or a customer's. The
// users are the first FieldPreviewUsers of a live Graph read of the
// customer's tenant (for the partner's level, previewCustomer's, or its
// first customer with a tenant); each is decided as a round would, against
// the PSA users stored today, with the same plan: site mappings, every
// field mapping in force and the partner's settings.
func (c *Control) PreviewFieldMapping(ctx context.Context, partnerID, customerID, previewCustomer, field, expr string) (FieldPreview, error) {
	p := FieldPreview{PartnerLevel: customerID == ""}
	f, err := usersync.ParseField(field)
	if err != nil {
		return p, err
	}
	p.Field = string(f)
	if expr, err = expression("the expression", expr); err != nil {
		return p, err
	}
	candidate := usersync.FieldMapping{Field: f, Expr: expr}
	if expr != "" {
		if err := usersync.ValidateMappings([]usersync.FieldMapping{candidate}); err != nil {
			var ee *usersync.ExprError
			if errors.As(err, &ee) {
				p.Problem = &MappingProblem{Line: ee.Line, Column: ee.Column, Message: err.Error()} // its text shows the place and the fix
				return p, nil
			}
			return p, err
		}
	}
	target := cmp.Or(customerID, previewCustomer)
	if target == "" {
		all, err := c.Customers(ctx, partnerID, true)
		if err != nil {
			return p, err
		}
		if len(all) == 0 {
			return p, errors.New("the partner has no customer with a tenant yet: there are no users to preview")
		}
		target = strconv.FormatInt(all[0].ID, 10)
	}
	st, cu, err := c.customerByID(ctx, target)
	if err != nil {
		return p, err
	}
	if cu.PartnerID != partnerID {
		return p, ErrNotYours
	}
	if cu.TenantID == "" {
		return p, fmt.Errorf("customer %s has no tenant yet: there are no users to preview", cu.Name)
	}
	p.CustomerID, p.CustomerName = cu.ID, cu.Name
	plan, err := c.previewPlan(ctx, st, partnerID, cu.ID, customerID != "", candidate, &p)
	if err != nil {
		return p, err
	}
	delta, signIn := plan.Fields()
	for _, f := range delta {
		p.Fields = append(p.Fields, string(f))
	}
	for _, f := range signIn {
		p.SignInFields = append(p.SignInFields, string(f))
	}
	users, _, err := c.readUsers(ctx, partnerID, cu.TenantID, plan.Select(usersync.Delta), FieldPreviewUsers)
	if err != nil {
		return p, err
	}
	p.ReadAt = time.Now().UTC()
	batch := plan.Prepare(usersync.Delta, users)
	l := batch.Lookups()
	found, err := st.FindPSAUsers(ctx, cu.ID, store.UserKeys{AzureIDs: l.AzureIDs,
		Emails: l.ByField[usersync.FieldEmail], Names: l.ByField[usersync.FieldName], NetworkLogins: l.ByField[usersync.FieldNetworkLogin]})
	if err != nil {
		return p, err
	}
	today := map[string]*domain.PSAUser{}
	for i := range found {
		today[strings.ToLower(found[i].AzureObjectID)] = &found[i]
	}
	names := map[string]string{}
	for _, u := range users {
		names[strings.ToLower(u.ID)] = u.DisplayName
	}
	for _, o := range batch.Decide(found) {
		id := strings.ToLower(o.User.AzureObjectID)
		row := FieldPreviewUser{ID: o.User.AzureObjectID, Name: names[id], Kind: string(o.Kind), Note: o.MappingErrors}
		if !o.Writes() && o.Kind != usersync.Unchanged {
			row.Note = strings.TrimPrefix(row.Note+"; not written: "+o.Reason, "; ")
		}
		for _, f := range delta {
			row.Values = append(row.Values, usersync.Value(&o.User.UserValues, f))
		}
		if old, ok := today[id]; ok {
			row.Changed = usersync.Value(&old.UserValues, f) != usersync.Value(&o.User.UserValues, f)
		} else {
			row.Changed = o.Writes()
		}
		p.Users = append(p.Users, row)
	}
	return p, nil
}

// previewPlan is the plan a round of customer cid would compile with the
// candidate mapping saved at the customer's level (own) or the partner's.
// Building it refuses what saving refuses: a matching rule left without its
// mapping.
func (c *Control) previewPlan(ctx context.Context, st *store.Store, partnerID string, cid int64, own bool, candidate usersync.FieldMapping, p *FieldPreview) (*usersync.Plan, error) {
	in, err := activities.ReadPlanInputs(ctx, st, partnerID, cid)
	if err != nil {
		return nil, err
	}
	replace := func(ms []usersync.FieldMapping) []usersync.FieldMapping {
		ms = slices.DeleteFunc(slices.Clone(ms), func(m usersync.FieldMapping) bool { return m.Field == candidate.Field })
		return append(ms, candidate)
	}
	if own {
		in.Customer = replace(in.Customer)
	} else {
		in.Partner = replace(in.Partner)
		p.Overridden = slices.ContainsFunc(in.Customer, func(m usersync.FieldMapping) bool { return m.Field == candidate.Field })
	}
	cfg := in.Config
	cfg.Mappings = usersync.Resolve(in.Partner, in.Customer)
	return usersync.NewPlan(cfg)
}
