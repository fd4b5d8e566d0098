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
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/parallel"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/usersync"
)

// UserRoundResult is what one users round did: counts only, the rows are
// in PostgreSQL.
type UserRoundResult struct {
	Kind     domain.RoundKind
	Resumed  bool // continued a round a crashed attempt left
	Restarts int  // times Graph's delta state was gone and the round began again in full
	SignIns  bool // last sign-in dates were read too
	Duration time.Duration
	domain.RoundCounts
}

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
	plan, maxShare, err := a.userPlan(ctx, partnerID, cu.ID)
	if err != nil {
		return res, a.fail(ctx, partnerID, tenantID, domain.OpUsers, err)
	}
	confirmed, err := a.Store.InactivationConfirmed(ctx, cu.ID)
	if err != nil {
		return res, err
	}
	gu, err := a.Auth.GraphUsers(creds, tenantID)
	if err != nil {
		return res, err
	}
	rd := &usersRound{a: a, partnerID: partnerID, tenantID: tenantID, customerID: cu.ID, plan: plan, maxShare: maxShare,
		confirmed: confirmed, selectProps: usersync.WithLicences(plan.Select(usersync.Delta)), gu: gu, pageSize: a.deltaPageSize()}
	r, err := rd.open(ctx, full)
	if err != nil {
		return res, err
	}
	res.Resumed = r.Pages > 0
	// Membership first, so that the pages are decided on the groups as they are now. The
	// first users page needs nothing of it: it is fetched meanwhile, and Graph's answer
	// time for the groups (their lookup, their delta pages) is no longer added to the
	// round's.
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	first := make(chan fetched, 1)
	go func(r store.UserRound) {
		body, err := rd.fetch(fetchCtx, r)
		first <- fetched{body, err}
	}(r)
	if err := a.serviceGroups(ctx, rd, &r); err != nil {
		return res, err
	}
	if rd.service, err = a.serviceRules(ctx, cu.ID); err != nil {
		return res, err
	}
	if r, err = rd.run(ctx, r, &res.Restarts, first); err != nil {
		return res, err
	}
	res.Kind, res.RoundCounts = r.Kind, r.RoundCounts
	if res.SignIns, err = a.signIns(ctx, partnerID, tenantID, gu, r, plan); err != nil {
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

// deltaPageSize is the users/delta page size to ask for.
func (a *Activities) deltaPageSize() int {
	if a.UserPageSize <= 0 || a.UserPageSize > microsoft.MaxDeltaPageSize {
		return microsoft.MaxDeltaPageSize
	}
	return a.UserPageSize
}

// usersRound is one attempt at a tenant's users round.
type usersRound struct {
	a                   *Activities
	partnerID, tenantID string
	customerID          int64
	plan                *usersync.Plan
	service             usersync.ServiceRules
	maxShare            int        // the safety brake's share, percent
	confirmed           *time.Time // an operator's confirmation of inactivations beyond it, read as the attempt began
	selectProps         []string
	gu                  *microsoft.GraphUsers
	pageSize            int
	activeBefore        *int        // the customer's active imported users before the round, once the brake counted them
	spent               store.Spent // since the last page was saved
	mark                time.Time
}

// open returns the customer's round in progress (one a crashed attempt
// left), or starts the round usersync chooses.
func (rd *usersRound) open(ctx context.Context, full bool) (store.UserRound, error) {
	running, delta, err := rd.a.Store.RunningUserRound(ctx, rd.customerID)
	if err != nil {
		return store.UserRound{}, err
	}
	if running != nil {
		return *running, nil
	}
	return rd.a.Store.StartUserRound(ctx, rd.customerID, usersync.ChooseRound(full, delta.Link, delta.Select, rd.selectProps))
}

// lap adds the time since the last mark to d.
func (rd *usersRound) lap(d *time.Duration) {
	now := time.Now()
	*d += now.Sub(rd.mark)
	rd.mark = now
}

// fetched is a users page fetched ahead.
type fetched struct {
	body []byte
	err  error
}

// run reads, decides and saves the round's pages until it finishes, starting
// with first, the page r's cursor names, fetched ahead. Graph losing the
// tenant's delta state restarts the round in full, at most twice (restarts
// counts them).
func (rd *usersRound) run(ctx context.Context, r store.UserRound, restarts *int, first <-chan fetched) (store.UserRound, error) {
	rd.mark = time.Now()
	for r.FinishedAt == nil {
		var body []byte
		var err error
		if first != nil {
			f := <-first
			body, err, first = f.body, f.err, nil
		} else {
			body, err = rd.fetch(ctx, r)
		}
		if errors.Is(err, microsoft.ErrDeltaExpired) && *restarts < 2 {
			activity.GetLogger(ctx).Info("delta state gone, reading the tenant's users in full", "tenant", rd.tenantID)
			*restarts++
			if r, err = rd.a.Store.RestartFull(ctx, r); err != nil {
				return r, err
			}
			continue
		}
		if err != nil {
			return r, rd.a.fail(ctx, rd.partnerID, rd.tenantID, domain.OpUsers, err)
		}
		rd.lap(&rd.spent.Microsoft)
		p, err := rd.decide(ctx, r, body)
		if err != nil {
			return r, err
		}
		p.Spent = rd.spent
		if r, err = rd.save(ctx, r, p); err != nil {
			return r, err
		}
		if r.Pages%4 == 0 {
			// Statistics only speed the next pages up: a failure leaves
			// them to autovacuum and the round goes on.
			if err := rd.a.Store.FreshenStatistics(ctx); err != nil {
				activity.GetLogger(ctx).Warn("analysing the users tables failed", "error", err)
			}
		}
		rd.spent = store.Spent{}
		rd.lap(&rd.spent.Write)
		activity.RecordHeartbeat(ctx, r.RoundCounts)
	}
	return r, nil
}

// save writes a page. When PostgreSQL refuses its data, the users it
// refuses one by one are logged invalid instead and the page is written
// without them; a page it still refuses (the round's own rows, the schema)
// is a recorded error with its fix at once, since retrying cannot help.
func (rd *usersRound) save(ctx context.Context, r store.UserRound, p store.UserPage) (store.UserRound, error) {
	saved, err := rd.a.Store.SaveUserPage(ctx, r, p)
	if err == nil {
		return saved, nil
	}
	if store.DataError(err) {
		n, perr := rd.a.setAsideRefused(ctx, r, p.Users, &p.Counts)
		if perr != nil {
			return r, fmt.Errorf("finding the users PostgreSQL refuses in page %d of the users round of %s: %w", r.Pages+1, rd.tenantID, perr)
		}
		if n > 0 {
			activity.GetLogger(ctx).Warn("users the database refuses logged invalid", "tenant", rd.tenantID, "users", n)
			if saved, err = rd.a.Store.SaveUserPage(ctx, r, p); err == nil {
				return saved, nil
			}
		}
		if store.DataError(err) {
			return r, rd.a.fail(ctx, rd.partnerID, rd.tenantID, domain.OpUsers,
				microsoft.FromCode(microsoft.CodePageNotStored, 0, err.Error(), 0, err))
		}
	}
	return r, fmt.Errorf("saving page %d of the users round of %s: %w", r.Pages+1, rd.tenantID, err)
}

// setAsideRefused finds the users of a page PostgreSQL refuses one by one
// and makes each an invalid decision with the refusal as its reason:
// nothing is written for him and counts moves him to invalid. It returns
// how many it set aside.
func (a *Activities) setAsideRefused(ctx context.Context, r store.UserRound, users []store.PageUser, counts *domain.RoundCounts) (int, error) {
	refused, err := a.Store.RefusedUsers(ctx, r, users)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, why := range refused {
		if why == nil {
			continue
		}
		n++
		u := &users[i]
		var was usersync.Kind
		log := store.LogRow{}
		if u.Log != nil {
			was, log = usersync.Kind(u.Log.Result), *u.Log
		} else if u.Row != nil {
			was, log.AzureObjectID, log.PSAUserID = usersync.Updated, u.Row.AzureObjectID, u.Row.ID
		}
		u.Log = &store.LogRow{AzureObjectID: log.AzureObjectID, PSAUserID: log.PSAUserID, Mapping: log.Mapping,
			MatchRule: log.MatchRule, Result: string(usersync.Invalid), Reason: usersync.Refused(counts, was, why.Error())}
		if u.Row != nil && u.Row.ID != 0 {
			u.Log.PSAUserID = u.Row.ID
		}
		u.Row = nil
	}
	return n, nil
}

// saveSignIns writes a sign-in page like save writes a round's: the users
// PostgreSQL refuses one by one are logged invalid and the others written;
// a page it still refuses is PageNotStored at once.
func (a *Activities) saveSignIns(ctx context.Context, tenantID string, r store.UserRound, users []store.PageUser, last bool) error {
	err := a.Store.SaveSignIns(ctx, r, users, last)
	if err == nil || !store.DataError(err) {
		return err
	}
	var counts domain.RoundCounts // a sign-in pass counts nothing of the round's
	n, perr := a.setAsideRefused(ctx, r, users, &counts)
	if perr != nil {
		return fmt.Errorf("finding the users PostgreSQL refuses in a sign-in page of %s: %w", tenantID, perr)
	}
	if n > 0 {
		activity.GetLogger(ctx).Warn("users the database refuses logged invalid in the sign-in pass", "tenant", tenantID, "users", n)
		if err = a.Store.SaveSignIns(ctx, r, users, last); err == nil {
			return nil
		}
	}
	if store.DataError(err) {
		return microsoft.FromCode(microsoft.CodePageNotStored, 0, err.Error(), 0, err)
	}
	return err
}

// fetch reads the round's next page.
func (rd *usersRound) fetch(ctx context.Context, r store.UserRound) ([]byte, error) {
	switch {
	case r.NextLink != "":
		return rd.gu.DeltaPage(ctx, r.NextLink, rd.pageSize)
	case r.Kind == domain.RoundDelta:
		return rd.gu.DeltaPage(ctx, r.DeltaLink, rd.pageSize)
	}
	return rd.gu.DeltaFirstPage(ctx, rd.selectProps, rd.pageSize)
}

// decide decodes a page, completes its partial users and decides every one;
// the last page of a full round also decides the users it never saw.
func (rd *usersRound) decide(ctx context.Context, r store.UserRound, body []byte) (store.UserPage, error) {
	page, err := usersync.DecodeDeltaPage(body)
	if err != nil {
		return store.UserPage{}, fmt.Errorf("users round of %s: %w", rd.tenantID, err)
	}
	usersync.RefuseOddIDs(page.Users)
	rd.lap(&rd.spent.Decide)
	if r.Kind == domain.RoundDelta {
		if err := completeUsers(ctx, rd.gu, &page, rd.selectProps); err != nil {
			return store.UserPage{}, rd.a.fail(ctx, rd.partnerID, rd.tenantID, domain.OpUsers, err)
		}
	}
	rd.lap(&rd.spent.Microsoft)
	outs, err := rd.a.decide(ctx, rd.customerID, rd.plan, usersync.Delta, page.Users)
	if err != nil {
		return store.UserPage{}, err
	}
	links, err := rd.a.licences(ctx, rd.customerID, rd.service, page.Users, outs)
	if err != nil {
		return store.UserPage{}, err
	}
	full := r.Kind == domain.RoundFull
	p := store.UserPage{From: r.NextLink, Next: page.NextLink, Counts: usersync.Count(outs),
		Users: pageUsers(outs, func(o *usersync.Outcome) bool { return o.Logged(!full) }), Licences: links}
	if full {
		for _, u := range page.Users {
			// An unreadable user with a readable id exists in Microsoft: not absent.
			if u.Removed == nil && u.ID != "" {
				p.Seen = append(p.Seen, u.ID)
			}
		}
	}
	if page.DeltaLink != "" {
		p.End = &store.RoundEnd{DeltaLink: page.DeltaLink, Select: usersync.SelectKey(rd.selectProps), Confirmation: rd.confirmed}
		if full {
			if err := rd.absent(ctx, r, &p); err != nil {
				return p, err
			}
		}
	}
	if err := rd.brake(ctx, r, &p); err != nil {
		return p, err
	}
	rd.lap(&rd.spent.Decide)
	return p, nil
}

// brake stops the round before a page that would take the inactivations
// of the round so far beyond the partner's share of the customer's active
// users (usersync.Brake decides). The page is not written and the round
// stays where it is: the error is recorded with its fix at once, and the
// round resumes at this page, deciding again, once an operator corrected
// the mapping or confirmed.
func (rd *usersRound) brake(ctx context.Context, r store.UserRound, p *store.UserPage) error {
	if p.Counts.Inactivated == 0 {
		return nil
	}
	if rd.activeBefore == nil {
		// Counted once an attempt, at its first page that inactivates: counting on every
		// such page scanned the customer's users each time (120 ms a page at 100,000 users,
		// most of a 1 % delta round). The round's earlier pages made r.Inactivated of them
		// inactive already: they count among the users active before it.
		active, err := rd.a.Store.ActiveImportedUsers(ctx, rd.customerID)
		if err != nil {
			return err
		}
		active += r.Inactivated
		rd.activeBefore = &active
	}
	err := usersync.Brake(*rd.activeBefore, r.Inactivated+p.Counts.Inactivated, rd.maxShare, rd.confirmed != nil)
	if err == nil {
		return nil
	}
	return rd.a.fail(ctx, rd.partnerID, rd.tenantID, domain.OpUsers,
		microsoft.FromCode(microsoft.CodeInactivationBrake, 0, err.Error(), 0, err))
}

// absent adds to a full round's last page the decisions for the imported
// users the round did not see: Microsoft no longer has them. Their licence
// links end, and so do those of inactive users gone too.
func (rd *usersRound) absent(ctx context.Context, r store.UserRound, p *store.UserPage) error {
	unseen, err := rd.a.Store.UnseenUsers(ctx, r, p.Seen)
	if err != nil {
		return err
	}
	outs := make([]usersync.Outcome, 0, len(unseen))
	for _, u := range unseen {
		// Microsoft no longer has him, so he holds no licence: his links end (kept as
		// history) instead of counting seats for a user who is gone.
		p.Licences = append(p.Licences, store.UserLicences{AzureObjectID: u.AzureObjectID, Skus: []string{}})
		if u.Active {
			outs = append(outs, rd.plan.Absent(u))
		}
	}
	p.Users = append(p.Users, pageUsers(outs, func(o *usersync.Outcome) bool { return o.Logged(false) })...)
	c := usersync.Count(outs)
	c.Users = 0 // not among the users the round read
	p.Counts.Add(c)
	return nil
}

// pageUsers turns decisions into what the store writes: the row of each
// decision that writes one, and a log row for those logged says.
func pageUsers(outs []usersync.Outcome, logged func(*usersync.Outcome) bool) []store.PageUser {
	out := make([]store.PageUser, len(outs))
	for i := range outs {
		o := &outs[i]
		if o.Writes() {
			row := o.User
			out[i].Row = &row
		}
		if !logged(o) {
			continue
		}
		mapping := ""
		if o.Mapping > 0 {
			mapping = fmt.Sprintf("%d: %s", o.Mapping, o.MappingFilter)
		}
		out[i].Log = &store.LogRow{AzureObjectID: o.User.AzureObjectID, PSAUserID: o.User.ID, Mapping: mapping,
			MatchRule: o.MatchedBy, Result: string(o.Kind), Changes: o.Changes, Reason: o.LogReason()}
	}
	return out
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
		usersync.RefuseOddIDs(p.Users)
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
// partner's settings for one round, and returns the partner's safety brake
// share with it.
func (a *Activities) userPlan(ctx context.Context, partnerID string, customerID int64) (*usersync.Plan, int, error) {
	in, err := ReadPlanInputs(ctx, a.Store, partnerID, customerID)
	if err != nil {
		return nil, 0, err
	}
	cfg := in.Config
	cfg.Mappings = usersync.Resolve(in.Partner, in.Customer)
	plan, err := usersync.NewPlan(cfg)
	if err != nil {
		return nil, 0, microsoft.FromCode("MappingInvalid", 0, err.Error(), 0, err)
	}
	return plan, in.Settings.MaxInactivateShare, nil
}

// decide decides a page of Graph users against the PSA users they concern.
func (a *Activities) decide(ctx context.Context, customerID int64, plan *usersync.Plan, src usersync.Source, users []usersync.GraphUser) ([]usersync.Outcome, error) {
	batch := plan.Prepare(src, users)
	l := batch.Lookups()
	found, err := a.Store.FindPSAUsers(ctx, customerID, store.UserKeys{AzureIDs: l.AzureIDs,
		Emails: l.ByField[usersync.FieldEmail], Names: l.ByField[usersync.FieldName], NetworkLogins: l.ByField[usersync.FieldNetworkLogin]})
	if err != nil {
		return nil, err
	}
	return batch.Decide(found), nil
}

// signIns reads the users' last sign-in dates when a mapping wants them and
// usersync says a pass is due. A tenant without Entra ID P1/P2 refuses them:
// that is one tenant-level error with the catalogue's fix, the pass counts as
// done for the day, and the round goes on without them; the error clears
// with the first pass Graph answers.
func (a *Activities) signIns(ctx context.Context, partnerID, tenantID string, gu *microsoft.GraphUsers, r store.UserRound, plan *usersync.Plan) (bool, error) {
	if plan.Select(usersync.SignIns) == nil {
		return false, nil
	}
	if due, err := a.signInsDue(ctx, partnerID, tenantID, r.CustomerID); err != nil || !due {
		return false, err
	}
	err := gu.SignInActivity(ctx, microsoft.MaxSignInActivityPageSize, func(body []byte, last bool) error {
		page, err := usersync.DecodeListPage(body)
		if err != nil {
			return fmt.Errorf("sign-in activity page: %w", err)
		}
		usersync.RefuseOddIDs(page.Users)
		outs, err := a.decide(ctx, r.CustomerID, plan, usersync.SignIns, page.Users)
		if err != nil {
			return err
		}
		activity.RecordHeartbeat(ctx, r.RoundCounts)
		return a.saveSignIns(ctx, tenantID, r, pageUsers(outs, (*usersync.Outcome).Writes), last)
	})
	var f *microsoft.Failure
	if errors.As(err, &f) && f.Reaction == domain.Degrade {
		if err := a.Store.RecordError(ctx, partnerID, tenantID, domain.OpSignIns, f.Info()); err != nil {
			return false, err
		}
		return false, a.Store.SaveSignIns(ctx, r, nil, true)
	}
	if err != nil {
		return false, err
	}
	return true, a.Store.ResolveErrors(ctx, partnerID, tenantID, domain.OpSignIns)
}

// signInsDue gathers what usersync.SignInsDue decides on: the last pass, a
// standing refusal and the tenant's premium licences.
func (a *Activities) signInsDue(ctx context.Context, partnerID, tenantID string, customerID int64) (bool, error) {
	last, err := a.Store.SignInsAt(ctx, customerID)
	if err != nil {
		return false, err
	}
	open, err := a.Store.ListErrors(ctx, partnerID, false)
	if err != nil {
		return false, err
	}
	var refused *time.Time
	for _, e := range open {
		if strings.EqualFold(e.TenantID, tenantID) && e.Operation == domain.OpSignIns {
			refused = &e.LastSeenAt
		}
	}
	premium, err := a.Store.NewestHeldLicence(ctx, customerID, licensing.EntraPremiumSkus())
	if err != nil {
		return false, err
	}
	return usersync.SignInsDue(time.Now(), last, refused, premium), nil
}
