package activities

import (
	"context"
	"errors"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/usersync"
)

// serviceGroups brings the customer's service-group membership up to date before the round's
// users pages are decided: it finds the tenant's groups of the service group's name (one
// request), reads their membership through groups/delta (in full the first time, when the
// name or the groups of that name change, or when Graph lost the state; otherwise only the
// changes since the last round) and decides again, with the group rule, the users whose
// membership changed, since users/delta does not report a user whose membership alone
// changed (a full round's pages decide everyone). All of it is stored in one transaction with
// the decisions' log rows in round r.
// A tenant without a group of that name records one tenant-level error (its users keep
// their state); the error clears when a round finds the group.
func (a *Activities) serviceGroups(ctx context.Context, rd *usersRound, r *store.UserRound) error {
	ss, err := a.Store.ServiceSettings(ctx, rd.customerID)
	if err != nil {
		return err
	}
	st, err := a.Store.ServiceGroupState(ctx, rd.customerID)
	if err != nil {
		return err
	}
	rules := usersync.ServiceRules{Group: ss.Group, GroupFound: true, BillableSkus: ss.BillableSkus}
	if ss.Group == "" {
		if st.Name == "" && len(st.Groups) == 0 {
			return a.Store.ResolveErrors(ctx, rd.partnerID, rd.tenantID, domain.OpServiceGroup)
		}
		// The rule was removed: nobody is a service user by group any more.
		if err := a.saveGroupRead(ctx, rd, r, rules, store.GroupRead{Full: true}, nil, "service group rule removed"); err != nil {
			return err
		}
		return a.Store.ResolveErrors(ctx, rd.partnerID, rd.tenantID, domain.OpServiceGroup)
	}
	refs, err := rd.gu.GroupsNamed(ctx, ss.Group)
	if err != nil {
		return a.fail(ctx, rd.partnerID, rd.tenantID, domain.OpUsers, err)
	}
	if len(refs) == 0 {
		if err := a.Store.ServiceGroupMissing(ctx, rd.customerID, ss.Group); err != nil {
			return err
		}
		f := microsoft.FromCode(microsoft.CodeServiceGroupNotFound, 0, "the tenant has no group named \""+ss.Group+"\"", 0, nil)
		return a.Store.RecordError(ctx, rd.partnerID, rd.tenantID, domain.OpServiceGroup, f.Info())
	}
	var ids []string
	for _, g := range refs {
		if id := strings.ToLower(g.ID); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > microsoft.MaxGroupsDeltaFilter {
		activity.GetLogger(ctx).Warn("more groups of the service group's name than groups/delta can follow; the first ones count",
			"tenant", rd.tenantID, "groups", len(ids))
		ids = ids[:microsoft.MaxGroupsDeltaFilter]
	}
	full := st.Name != ss.Group || st.Link == "" || !slices.Equal(st.Groups, ids)
	link := st.Link
	if full {
		link = ""
	}
	d, err := rd.gu.MembersDelta(ctx, ids, link)
	if errors.Is(err, microsoft.ErrDeltaExpired) && !full {
		full = true
		d, err = rd.gu.MembersDelta(ctx, ids, "")
	}
	if err != nil {
		return a.fail(ctx, rd.partnerID, rd.tenantID, domain.OpUsers, err)
	}
	g := store.GroupRead{Name: ss.Group, Groups: ids, Link: d.DeltaLink, Full: full}
	changes := make([]usersync.MemberChange, 0, len(d.Changes))
	for _, c := range d.Changes {
		if slices.Contains(ids, c.Group) {
			changes = append(changes, usersync.MemberChange{Group: c.Group, User: c.User, Removed: c.Removed})
			g.Members = append(g.Members, store.GroupMember{Group: c.Group, User: c.User, Removed: c.Removed})
		}
	}
	why := "service group membership changed"
	if full {
		why = "service group " + ss.Group + " read in full"
	}
	if err := a.saveGroupRead(ctx, rd, r, rules, g, changes, why); err != nil {
		return err
	}
	return a.Store.ResolveErrors(ctx, rd.partnerID, rd.tenantID, domain.OpServiceGroup)
}

// saveGroupRead decides again the users a group read concerns (all of the customer's after a
// read in full, else those whose membership changed) and stores the read with the decisions.
// A full round that has saved no page yet decides no one here: its pages decide every user
// Microsoft has, on the membership stored here and with his licences, which this decision
// cannot see (deciding here too wrote most changed users twice, once per rule).
func (a *Activities) saveGroupRead(ctx context.Context, rd *usersRound, r *store.UserRound, rules usersync.ServiceRules,
	g store.GroupRead, changes []usersync.MemberChange, why string) error {
	if r.Kind == domain.RoundFull && r.Pages == 0 {
		return a.Store.SaveGroupRead(ctx, *r, g)
	}
	var affected []string // nil: every user
	var before map[string][]string
	if !g.Full {
		for _, c := range changes {
			if !slices.Contains(affected, c.User) {
				affected = append(affected, c.User)
			}
		}
		if len(affected) == 0 {
			return a.Store.SaveGroupRead(ctx, *r, g)
		}
		var err error
		if before, err = a.Store.ServiceGroupsOf(ctx, rd.customerID, affected); err != nil {
			return err
		}
	}
	in := usersync.MembershipAfter(before, changes, g.Groups)
	users, err := a.Store.ServiceCandidates(ctx, rd.customerID, affected)
	if err != nil {
		return err
	}
	for _, u := range users {
		next, ch, reason, changed := rules.RedecideGroup(usersync.ServiceState{Service: u.Service, Reason: u.Reason}, in[u.AzureObjectID], why)
		if !changed {
			continue
		}
		g.Flags = append(g.Flags, store.UserFlag{PSAUserID: u.ID, Service: next.Service, Reason: next.Reason})
		g.Log = append(g.Log, store.LogRow{AzureObjectID: u.AzureObjectID, PSAUserID: u.ID, Result: string(usersync.Updated),
			Changes: ch, Reason: reason})
	}
	if err := a.Store.SaveGroupRead(ctx, *r, g); err != nil {
		return err
	}
	r.Updated += len(g.Log)
	return nil
}
