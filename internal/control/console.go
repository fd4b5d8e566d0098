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

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/usersync"
	"github.com/cspsync/cspsync/workflows"
)

// The operator console's reads and actions (internal/web). Each is scoped
// to the signed-in operator's partner: a customer, error or tenant of
// another partner is "not found", never shown.

// ErrNotYours is a customer or error outside the operator's partner.
var ErrNotYours = errors.New("not found among your partner's customers: open it from the customers page")

// CustomerQuery picks a page of the customers list.
type CustomerQuery struct {
	Search       string // in the name, domain or tenant id
	State        string // a domain.TenantState, or ""
	Relationship string // GDAP, DAP, or ""
	TopLevel     string
	HasErrors    bool
	Page         int // 1-based
	PerPage      int
}

// CustomerList is one page of the customers list and what its filters offer.
type CustomerList struct {
	Rows               []TenantRow
	Total, Page, Pages int
	States             []domain.TenantState
	Relationships      []domain.Relationship
	TopLevels          []string
	Query              CustomerQuery
}

// DefaultPerPage is the customers list's page size unless the operator picks another.
const DefaultPerPage = 50

// CustomerList filters the partner's tenants and returns one page.
func (c *Control) CustomerList(ctx context.Context, partnerID string, q CustomerQuery) (CustomerList, error) {
	rows, err := c.Tenants(ctx, partnerID)
	if err != nil {
		return CustomerList{}, err
	}
	q.PerPage = min(max(cmp.Or(q.PerPage, DefaultPerPage), 10), 500)
	out := CustomerList{States: domain.TenantStates(), Relationships: []domain.Relationship{domain.GDAP, domain.DAP}, Query: q}
	search := strings.ToLower(strings.TrimSpace(q.Search))
	tops := map[string]bool{}
	kept := rows[:0:0]
	for _, r := range rows {
		if r.TopLevel != "" {
			tops[r.TopLevel] = true
		}
		if search != "" && !strings.Contains(strings.ToLower(r.Name), search) && !strings.Contains(strings.ToLower(r.Domain), search) &&
			!strings.Contains(r.TenantID, search) ||
			q.State != "" && string(r.SyncState) != q.State ||
			q.Relationship != "" && !strings.EqualFold(string(r.Relationship), q.Relationship) ||
			q.TopLevel != "" && r.TopLevel != q.TopLevel ||
			q.HasErrors && r.Error == nil {
			continue
		}
		kept = append(kept, r)
	}
	for t := range tops {
		out.TopLevels = append(out.TopLevels, t)
	}
	slices.Sort(out.TopLevels)
	out.Total = len(kept)
	out.Pages = max(1, (len(kept)+q.PerPage-1)/q.PerPage)
	out.Page = min(max(q.Page, 1), out.Pages)
	out.Query.Page = out.Page
	from := (out.Page - 1) * q.PerPage
	out.Rows = kept[from:min(from+q.PerPage, len(kept))]
	return out, nil
}

// CustomerDetail is everything the console's customer page shows.
type CustomerDetail struct {
	TenantRow
	Sites      []Site
	Mappings   []SiteMapping
	Users      []PSAUser // those the user filter picks, at most MaxDetailUsers
	UserCounts struct{ Shown, Matching, Active, Inactive, All int }
	Licences   CustomerSeats
	History    []LicenceEvent
	Log        []LogEntry
	Errors     []IntegrationError
	// WorkflowID and Namespace find the tenant's workflow in the Temporal UI.
	WorkflowID, Namespace string
}

// MaxDetailUsers bounds the users a customer page lists.
const MaxDetailUsers = 200

// Customer returns one of the partner's customers for its page: users
// filtered by search (name, email, login) and state (active, inactive,
// manual or "").
func (c *Control) CustomerDetail(ctx context.Context, partnerID, customerID, userSearch, userState string) (CustomerDetail, error) {
	st, cu, err := c.customerByID(ctx, customerID)
	if err != nil {
		return CustomerDetail{}, err
	}
	if cu.PartnerID != partnerID {
		return CustomerDetail{}, ErrNotYours
	}
	d := CustomerDetail{TenantRow: TenantRow{Customer: customerOf(cu)}, Namespace: c.cfg.TemporalNamespace}
	if cu.TenantID != "" {
		d.WorkflowID = workflows.TenantWorkflowID(cu.PartnerID, cu.TenantID)
	}
	id := strconv.FormatInt(cu.ID, 10)
	if d.Sites, err = c.Sites(ctx, id); err != nil {
		return d, err
	}
	if d.Mappings, err = c.SiteMappings(ctx, id); err != nil {
		return d, err
	}
	users, err := c.Users(ctx, id)
	if err != nil {
		return d, err
	}
	search := strings.ToLower(strings.TrimSpace(userSearch))
	d.Users = []PSAUser{}
	for _, u := range users {
		d.UserCounts.All++
		if u.Active {
			d.UserCounts.Active++
		} else {
			d.UserCounts.Inactive++
		}
		if search != "" && !strings.Contains(strings.ToLower(u.Name+" "+u.Email+" "+u.NetworkLogin), search) ||
			userState == "active" && !u.Active || userState == "inactive" && u.Active || userState == "manual" && u.Source != "manual" {
			continue
		}
		d.UserCounts.Matching++
		if len(d.Users) < MaxDetailUsers {
			d.Users = append(d.Users, u)
		}
	}
	d.UserCounts.Shown = len(d.Users)
	if summaries, err := st.UserSummaries(ctx, partnerID); err == nil {
		d.TenantRow.Users = userSummaryOf(summaries[cu.ID])
	} else {
		return d, err
	}
	lic, err := c.Licences(ctx, partnerID)
	if err != nil {
		return d, err
	}
	for _, l := range lic.Customers {
		if l.CustomerID == cu.ID {
			d.Licences = l
		}
	}
	if d.History, err = c.LicenceHistory(ctx, id); err != nil {
		return d, err
	}
	d.Log = []LogEntry{}
	if cu.TenantID != "" {
		if d.Log, err = c.InboundLog(ctx, cu.TenantID, "", 50); err != nil {
			return d, err
		}
		links, err := st.LiveConsentLinks(ctx, partnerID)
		if err != nil {
			return d, err
		}
		if t, ok := links[cu.TenantID]; ok {
			d.LinkExpires = &t
		}
	}
	errs, err := c.Errors(ctx, partnerID, false)
	for _, e := range errs {
		if e.TenantID != "" && e.TenantID == cu.TenantID {
			d.Errors = append(d.Errors, e)
		}
	}
	if len(d.Errors) > 0 {
		d.Error = &d.Errors[0]
	}
	return d, err
}

// OwnTenant checks that tenantID is one of the partner's tenants, for the
// console's actions.
func (c *Control) OwnTenant(ctx context.Context, partnerID, tenantID string) (Customer, error) {
	_, cu, err := c.customer(ctx, strings.TrimSpace(tenantID))
	if err != nil || cu.PartnerID != partnerID {
		return cu, ErrNotYours
	}
	return cu, nil
}

// ErrorGroup is the open errors of one code.
type ErrorGroup struct {
	Code, Remediation string
	Errors            []IntegrationError
	Occurrences       int
	// Retryable: the failure may pass on its own, so trying again now makes sense.
	Retryable bool
}

// ErrorGroups are the partner's open errors grouped by code, most frequent first.
func (c *Control) ErrorGroups(ctx context.Context, partnerID string) ([]ErrorGroup, error) {
	errs, err := c.Errors(ctx, partnerID, false)
	if err != nil {
		return nil, err
	}
	var groups []ErrorGroup
	at := map[string]int{}
	for _, e := range errs {
		i, ok := at[e.Code]
		if !ok {
			i = len(groups)
			at[e.Code] = i
			groups = append(groups, ErrorGroup{Code: e.Code, Remediation: e.Remediation, Retryable: retryable(e.Code)})
		}
		groups[i].Errors = append(groups[i].Errors, e)
		groups[i].Occurrences += e.Occurrences
	}
	slices.SortStableFunc(groups, func(a, b ErrorGroup) int { return cmp.Compare(b.Occurrences, a.Occurrences) })
	return groups, nil
}

// retryable tells whether the catalogue's reaction to code lets a retry
// help: a transient failure or a delta to read again. One that needs a fix,
// consent or a new sign-in would only fail again.
func retryable(code string) bool {
	if code == domain.CodeInternal {
		return true
	}
	e, ok := microsoft.Lookup(code)
	return ok && (e.Reaction == domain.Retry || e.Reaction == domain.Resync || e.Reaction == domain.Degrade)
}

// RetryError tries again now what failed: the tenant's cycle, or for the
// partner's own error a discovery. The error stays listed until the retry
// succeeds and resolves it.
func (c *Control) RetryError(ctx context.Context, partnerID string, errorID int64) (IntegrationError, error) {
	errs, err := c.Errors(ctx, partnerID, false)
	if err != nil {
		return IntegrationError{}, err
	}
	i := slices.IndexFunc(errs, func(e IntegrationError) bool { return e.ID == errorID })
	if i < 0 {
		return IntegrationError{}, fmt.Errorf("error %d is not open: it may have been resolved meanwhile; reload the errors page", errorID)
	}
	e := errs[i]
	if !retryable(e.Code) {
		return e, fmt.Errorf("%s cannot pass by trying again: %s", e.Code, e.Remediation)
	}
	if e.TenantID == "" {
		return e, c.RequestDiscovery(ctx, partnerID)
	}
	_, err = c.SyncTenant(ctx, e.TenantID)
	return e, err
}

// CheckItem is one line of the configuration check.
type CheckItem struct {
	OK           bool
	What, Detail string
}

// Check runs the configuration check of the partners and collects its lines.
func (c *Control) Check(ctx context.Context) []CheckItem {
	var items []CheckItem
	c.CheckPartners(ctx, func(ok bool, what, detail string) { items = append(items, CheckItem{ok, what, detail}) })
	return items
}

// LogQuery filters a tenant's inbound log.
type LogQuery struct {
	TenantID, User, Result string
	Since, Until           time.Time // zero: unbounded
	Limit                  int
}

// MaxLogRows bounds the inbound log rows a query reads.
const MaxLogRows = 500

// FilteredInboundLog is a tenant's inbound log as the query filters it, newest first.
func (c *Control) FilteredInboundLog(ctx context.Context, partnerID string, q LogQuery) ([]LogEntry, error) {
	if _, err := c.OwnTenant(ctx, partnerID, q.TenantID); err != nil {
		return nil, err
	}
	rows, err := c.InboundLog(ctx, q.TenantID, q.User, MaxLogRows)
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, r := range rows {
		if q.Result != "" && r.Result != q.Result || !q.Since.IsZero() && r.At.Before(q.Since) || !q.Until.IsZero() && r.At.After(q.Until) {
			continue
		}
		out = append(out, r)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// LogResults are the results an inbound log row can have, for the filter.
func LogResults() []string {
	out := []string{}
	for _, k := range usersync.Kinds() {
		out = append(out, string(k))
	}
	return out
}
