package usersync

import (
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"

	"github.com/cspsync/cspsync/internal/domain"
)

// Field is a PSA user field a mapping can write: a standard one or custom.<name>.
type Field string

const (
	FieldName         Field = "name"
	FieldEmail        Field = "email"
	FieldNetworkLogin Field = "network_login"
	FieldPhone        Field = "phone"
	FieldMobile       Field = "mobile"
	FieldJobTitle     Field = "job_title"
	FieldDepartment   Field = "department"
	FieldLastSignIn   Field = "last_sign_in"
)

// StandardFields lists the PSA's own user fields in display order.
func StandardFields() []Field {
	return []Field{FieldName, FieldEmail, FieldNetworkLogin, FieldPhone, FieldMobile, FieldJobTitle, FieldDepartment, FieldLastSignIn}
}

// maxLen is the PSA's limit per field, in characters.
var maxLen = map[Field]int{
	FieldName: 255, FieldEmail: 320, FieldNetworkLogin: 256, FieldPhone: 64, FieldMobile: 64,
	FieldJobTitle: 128, FieldDepartment: 128,
}

const customMaxLen = 1024

// MaxLen is the PSA's limit of a text field, in characters: the rounds
// check what Microsoft sends against it, and control what operators type.
func MaxLen(f Field) int {
	if limit, ok := maxLen[f]; ok {
		return limit
	}
	return customMaxLen
}

// ValidEmail reports whether s is an email address the PSA accepts: a bare
// address, nothing around it.
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

var customName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Custom returns the name of a custom field.
func (f Field) Custom() (string, bool) { return strings.CutPrefix(string(f), "custom.") }

// ParseField reads a PSA field name, refusing unknown ones with the list of valid ones.
func ParseField(s string) (Field, error) {
	f := Field(strings.TrimSpace(s))
	if slices.Contains(StandardFields(), f) {
		return f, nil
	}
	if name, ok := f.Custom(); ok {
		if !customName.MatchString(name) {
			return "", fmt.Errorf("custom field %q: name it custom.<name> with lower-case letters, digits and _ (at most 63), e.g. custom.cost_centre", s)
		}
		return f, nil
	}
	names := make([]string, 0, 8)
	for _, sf := range StandardFields() {
		names = append(names, string(sf))
	}
	return "", fmt.Errorf("%q is not a PSA user field: %sfields are %s and custom.<name>",
		s, didYouMean(string(f), names), strings.Join(names, ", "))
}

// FieldMapping writes the value of a CEL expression over user into a PSA field. An empty
// Expr in an override unmaps the field (the PSA value is left alone).
type FieldMapping struct {
	Field Field  `json:"field"`
	Expr  string `json:"expr"`
}

// DefaultMappings work out of the box; partner and customer sets override them per field.
func DefaultMappings() []FieldMapping {
	return []FieldMapping{
		{FieldName, "user.displayName"},
		{FieldEmail, "user.mail != '' ? user.mail : user.userPrincipalName"},
		{FieldNetworkLogin, "user.onPremisesSamAccountName"},
		{FieldPhone, "user.businessPhones.size() > 0 ? user.businessPhones[0] : ''"},
		{FieldMobile, "user.mobilePhone"},
		{FieldJobTitle, "user.jobTitle"},
		{FieldDepartment, "user.department"},
		{FieldLastSignIn, "user.signInActivity.lastSignInDateTime"},
	}
}

// Resolve layers the partner's mappings over the defaults and the customer's over both, field
// by field; a mapping with an empty Expr removes the field. The result is in field order.
func Resolve(partner, customer []FieldMapping) []FieldMapping {
	byField := map[Field]string{}
	for _, set := range [][]FieldMapping{DefaultMappings(), partner, customer} {
		for _, m := range set {
			byField[m.Field] = m.Expr
		}
	}
	out := make([]FieldMapping, 0, len(byField))
	for _, f := range fieldOrder(slices.Collect(maps.Keys(byField))) {
		if strings.TrimSpace(byField[f]) != "" {
			out = append(out, FieldMapping{f, byField[f]})
		}
	}
	return out
}

// fieldOrder sorts standard fields first, in their order, then custom ones by name.
func fieldOrder(fs []Field) []Field {
	rank := func(f Field) int {
		if i := slices.Index(StandardFields(), f); i >= 0 {
			return i
		}
		return len(StandardFields())
	}
	sort.Slice(fs, func(i, j int) bool {
		if ri, rj := rank(fs[i]), rank(fs[j]); ri != rj {
			return ri < rj
		}
		return fs[i] < fs[j]
	})
	return fs
}

// mapping is a compiled FieldMapping.
type mapping struct {
	field Field
	expr  *Expr
}

// compileMapping checks the field and compiles the expression to the field's type.
func compileMapping(m FieldMapping) (mapping, error) {
	f, err := ParseField(string(m.Field))
	if err != nil {
		return mapping{}, fmt.Errorf("field mapping: %w", err)
	}
	want, fix := cel.StringType, "a field mapping must yield a string, e.g. user.jobTitle or string(user.accountEnabled)"
	if f == FieldLastSignIn {
		want, fix = cel.TimestampType, "last_sign_in must yield a timestamp, e.g. user.signInActivity.lastSignInDateTime"
	}
	e, err := compile(m.Expr, want, fix)
	if err != nil {
		return mapping{}, fmt.Errorf("field mapping %s: %w", f, err)
	}
	return mapping{field: f, expr: e}, nil
}

// ValidateMappings checks a set as it is saved (partner or customer level): known fields, each
// once, and expressions that compile to the field's type. Empty expressions (unmapping) pass.
func ValidateMappings(ms []FieldMapping) error {
	seen := map[Field]bool{}
	for _, m := range ms {
		if seen[m.Field] {
			return fmt.Errorf("field mapping %s appears twice: keep one", m.Field)
		}
		seen[m.Field] = true
		if strings.TrimSpace(m.Expr) == "" {
			if _, err := ParseField(string(m.Field)); err != nil {
				return fmt.Errorf("field mapping: %w", err)
			}
			continue
		}
		if _, err := compileMapping(m); err != nil {
			return err
		}
	}
	return nil
}

// get returns a field's value as text (last_sign_in in RFC 3339, "" when unknown).
func get(v *domain.UserValues, f Field) string {
	switch f {
	case FieldName:
		return v.Name
	case FieldEmail:
		return v.Email
	case FieldNetworkLogin:
		return v.NetworkLogin
	case FieldPhone:
		return v.Phone
	case FieldMobile:
		return v.Mobile
	case FieldJobTitle:
		return v.JobTitle
	case FieldDepartment:
		return v.Department
	case FieldLastSignIn:
		if v.LastSignIn.IsZero() {
			return ""
		}
		return v.LastSignIn.UTC().Format(time.RFC3339)
	}
	name, _ := f.Custom()
	return v.Custom[name]
}

func set(v *domain.UserValues, f Field, s string) {
	switch f {
	case FieldName:
		v.Name = s
	case FieldEmail:
		v.Email = s
	case FieldNetworkLogin:
		v.NetworkLogin = s
	case FieldPhone:
		v.Phone = s
	case FieldMobile:
		v.Mobile = s
	case FieldJobTitle:
		v.JobTitle = s
	case FieldDepartment:
		v.Department = s
	default:
		name, _ := f.Custom()
		if v.Custom == nil {
			v.Custom = map[string]string{}
		}
		v.Custom[name] = s
	}
}

// clone copies v so that setting custom fields leaves the original alone.
func clone(v domain.UserValues) domain.UserValues {
	v.Custom = maps.Clone(v.Custom)
	return v
}

// evaluate writes the mapping's value for u into v and tells whether the value is known. A
// value that depends on a property his JSON left out is unknown: it is written as if the
// property were empty (what a new user gets), and an existing user keeps his (see Plan.decide).
// An evaluation error (an index out of range, substring past the end, the cost limit) writes
// nothing and is returned: the field keeps its value, never "" in its place.
func (m mapping) evaluate(v *domain.UserValues, vs vars) (bool, error) {
	if m.expr.str != nil {
		set(v, m.field, m.expr.str(vs.user))
		return vs.user.missing(m.expr.mask) == 0, nil
	}
	out, err := m.expr.eval(vs)
	known := m.expr.known(vs)
	if err != nil {
		if !known { // the error comes from a property Graph did not send: unknown, not wrong
			return false, nil
		}
		return false, err
	}
	if m.field == FieldLastSignIn {
		t, _ := out.Value().(time.Time)
		// Graph's "never" (null, or its year-1 sentinel) is no date, not the year 1.
		if noDate(t) {
			t = time.Time{}
		}
		v.LastSignIn = t
	} else {
		s, _ := out.Value().(string)
		set(v, m.field, s)
	}
	return known, nil
}

// Shortened is the mapping cspsync suggests for a field whose value can be longer than limit:
// expr cut to limit characters when it is longer, as it is otherwise (substring alone fails
// for every shorter value).
func Shortened(expr string, limit int) string {
	return fmt.Sprintf("size(%s) > %d ? (%s).substring(0, %d) : (%s)", expr, limit, expr, limit, expr)
}

// check applies the PSA's rules to the mapped fields: length limits and a valid email. The
// reason names the field, the problem and the fix.
func check(v *domain.UserValues, mapped []mapping) string {
	for _, m := range mapped {
		if m.field == FieldLastSignIn {
			continue
		}
		s := get(v, m.field)
		limit := MaxLen(m.field)
		if n := utf8.RuneCountInString(s); n > limit {
			return fmt.Sprintf("%s is %d characters long, the PSA allows %d: shorten it in Microsoft or map %s to a shorter value, e.g. %s",
				m.field, n, limit, m.field, Shortened(m.expr.text, limit))
		}
		if m.field == FieldEmail && s != "" {
			if !ValidEmail(s) {
				return fmt.Sprintf("email %q is not a valid address: correct the user's mail in Microsoft or map email to another property, e.g. user.userPrincipalName", s)
			}
		}
	}
	return ""
}

// Normalize is how matching compares values: trimmed, case-insensitive. The store narrows its
// candidates with lower(btrim(column)) = any(values); Decide compares again with Normalize.
func Normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
