package usersync

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/text"
)

// SiteMapping places the users its filter matches in a site. A customer's mappings are
// ordered: the first match wins.
type SiteMapping struct {
	Filter string `json:"filter"`
	SiteID int64  `json:"site_id"`
}

// ValidateSiteMappings checks a customer's ordered list as it is saved: every filter compiles
// and every mapping names a site. (Whether the site exists is the store's to check.)
func ValidateSiteMappings(ms []SiteMapping) error {
	_, err := compileSites(ms)
	return err
}

type site struct {
	filter *Filter
	siteID int64
}

func compileSites(ms []SiteMapping) ([]site, error) {
	out := make([]site, len(ms))
	for i, m := range ms {
		if m.SiteID == 0 {
			return nil, fmt.Errorf("site mapping %d has no site: choose the site its users go to", i+1)
		}
		f, err := CompileFilter(m.Filter)
		if err != nil {
			return nil, fmt.Errorf("site mapping %d filter: %w", i+1, err)
		}
		out[i] = site{filter: f, siteID: m.SiteID}
	}
	return out, nil
}

// Settings are the partner's users-sync settings.
type Settings struct {
	// MatchRules is the ordered list of PSA fields (name, email, network_login) that link a
	// Graph user to a PSA user who has no Azure object id yet.
	MatchRules []Field `json:"match_rules"`
	// IgnoreAccountEnabled keeps users active whatever their accountEnabled.
	IgnoreAccountEnabled bool `json:"ignore_account_enabled"`
}

// ValidateMatchRules checks matching rules against the resolved mappings: each rule is name,
// email or network_login, appears once, and has a mapping to its PSA field.
func ValidateMatchRules(rules []Field, resolved []FieldMapping) error {
	for i, r := range rules {
		if r != FieldName && r != FieldEmail && r != FieldNetworkLogin {
			return fmt.Errorf("matching rule %q: rules are drawn from name, email and network_login", r)
		}
		if slices.Contains(rules[:i], r) {
			return fmt.Errorf("matching rule %s appears twice: keep one", r)
		}
		if !slices.ContainsFunc(resolved, func(m FieldMapping) bool { return m.Field == r && strings.TrimSpace(m.Expr) != "" }) {
			return fmt.Errorf("matching rule %s needs a field mapping to %s: map %s (e.g. %s) or remove %s from the matching rules",
				r, r, r, defaultExpr(r), r)
		}
	}
	return nil
}

func defaultExpr(f Field) string {
	for _, m := range DefaultMappings() {
		if m.Field == f {
			return m.Expr
		}
	}
	return ""
}

// Config is what a round's Plan is built from.
type Config struct {
	Sites    []SiteMapping  // the customer's, in order
	Mappings []FieldMapping // resolved (Resolve)
	Settings
}

// Plan is a round's compiled decisions for one customer: build it once per round, then
// Prepare and Decide each page. Safe for concurrent use.
type Plan struct {
	sites                []site
	mappings             []mapping // read from delta pages
	signIn               []mapping // read a list-only property: refreshed by sign-in pages
	rules                []Field
	ignoreAccountEnabled bool
}

// NewPlan compiles a round's site mappings, field mappings and settings.
func NewPlan(c Config) (*Plan, error) {
	sites, err := compileSites(c.Sites)
	if err != nil {
		return nil, err
	}
	if err := ValidateMatchRules(c.MatchRules, c.Mappings); err != nil {
		return nil, err
	}
	p := &Plan{sites: sites, rules: c.MatchRules, ignoreAccountEnabled: c.IgnoreAccountEnabled}
	for _, fm := range c.Mappings {
		if strings.TrimSpace(fm.Expr) == "" {
			continue
		}
		m, err := compileMapping(fm)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(m.expr.props, func(p string) bool { return listOnly[p] }) {
			if slices.Contains(c.MatchRules, m.field) {
				return nil, fmt.Errorf("matching rule %s: its mapping reads a property users/delta does not carry; map %s from another property", m.field, m.field)
			}
			p.signIn = append(p.signIn, m)
		} else {
			p.mappings = append(p.mappings, m)
		}
	}
	return p, nil
}

// Select is the $select for pages of src (see SelectFor).
func (p *Plan) Select(src Source) []string {
	var exprs []*Expr
	for _, s := range p.sites {
		if s.filter.expr != nil {
			exprs = append(exprs, s.filter.expr)
		}
	}
	for _, m := range slices.Concat(p.mappings, p.signIn) {
		exprs = append(exprs, m.expr)
	}
	return SelectFor(src, exprs...)
}

// Lookups are the PSA users a batch needs, for the store to read in one query: the
// customer's users with one of AzureIDs, and those without an Azure object id whose field
// (lower(btrim(column))) equals one of ByField's values.
type Lookups struct {
	AzureIDs []string
	ByField  map[Field][]string
}

// Batch is a prepared page: placement and mapped values evaluated once per user. It points
// into the page's users, which must stay unchanged until Decide.
type Batch struct {
	plan  *Plan
	src   Source
	items []item
}

type item struct {
	user   *GraphUser
	site   int    // index into plan.sites, -1 when none matches
	misses string // why filters failed to evaluate
	// placed is false when a filter that decided the site read a property the user's JSON left
	// out: the site is then what it would be were that property empty.
	placed  bool
	values  domain.UserValues // the mapped fields only
	unknown []Field           // mapped fields whose value depends on a property left out, or failed
	failed  []string          // why mappings failed for him (their fields keep their values)
	invalid string            // the PSA rule the values break
}

// Prepare evaluates a page's users. A user reported twice in the page is decided once, at
// his last report, which is his current state.
func (p *Plan) Prepare(src Source, users []GraphUser) *Batch {
	last := make(map[string]int, len(users))
	for i := range users {
		last[users[i].ID] = i
	}
	b := &Batch{plan: p, src: src, items: make([]item, 0, len(last))}
	for i := range users {
		if last[users[i].ID] != i && users[i].ID != "" { // users without a readable id are each their own
			continue
		}
		u := &users[i]
		it := item{user: u, site: -1}
		if u.Unreadable != "" {
			it.invalid = u.Unreadable
		} else if u.Removed == nil {
			v := vars{u}
			mappings := p.mappings
			if src == Delta {
				it.site, it.misses, it.placed = p.place(v)
			} else {
				mappings = p.signIn
			}
			for _, m := range mappings {
				known, err := m.evaluate(&it.values, v)
				if !known {
					it.unknown = append(it.unknown, m.field)
				}
				if err != nil {
					it.failed = append(it.failed, fmt.Sprintf("field mapping %s (%s) failed: %v", m.field, m.expr.text, err))
				}
			}
			it.invalid = check(&it.values, mappings)
		}
		b.items = append(b.items, it)
	}
	return b
}

// mappingErrors says which mappings failed for the item's user, with the fix.
func (it *item) mappingErrors() string {
	if len(it.failed) == 0 {
		return ""
	}
	return text.Clean(strings.Join(it.failed, "; ")+": the field was left as it was; correct the mapping so that it yields a value for this user "+
		"(e.g. test size() before an index or substring)", text.MaxMessage)
}

// place finds the first site mapping whose filter matches, and tells whether every filter it
// tried decided on properties the user's JSON carried.
func (p *Plan) place(v vars) (int, string, bool) {
	var misses []string
	placed := true
	for i, s := range p.sites {
		ok, err := s.filter.match(v)
		if err != nil {
			misses = append(misses, fmt.Sprintf("mapping %d: %v", i+1, err))
		}
		placed = placed && s.filter.known(v)
		if ok {
			return i, "", placed
		}
	}
	return -1, strings.Join(misses, "; "), placed
}

// Lookups lists the PSA users Decide needs: everyone by Azure id; for placed, valid users
// also the matching rules' values, in case they are not linked yet.
func (b *Batch) Lookups() Lookups {
	l := Lookups{AzureIDs: make([]string, 0, len(b.items))}
	seen := map[Field]map[string]bool{}
	for _, it := range b.items {
		if it.user.ID != "" {
			l.AzureIDs = append(l.AzureIDs, it.user.ID)
		}
		if b.src != Delta || it.site < 0 || it.invalid != "" {
			continue
		}
		for _, r := range b.plan.rules {
			v := Normalize(get(&it.values, r))
			if v == "" || seen[r][v] {
				continue
			}
			if seen[r] == nil {
				seen[r] = map[string]bool{}
				if l.ByField == nil {
					l.ByField = map[Field][]string{}
				}
			}
			seen[r][v] = true
			l.ByField[r] = append(l.ByField[r], v)
		}
	}
	return l
}

// Decide decides every user of the batch against the PSA users the store found for Lookups
// (a superset does no harm: values are compared again). Outcomes follow the page's order.
func (b *Batch) Decide(found []domain.PSAUser) []Outcome {
	byAzure := make(map[string]*domain.PSAUser, len(found))
	byRule := map[Field]map[string][]*domain.PSAUser{}
	for i := range found {
		u := &found[i]
		if u.AzureObjectID != "" {
			byAzure[strings.ToLower(u.AzureObjectID)] = u
			continue
		}
		for _, r := range b.plan.rules {
			if v := Normalize(get(&u.UserValues, r)); v != "" {
				if byRule[r] == nil {
					byRule[r] = map[string][]*domain.PSAUser{}
				}
				byRule[r][v] = append(byRule[r][v], u)
			}
		}
	}
	// A PSA user linked to one Graph user of the page is no candidate for the next.
	linked := map[int64]bool{}
	out := make([]Outcome, len(b.items))
	for i := range b.items {
		it := &b.items[i]
		existing := byAzure[strings.ToLower(it.user.ID)]
		if b.src == SignIns {
			out[i] = b.plan.decideSignIn(it, existing)
			out[i].MappingErrors = it.mappingErrors()
			continue
		}
		out[i] = b.plan.decide(it, existing, func(r Field, v string) []*domain.PSAUser {
			var hits []*domain.PSAUser
			for _, u := range byRule[r][v] {
				if !linked[u.ID] {
					hits = append(hits, u)
				}
			}
			return hits
		})
		out[i].MappingErrors = it.mappingErrors()
		if o := out[i]; o.Kind != Ambiguous && slices.Contains(b.plan.rules, Field(o.MatchedBy)) {
			linked[o.User.ID] = true
		}
	}
	return out
}

// Kind is what a decision does to the PSA.
type Kind string

const (
	Created     Kind = "created"
	Updated     Kind = "updated"
	Unchanged   Kind = "unchanged"
	Moved       Kind = "moved"
	Inactivated Kind = "inactivated"
	Reactivated Kind = "reactivated"
	Excluded    Kind = "excluded"  // not imported (no site mapping matches, or removed before import)
	Ambiguous   Kind = "ambiguous" // two or more PSA users fit a matching rule: nothing is written
	Invalid     Kind = "invalid"   // the values break a PSA rule: nothing is written
)

// Kinds lists every kind (for the inbound log's CHECK list).
func Kinds() []Kind {
	return []Kind{Created, Updated, Unchanged, Moved, Inactivated, Reactivated, Excluded, Ambiguous, Invalid}
}

// How a Graph user was tied to his PSA user (Outcome.MatchedBy), besides a rule's field name.
const (
	MatchedByAzureID = "azure_object_id"
	MatchedCreated   = "created"
)

// Outcome is one decision: the PSA row to write (when Writes) and the inbound log entry.
type Outcome struct {
	// User is the PSA row after the decision: mapped fields replaced, unmapped ones as they
	// were. His ID is 0 when he is created or was never imported; his AzureObjectID is the
	// Graph user's.
	User          domain.PSAUser
	Kind          Kind
	Mapping       int    // 1-based position of the site mapping that placed the user; 0 for none
	MappingFilter string // its filter as written
	MatchedBy     string // MatchedByAzureID, a rule's field, MatchedCreated, or "" when no PSA user is involved
	Changes       []domain.Change
	Reason        string
	// MappingErrors says which field mappings failed for the user and why; those fields were
	// left as they were, whatever the decision.
	MappingErrors string
	// ServiceOnly: the service flag is all that changed (ApplyService made an unchanged user
	// updated). The page's licence write sets the flag, so the row itself is not written.
	ServiceOnly bool
}

// Writes tells whether the PSA row must be written (inserted when User.ID is 0).
func (o *Outcome) Writes() bool {
	switch o.Kind {
	case Created, Moved, Inactivated, Reactivated:
		return true
	case Updated:
		return !o.ServiceOnly
	}
	return false
}

// Logged tells whether the outcome gets an inbound log row. A delta round logs every user it
// processed (logAll); a full round, which reads everyone, and a sign-in pass log what changed
// or could not be done.
func (o *Outcome) Logged(logAll bool) bool {
	return logAll || o.Kind != Unchanged || o.MappingErrors != ""
}

// LogReason is the reason his inbound log entry gives: the decision's, then the mappings that
// failed for him.
func (o *Outcome) LogReason() string {
	switch {
	case o.MappingErrors == "":
		return o.Reason
	case o.Reason == "":
		return o.MappingErrors
	}
	return o.Reason + "; " + o.MappingErrors
}

// Count tallies a page's outcomes: one user each, and one of his kind.
func Count(outs []Outcome) domain.RoundCounts {
	var c domain.RoundCounts
	for i := range outs {
		c.Users++
		c.Add(countKind(outs[i].Kind, 1))
		if outs[i].MappingErrors != "" {
			c.MappingErrors++
		}
	}
	return c
}

// decide decides one delta-page user. candidates returns the unlinked PSA users whose rule
// field equals a value. A property the user's JSON left out is unknown: it never moves, makes
// inactive or changes a field of a user already in the PSA, and counts as empty for a new one
// (an account is enabled unless Microsoft says otherwise).
func (p *Plan) decide(it *item, existing *domain.PSAUser, candidates func(Field, string) []*domain.PSAUser) Outcome {
	u := it.user
	o := Outcome{User: domain.PSAUser{AzureObjectID: u.ID}}
	if existing != nil {
		o.User, o.MatchedBy = *existing, MatchedByAzureID
	}
	if u.Unreadable != "" { // nothing of him can be decided on: his row stays as it is
		o.Kind, o.Reason = Invalid, it.invalid
		return o
	}
	if u.Removed != nil {
		return p.deactivate(o, existing, fmt.Sprintf("removed in Microsoft (@removed reason %q)", u.Removed.Reason))
	}
	keepSite := existing != nil && !it.placed // the filters cannot tell where he belongs now
	if it.site < 0 && !keepSite {
		reason := "no site mapping matches"
		if it.misses != "" {
			reason += " (" + it.misses + ")"
		}
		return p.deactivate(o, existing, reason)
	}
	if !keepSite {
		o.Mapping, o.MappingFilter = it.site+1, p.sites[it.site].filter.Text()
	}
	if it.invalid != "" {
		o.Kind, o.Reason = Invalid, it.invalid
		return o
	}
	if existing == nil {
		var reason string
		existing, o.MatchedBy, reason = p.match(it, candidates)
		if reason != "" {
			o.Kind, o.Reason = Ambiguous, reason
			return o
		}
		if existing == nil {
			o.MatchedBy = MatchedCreated
		} else {
			o.User = *existing
		}
	}

	var old domain.PSAUser
	keep := func(Field) bool { return false }
	if existing != nil {
		old = *existing
		keep = func(f Field) bool { return slices.Contains(it.unknown, f) }
	}
	o.User.AzureObjectID = u.ID
	if !keepSite {
		o.User.SiteID = p.sites[it.site].siteID
	}
	o.User.Active = p.active(u, existing)
	o.User.UserValues = merge(old.UserValues, &it.values, p.mappings, keep)
	o.Changes = changes(existing, &o, p.mappings)
	settle(&o, existing)
	return o
}

// active decides a placed user's account state. An accountEnabled Microsoft did not send is
// unknown: a new user is active (accounts are enabled unless Microsoft says otherwise), an
// existing one keeps his state.
func (p *Plan) active(u *GraphUser, existing *domain.PSAUser) bool {
	enabled, known := u.accountState()
	switch {
	case p.ignoreAccountEnabled:
		return true
	case known:
		return enabled
	case existing == nil:
		return true
	}
	return existing.Active
}

// settle gives a decision about a placed user its kind and reason from what it changes on
// existing (nil: a new user). The reason he is inactive changes with his state only: an update
// of another field keeps it.
func settle(o *Outcome, existing *domain.PSAUser) {
	switch {
	case existing == nil:
		o.Kind = Created
		if !o.User.Active {
			o.Reason = "account disabled in Microsoft (accountEnabled false): created inactive"
		}
	case !existing.Active && o.User.Active:
		o.Kind, o.Reason = Reactivated, "active in Microsoft again"
	case existing.Active && !o.User.Active:
		o.Kind, o.Reason = Inactivated, "account disabled in Microsoft (accountEnabled false)"
	case existing.SiteID != o.User.SiteID:
		o.Kind, o.Reason = Moved, fmt.Sprintf("site mapping %d places the user in site %d", o.Mapping, o.User.SiteID)
	case len(o.Changes) > 0:
		o.Kind = Updated
	default:
		o.Kind = Unchanged
	}
	switch {
	case o.User.Active:
		o.User.InactiveReason = ""
	case existing == nil || existing.Active:
		o.User.InactiveReason = o.Reason
	}
}

// deactivate handles a user who is not to be in the PSA: never imported, he is excluded;
// imported, he is made inactive (never deleted), keeping his site and values.
func (p *Plan) deactivate(o Outcome, existing *domain.PSAUser, reason string) Outcome {
	switch {
	case existing == nil:
		o.Kind, o.Reason = Excluded, reason
	case !existing.Active:
		o.Kind, o.Reason = Unchanged, reason+"; already inactive"
	default:
		o.Kind, o.Reason, o.User.Active, o.User.InactiveReason = Inactivated, reason, false, reason
		o.Changes = []domain.Change{{Field: "active", Old: "true", New: "false"}}
	}
	return o
}

// match applies the matching rules in order: one candidate links, two or more are ambiguous
// (reason set), none tries the next rule.
func (p *Plan) match(it *item, candidates func(Field, string) []*domain.PSAUser) (*domain.PSAUser, string, string) {
	for _, r := range p.rules {
		v := Normalize(get(&it.values, r))
		if v == "" {
			continue
		}
		switch hits := candidates(r, v); len(hits) {
		case 0:
			continue
		case 1:
			return hits[0], string(r), ""
		default:
			ids := make([]string, len(hits))
			for i, h := range hits {
				ids[i] = fmt.Sprint(h.ID)
			}
			return nil, string(r), fmt.Sprintf("%d PSA users without an Azure object id have %s %q (ids %s): nothing was created; merge them or correct %s on all but one",
				len(hits), r, get(&it.values, r), strings.Join(ids, ", "), r)
		}
	}
	return nil, "", ""
}

// decideSignIn refreshes the sign-in mappings of a user already in the PSA.
func (p *Plan) decideSignIn(it *item, existing *domain.PSAUser) Outcome {
	o := Outcome{User: domain.PSAUser{AzureObjectID: it.user.ID}}
	if it.user.Unreadable != "" {
		if existing != nil {
			o.User, o.MatchedBy = *existing, MatchedByAzureID
		}
		o.Kind, o.Reason = Invalid, it.invalid
		return o
	}
	if existing == nil {
		o.Kind, o.Reason = Excluded, "not in the PSA"
		return o
	}
	o.User, o.MatchedBy = *existing, MatchedByAzureID
	if it.invalid != "" {
		o.Kind, o.Reason = Invalid, it.invalid
		return o
	}
	o.User.UserValues = merge(existing.UserValues, &it.values, p.signIn, func(f Field) bool { return slices.Contains(it.unknown, f) })
	o.Changes = changes(existing, &o, p.signIn)
	o.Kind = Unchanged
	if len(o.Changes) > 0 {
		o.Kind = Updated
	}
	return o
}

// Absent decides for a PSA user a full round did not see: he no longer exists in Microsoft.
func (p *Plan) Absent(u domain.PSAUser) Outcome {
	return p.deactivate(Outcome{User: u, MatchedBy: MatchedByAzureID}, &u, "absent from a full round")
}

// ChooseRound decides the kind of a tenant's next users round: full when asked, when the tenant
// has no delta link, or when its link was made for another $select (deltaSelect, as
// SelectKey wrote it): Graph keeps the $select in the link, so properties the mappings now read
// would never come.
func ChooseRound(full bool, deltaLink, deltaSelect string, selectProps []string) domain.RoundKind {
	if full || deltaLink == "" || deltaSelect != SelectKey(selectProps) {
		return domain.RoundFull
	}
	return domain.RoundDelta
}

// SelectKey is how a delta link's $select is kept beside it.
func SelectKey(selectProps []string) string { return strings.Join(selectProps, ",") }

// merge returns base with the mapped fields taken from mapped, but those keep says base keeps.
func merge(base domain.UserValues, mapped *domain.UserValues, ms []mapping, keep func(Field) bool) domain.UserValues {
	v := clone(base)
	for _, m := range ms {
		switch {
		case keep(m.field):
		case m.field == FieldLastSignIn:
			v.LastSignIn = mapped.LastSignIn
		default:
			set(&v, m.field, get(mapped, m.field))
		}
	}
	return v
}

// changes lists what o changes on existing (nil: a new user, whose old values are all "").
func changes(existing *domain.PSAUser, o *Outcome, ms []mapping) []domain.Change {
	var old domain.PSAUser
	if existing != nil {
		old = *existing
	}
	var out []domain.Change
	add := func(field, before, after string) {
		if before != after {
			out = append(out, domain.Change{Field: field, Old: before, New: after})
		}
	}
	oldSite, oldActive := "", ""
	if existing != nil {
		oldSite, oldActive = strconv.FormatInt(old.SiteID, 10), strconv.FormatBool(old.Active)
	}
	add("azure_object_id", old.AzureObjectID, o.User.AzureObjectID)
	add("site", oldSite, strconv.FormatInt(o.User.SiteID, 10))
	add("active", oldActive, strconv.FormatBool(o.User.Active))
	for _, m := range ms {
		add(string(m.field), get(&old.UserValues, m.field), get(&o.User.UserValues, m.field))
	}
	return out
}
