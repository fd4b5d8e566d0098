package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/parallel"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/usersync"
)

// UserRoundResult is what one users round did: counts only, the rows are
// in PostgreSQL.
type UserRoundResult struct {
	Kind     string // full or delta
	Resumed  bool   // continued a round a crashed attempt left
	Restarts int    // times Graph's delta state was gone and the round began again in full
	SignIns  bool   // last sign-in dates were read too
	Duration time.Duration
	store.RoundCounts
}

// signInsEvery is how often the last sign-in dates are read: Graph lists
// them only page by page over every user, so not every round.
const signInsEvery = 24 * time.Hour

// SyncUsers runs one users round of a tenant: users/delta page by page (in
// full the first time, after a reset or when the delta state is gone), each
// page decided by the customer's mappings and written with the round's
// cursor in one transaction, so a retry after a crash resumes at the next
// uncommitted page.
func (a *Activities) SyncUsers(ctx context.Context, partnerID, tenantID string, full bool) (UserRoundResult, error) {
	start := time.Now()
	res := UserRoundResult{}
	creds, err := a.credentials(ctx, partnerID, tenantID, domain.OpUsers)
	if err != nil {
		return res, err
	}
	cu, err := a.Store.GetCustomerByTenant(ctx, tenantID)
	if err != nil {
		return res, err
	}
	plan, err := a.userPlan(ctx, partnerID, cu.ID)
	if err != nil {
		return res, a.fail(ctx, partnerID, tenantID, domain.OpUsers, err)
	}
	selectProps := plan.Select(usersync.Delta)
	r, err := a.Store.OpenUserRound(ctx, cu.ID, full, selectProps)
	if err != nil {
		return res, err
	}
	res.Resumed = r.Pages > 0
	gu, err := a.Auth.GraphUsers(creds, tenantID)
	if err != nil {
		return res, err
	}
	pageSize := a.UserPageSize
	if pageSize <= 0 || pageSize > microsoft.MaxDeltaPageSize {
		pageSize = microsoft.MaxDeltaPageSize
	}
	var spent store.Spent // since the last page was saved
	mark := time.Now()
	lap := func(d *time.Duration) {
		now := time.Now()
		*d += now.Sub(mark)
		mark = now
	}
	for r.FinishedAt == nil {
		var body []byte
		switch {
		case r.NextLink != "":
			body, err = gu.DeltaPage(ctx, r.NextLink, pageSize)
		case r.Kind == store.RoundDelta:
			body, err = gu.DeltaPage(ctx, r.DeltaLink, pageSize)
		default:
			body, err = gu.DeltaFirstPage(ctx, selectProps, pageSize)
		}
		if errors.Is(err, microsoft.ErrDeltaExpired) && res.Restarts < 2 {
			// Graph lost the tenant's delta state: read everyone again.
			activity.GetLogger(ctx).Info("delta state gone, reading the tenant's users in full", "tenant", tenantID)
			res.Restarts++
			if r, err = a.Store.RestartFull(ctx, r); err != nil {
				return res, err
			}
			continue
		}
		if err != nil {
			return res, a.fail(ctx, partnerID, tenantID, domain.OpUsers, err)
		}
		lap(&spent.Microsoft)
		page, err := usersync.DecodeDeltaPage(body)
		if err != nil {
			return res, fmt.Errorf("users round of %s: %w", tenantID, err)
		}
		lap(&spent.Decide)
		if r.Kind == store.RoundDelta {
			if err := completeUsers(ctx, gu, &page, selectProps); err != nil {
				return res, a.fail(ctx, partnerID, tenantID, domain.OpUsers, err)
			}
		}
		lap(&spent.Microsoft)
		outs, err := a.decide(ctx, cu.ID, plan, usersync.Delta, page.Users)
		if err != nil {
			return res, err
		}
		lap(&spent.Decide)
		p := store.UserPage{From: r.NextLink, Next: page.NextLink, DeltaLink: page.DeltaLink, Outcomes: outs, Spent: spent}
		if r.Kind == store.RoundFull {
			for _, u := range page.Users {
				if u.Removed == nil {
					p.Seen = append(p.Seen, u.ID)
				}
			}
		}
		if r, err = a.Store.SaveUserPage(ctx, r, p, selectProps); err != nil {
			return res, fmt.Errorf("saving page %d of the users round of %s: %w", r.Pages+1, tenantID, err)
		}
		spent = store.Spent{}
		lap(&spent.Write)
		activity.RecordHeartbeat(ctx, r.RoundCounts)
	}
	res.Kind, res.RoundCounts = r.Kind, r.RoundCounts
	if res.SignIns, err = a.signIns(ctx, gu, r, plan); err != nil {
		return res, a.fail(ctx, partnerID, tenantID, domain.OpUsers, err)
	}
	if _, err := a.Store.PruneInboundLog(ctx, cu.ID); err != nil {
		return res, err
	}
	if err := a.Store.ResolveErrors(ctx, partnerID, tenantID, domain.OpUsers); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// completeUsers reads again, by id and in full, the users a delta-link page
// sent with only their changed properties (Graph promises no more), so that
// filters and mappings decide on whole users as in full rounds. It runs
// before the page's commit: a crash just repeats it.
func completeUsers(ctx context.Context, gu *microsoft.GraphUsers, page *usersync.Page, selectProps []string) error {
	ids := page.Partial(selectProps)
	chunks := slices.Collect(slices.Chunk(ids, microsoft.MaxUsersByID))
	read := make([][]usersync.GraphUser, len(chunks))
	order := make([]int, len(chunks))
	for i := range order {
		order[i] = i
	}
	err := parallel.Each(ctx, order, rereadsAtOnce, func(ctx context.Context, i int) error {
		body, err := gu.UsersByID(ctx, chunks[i], selectProps)
		if err != nil {
			return err
		}
		p, err := usersync.DecodeListPage(body)
		if err != nil {
			return fmt.Errorf("users read again by id: %w", err)
		}
		read[i] = p.Users
		return nil
	})
	if err != nil {
		return err
	}
	page.Complete(ids, slices.Concat(read...))
	return nil
}

// rereadsAtOnce bounds a page's concurrent re-reads: a 200-user page needs
// at most 14, and Graph's per-tenant limits leave room for a few at once.
const rereadsAtOnce = 4

// userPlan compiles the customer's site and field mappings and the
// partner's settings for one round.
func (a *Activities) userPlan(ctx context.Context, partnerID string, customerID int64) (*usersync.Plan, error) {
	settings, err := a.Store.UserSettings(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	sites, err := a.Store.SiteMappings(ctx, customerID)
	if err != nil {
		return nil, err
	}
	fields, err := a.Store.FieldMappings(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	cfg := usersync.Config{Settings: usersync.Settings{IgnoreAccountEnabled: settings.IgnoreAccountEnabled}}
	for _, r := range settings.MatchRules {
		cfg.MatchRules = append(cfg.MatchRules, usersync.Field(r))
	}
	for _, s := range sites {
		cfg.Sites = append(cfg.Sites, usersync.SiteMapping{Filter: s.Filter, SiteID: s.SiteID})
	}
	var partner, customer []usersync.FieldMapping
	for _, f := range fields {
		m := usersync.FieldMapping{Field: usersync.Field(f.Field), Expr: f.Expression}
		switch f.CustomerID {
		case 0:
			partner = append(partner, m)
		case customerID:
			customer = append(customer, m)
		}
	}
	cfg.Mappings = usersync.Resolve(partner, customer)
	plan, err := usersync.NewPlan(cfg)
	if err != nil {
		return nil, microsoft.FromCode("MappingInvalid", 0, err.Error(), 0, err)
	}
	return plan, nil
}

// decide decides a page of Graph users against the PSA users they concern.
func (a *Activities) decide(ctx context.Context, customerID int64, plan *usersync.Plan, src usersync.Source, users []usersync.GraphUser) ([]usersync.Outcome, error) {
	batch := plan.Prepare(src, users)
	found, err := a.Store.FindPSAUsers(ctx, customerID, batch.Lookups())
	if err != nil {
		return nil, err
	}
	return batch.Decide(found), nil
}

// signIns reads the users' last sign-in dates when a mapping wants them,
// once a day (Graph serves them only on premium tenants; elsewhere the
// round goes on without them).
func (a *Activities) signIns(ctx context.Context, gu *microsoft.GraphUsers, r store.UserRound, plan *usersync.Plan) (bool, error) {
	if plan.Select(usersync.SignIns) == nil {
		return false, nil
	}
	last, err := a.Store.SignInsAt(ctx, r.CustomerID)
	if err != nil || last != nil && time.Since(*last) < signInsEvery {
		return false, err
	}
	err = gu.SignInActivity(ctx, microsoft.MaxSignInActivityPageSize, func(body []byte, last bool) error {
		var page struct {
			Value []usersync.GraphUser `json:"value"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("sign-in activity page: %w", err)
		}
		outs, err := a.decide(ctx, r.CustomerID, plan, usersync.SignIns, page.Value)
		if err != nil {
			return err
		}
		activity.RecordHeartbeat(ctx, r.RoundCounts)
		return a.Store.SaveSignIns(ctx, r, outs, last)
	})
	var f *microsoft.Failure
	if errors.As(err, &f) && f.Reaction == domain.Degrade {
		return false, nil // no Entra ID P1/P2: no sign-in dates, nothing to fix
	}
	return err == nil, err
}
