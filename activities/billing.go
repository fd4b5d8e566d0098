package activities

import (
	"context"
	"strings"

	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/usersync"
)

// serviceRules reads a customer's service-user rules for a round.
func (a *Activities) serviceRules(ctx context.Context, customerID int64) (usersync.ServiceRules, error) {
	ss, err := a.Store.ServiceSettings(ctx, customerID)
	if err != nil {
		return usersync.ServiceRules{}, err
	}
	return usersync.ServiceRules{Group: ss.Group, GroupFound: ss.GroupFound, BillableSkus: ss.BillableSkus}, nil
}

// licences decides, for a decided page, each user's licence links (the SKUs Graph says he
// holds) and service flag; a flag that changes turns an unchanged user's outcome into an
// update whose inbound log row names the rule. outs are users' decisions in any order.
func (a *Activities) licences(ctx context.Context, customerID int64, rules usersync.ServiceRules,
	users []usersync.GraphUser, outs []usersync.Outcome) ([]store.UserLicences, error) {
	byID := make(map[string]*usersync.GraphUser, len(users))
	ids := make([]string, 0, len(users))
	for i := range users {
		if users[i].Unreadable != "" { // nothing of him is known: his links stay as they are
			continue
		}
		id := strings.ToLower(users[i].ID)
		if byID[id] == nil {
			ids = append(ids, id)
		}
		byID[id] = &users[i] // the last report is his current state
	}
	states, err := a.Store.UserServiceStates(ctx, customerID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]store.UserLicences, 0, len(outs))
	for i := range outs {
		o := &outs[i]
		id := strings.ToLower(o.User.AzureObjectID)
		u := byID[id]
		if u == nil {
			continue
		}
		skus, known := u.SkuIDs()
		ul := store.UserLicences{AzureObjectID: id}
		if known {
			ul.Skus = skus
		}
		st := states[id]
		prev := usersync.ServiceState{Service: st.Service, Reason: st.Reason}
		if next, changed := rules.ApplyService(o, prev, usersync.ServiceFacts{InGroup: st.InGroup, Skus: skus, SkusKnown: known}); changed {
			ul.Service = &store.ServiceFlag{Service: next.Service, Reason: next.Reason}
		}
		out = append(out, ul)
	}
	return out, nil
}
