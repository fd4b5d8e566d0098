package activities

import (
	"context"

	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/usersync"
)

// PlanInputs is what a customer's users plan is compiled from, as stored, in usersync's
// terms: the round and the console's preview read it here, so the two cannot drift. The
// conversion lives here, not in the store, which only reads and writes.
type PlanInputs struct {
	Settings store.UserSettings
	// Config holds the settings and the site mappings; its Mappings are left for the caller
	// to resolve from Partner and Customer (a preview puts its candidate into one first).
	Config            usersync.Config
	Partner, Customer []usersync.FieldMapping
}

// ReadPlanInputs reads the partner's user settings and field mappings and the customer's site
// mappings and own field mappings.
func ReadPlanInputs(ctx context.Context, s *store.Store, partnerID string, customerID int64) (PlanInputs, error) {
	var in PlanInputs
	var err error
	if in.Settings, err = s.UserSettings(ctx, partnerID); err != nil {
		return in, err
	}
	sites, err := s.SiteMappings(ctx, customerID)
	if err != nil {
		return in, err
	}
	fields, err := s.FieldMappings(ctx, partnerID)
	if err != nil {
		return in, err
	}
	in.Config.Settings = usersync.Settings{MatchRules: MatchRules(in.Settings), IgnoreAccountEnabled: in.Settings.IgnoreAccountEnabled}
	for _, m := range sites {
		in.Config.Sites = append(in.Config.Sites, usersync.SiteMapping{Filter: m.Filter, SiteID: m.SiteID})
	}
	in.Partner, in.Customer = SplitFieldMappings(fields, customerID)
	return in, nil
}

// MatchRules is the settings' matching rules as usersync names them.
func MatchRules(u store.UserSettings) []usersync.Field {
	out := make([]usersync.Field, len(u.MatchRules))
	for i, r := range u.MatchRules {
		out[i] = usersync.Field(r)
	}
	return out
}

// SplitFieldMappings sorts stored mappings into the partner's and one customer's (customerID
// 0: none); other customers' are left out.
func SplitFieldMappings(all []store.FieldMapping, customerID int64) (partner, customer []usersync.FieldMapping) {
	for _, f := range all {
		m := usersync.FieldMapping{Field: usersync.Field(f.Field), Expr: f.Expression}
		switch f.CustomerID {
		case 0:
			partner = append(partner, m)
		case customerID:
			customer = append(customer, m)
		}
	}
	return partner, customer
}
