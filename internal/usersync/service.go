package usersync

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cspsync/cspsync/internal/domain"
)

// The rules that make a user a service user (a PSA flag: cannot log tickets, never billed),
// as ServiceState.Reason names them.
const (
	RuleGroup    = "group"
	RuleLicences = "licences"
)

// ServiceRules are a customer's service-user rules for one round.
type ServiceRules struct {
	// Group is the service group's name ("" : no group rule). A user in no group of that name
	// is a service user.
	Group string
	// GroupFound says the tenant has a group of that name. Without one the group rule cannot
	// tell anyone apart, and treating everyone as outside it would silently drop the
	// customer's billing to zero: each user keeps what the rule last said.
	GroupFound bool
	// BillableSkus are lower-case SKU ids (empty: no licence rule). A user holding none of them
	// is a service user.
	BillableSkus []string
}

// ServiceState is a user's service flag and the rules that set it ("" when he is billable;
// RuleGroup, RuleLicences or both, comma-separated).
type ServiceState struct {
	Service bool
	Reason  string
}

// ServiceFacts is what Microsoft says of one user.
type ServiceFacts struct {
	InGroup   bool     // member of a group of the service group's name
	Skus      []string // SKU ids of his assignedLicenses
	SkusKnown bool     // false when Graph left assignedLicenses out: the licence rule keeps its say
}

// Decide applies both rules: a user is a service user when either says so. A rule that cannot
// decide (group missing, licences unknown) keeps what it said before (prev's reason).
func (r ServiceRules) Decide(prev ServiceState, f ServiceFacts) ServiceState {
	had := strings.Split(prev.Reason, ",")
	var rules []string
	switch {
	case r.Group == "":
	case !r.GroupFound:
		if slices.Contains(had, RuleGroup) {
			rules = append(rules, RuleGroup)
		}
	case !f.InGroup:
		rules = append(rules, RuleGroup)
	}
	switch {
	case len(r.BillableSkus) == 0:
	case !f.SkusKnown:
		if slices.Contains(had, RuleLicences) {
			rules = append(rules, RuleLicences)
		}
	case !slices.ContainsFunc(f.Skus, func(s string) bool { return slices.Contains(r.BillableSkus, strings.ToLower(s)) }):
		rules = append(rules, RuleLicences)
	}
	return ServiceState{Service: len(rules) > 0, Reason: strings.Join(rules, ",")}
}

// explain says in the inbound log why a user's service flag is what it is.
func (r ServiceRules) explain(s ServiceState) string {
	if !s.Service {
		return "billable: not a service user (" + r.describe() + ")"
	}
	var why []string
	for _, rule := range strings.Split(s.Reason, ",") {
		switch rule {
		case RuleGroup:
			why = append(why, fmt.Sprintf("rule group: in no group named %q", r.Group))
		case RuleLicences:
			why = append(why, "rule licences: holds none of the billable licences")
		}
	}
	return "service user by " + strings.Join(why, " and ")
}

func (r ServiceRules) describe() string {
	var parts []string
	if r.Group != "" {
		parts = append(parts, fmt.Sprintf("group %q", r.Group))
	}
	if len(r.BillableSkus) > 0 {
		parts = append(parts, "licence list")
	}
	if len(parts) == 0 {
		return "no service-user rule"
	}
	return "rules: " + strings.Join(parts, ", ")
}

// ApplyService records on a decision the service state the rules give its user, given the
// state stored before (prev). It returns the state to write, and false when the decision
// concerns no PSA row (excluded, ambiguous, invalid) or the state does not change. A change
// makes an unchanged user updated (ServiceOnly: his row needs no write, the flag goes with his
// licence links), and the inbound log names the rule that decided.
func (r ServiceRules) ApplyService(o *Outcome, prev ServiceState, f ServiceFacts) (ServiceState, bool) {
	switch o.Kind {
	case Excluded, Ambiguous, Invalid:
		return prev, false
	}
	next := r.Decide(prev, f)
	if next == prev {
		return prev, false
	}
	if next.Service != prev.Service {
		o.Changes = append(o.Changes, domain.Change{Field: "service_user", Old: strconv.FormatBool(prev.Service), New: strconv.FormatBool(next.Service)})
	}
	if next.Reason != prev.Reason {
		o.Changes = append(o.Changes, domain.Change{Field: "service_reason", Old: prev.Reason, New: next.Reason})
	}
	if o.Kind == Unchanged {
		o.Kind, o.ServiceOnly = Updated, true
	}
	why := r.explain(next)
	if o.Reason != "" {
		why = o.Reason + "; " + why
	}
	o.Reason = why
	return next, true
}

// SkuIDs lists a user's assigned SKU ids, lower-case, sorted, once each, and whether Graph
// sent his assignedLicenses (a removed user holds none).
func (u *GraphUser) SkuIDs() ([]string, bool) {
	if u.Removed != nil {
		return []string{}, true
	}
	if u.missing(propBits["assignedLicenses"]) != 0 {
		return nil, false
	}
	out := make([]string, 0, len(u.AssignedLicenses))
	for _, l := range u.AssignedLicenses {
		if id := strings.ToLower(strings.TrimSpace(l.SkuID)); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, true
}

// WithLicences adds assignedLicenses to a users/delta $select: licence links and the licence
// rule read it in every round, whatever the mappings read (Graph tracks it in delta).
func WithLicences(selectProps []string) []string {
	if slices.Contains(selectProps, "assignedLicenses") {
		return selectProps
	}
	out := append(slices.Clone(selectProps), "assignedLicenses")
	sort.Strings(out)
	return out
}

// MemberChange is one entry of a service group's members@delta: the user is a member of the
// group now, or was removed from it (taken out, or deleted).
type MemberChange struct {
	Group, User string
	Removed     bool
}

// MembershipAfter applies a groups/delta round's changes, in order, to the service groups each
// user was in before (nil for a round read from the start: membership then is what the
// round says), and tells for every user named before or in the round whether he is in any of
// groups, the tenant's groups of the service group's name now. Ids are lower-case.
func MembershipAfter(before map[string][]string, changes []MemberChange, groups []string) map[string]bool {
	in := map[string]map[string]bool{}
	for u, gs := range before {
		in[u] = map[string]bool{}
		for _, g := range gs {
			in[u][g] = true
		}
	}
	for _, c := range changes {
		if in[c.User] == nil {
			in[c.User] = map[string]bool{}
		}
		in[c.User][c.Group] = !c.Removed
	}
	out := make(map[string]bool, len(in))
	for u, gs := range in {
		out[u] = slices.ContainsFunc(groups, func(g string) bool { return gs[g] })
	}
	return out
}

// RedecideGroup decides again the service state of a user whose group membership changed (or
// whose rule did) while users/delta had nothing to say of him: only the group rule is asked,
// the licence rule keeps what it said (his licences are not read again). why says what
// changed, for the inbound log. It returns the new state, the changes and the log's reason,
// and false when nothing changes.
func (r ServiceRules) RedecideGroup(prev ServiceState, inGroup bool, why string) (ServiceState, []domain.Change, string, bool) {
	o := Outcome{Kind: Unchanged, Reason: why}
	next, changed := r.ApplyService(&o, prev, ServiceFacts{InGroup: inGroup})
	return next, o.Changes, o.Reason, changed
}
