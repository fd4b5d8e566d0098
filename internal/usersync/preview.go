package usersync

import (
	"sort"

	"github.com/cspsync/cspsync/internal/domain"
)

// PreviewSelect is the $select a preview of these filters reads: id,
// displayName (to name samples), accountEnabled (account state) and the
// properties the filters read.
func PreviewSelect(filters []*Filter) []string {
	exprs := []*Expr{}
	for _, f := range filters {
		if f.expr != nil {
			exprs = append(exprs, f.expr)
		}
	}
	set := map[string]bool{"displayName": true}
	for _, p := range SelectFor(Delta, exprs...) {
		set[p] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// FirstMatch is the index of the first filter that matches u, -1 for none:
// the rule a round's Plan places users by (first match wins).
func FirstMatch(filters []*Filter, u *GraphUser) int {
	v := vars{u}
	for i, f := range filters {
		if ok, _ := f.match(v); ok {
			return i
		}
	}
	return -1
}

// Value is a PSA field's value as text, as the console shows it (last_sign_in
// in RFC 3339, "" when unknown).
func Value(v *domain.UserValues, f Field) string { return get(v, f) }

// Fields are the PSA fields the plan writes on delta pages, in field order;
// SignInFields those only a sign-in pass refreshes.
func (p *Plan) Fields() (delta, signIn []Field) {
	for _, m := range p.mappings {
		delta = append(delta, m.field)
	}
	for _, m := range p.signIn {
		signIn = append(signIn, m.field)
	}
	return delta, signIn
}
