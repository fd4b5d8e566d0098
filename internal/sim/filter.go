package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// $filter on GET /users: the operators and properties Microsoft documents for users ("Support
// for filter by properties of Microsoft Entra ID (directory) objects"), with the split between
// what works by default and what needs the advanced query parameters (ConsistencyLevel:
// eventual and $count=true). Anything else is refused as Graph refuses it, never ignored.

type filterLevel uint8

const (
	no       filterLevel = iota
	byDef                // works by default
	advanced             // needs ConsistencyLevel: eventual and $count=true
)

type filterProp struct {
	name string
	// value is the property as a string ("true"/"false" for booleans); ok false means null.
	value                              func(u *dirUser) (string, bool)
	boolean                            bool
	eq, in, startsWith, endsWith, null filterLevel
}

func strField(get func(u *dirUser) string) func(u *dirUser) (string, bool) {
	return func(u *dirUser) (string, bool) { v := get(u); return v, v != "" }
}

var userFilterProps = func() map[string]filterProp {
	props := []filterProp{
		{name: "accountEnabled", boolean: true, eq: byDef, in: byDef,
			value: func(u *dirUser) (string, bool) { return strconv.FormatBool(u.AccountEnabled), true }},
		{name: "city", eq: byDef, in: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.City })},
		{name: "companyName", eq: advanced, in: advanced, startsWith: advanced, null: advanced, value: strField(func(u *dirUser) string { return u.CompanyName })},
		{name: "country", eq: byDef, in: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.Country })},
		{name: "department", eq: byDef, in: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.Department })},
		{name: "displayName", eq: byDef, in: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.DisplayName })},
		{name: "employeeId", eq: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.EmployeeID })},
		{name: "employeeType", eq: advanced, in: advanced, startsWith: advanced, value: strField(func(u *dirUser) string { return u.EmployeeType })},
		{name: "givenName", eq: byDef, in: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.GivenName })},
		{name: "id", eq: byDef, in: byDef, value: strField(func(u *dirUser) string { return u.ID })},
		{name: "jobTitle", eq: byDef, in: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.JobTitle })},
		{name: "mail", eq: byDef, in: byDef, startsWith: byDef, endsWith: advanced, value: strField(func(u *dirUser) string { return u.Mail })},
		{name: "mobilePhone", eq: advanced, in: advanced, startsWith: advanced, null: advanced, value: strField(func(u *dirUser) string { return u.MobilePhone })},
		{name: "officeLocation", eq: advanced, in: advanced, startsWith: advanced, null: advanced, value: strField(func(u *dirUser) string { return u.OfficeLocation })},
		{name: "onPremisesImmutableId", eq: advanced, in: advanced, value: strField(func(u *dirUser) string { return u.OnPremisesImmutableID })},
		{name: "onPremisesSamAccountName", eq: advanced, in: advanced, startsWith: advanced, value: strField(func(u *dirUser) string { return u.OnPremisesSamAccountName })},
		{name: "onPremisesSyncEnabled", boolean: true, eq: byDef, in: byDef, value: func(u *dirUser) (string, bool) {
			if u.OnPremisesSyncEnabled == nil {
				return "", false
			}
			return strconv.FormatBool(*u.OnPremisesSyncEnabled), true
		}},
		{name: "postalCode", eq: advanced, in: advanced, startsWith: advanced, null: advanced, value: strField(func(u *dirUser) string { return u.PostalCode })},
		{name: "preferredLanguage", eq: advanced, in: advanced, startsWith: advanced, null: advanced, value: strField(func(u *dirUser) string { return u.PreferredLanguage })},
		{name: "state", eq: byDef, in: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.State })},
		{name: "streetAddress", eq: advanced, in: advanced, startsWith: advanced, null: advanced, value: strField(func(u *dirUser) string { return u.StreetAddress })},
		{name: "surname", eq: byDef, in: byDef, startsWith: byDef, null: advanced, value: strField(func(u *dirUser) string { return u.Surname })},
		{name: "usageLocation", eq: byDef, in: byDef, startsWith: byDef, value: strField(func(u *dirUser) string { return u.UsageLocation })},
		{name: "userPrincipalName", eq: byDef, in: byDef, startsWith: byDef, endsWith: advanced, value: strField(func(u *dirUser) string { return u.UserPrincipalName })},
		{name: "userType", eq: byDef, in: byDef, null: advanced, value: func(u *dirUser) (string, bool) {
			if u.UserType == "" {
				return "Member", true
			}
			return u.UserType, true
		}},
	}
	m := make(map[string]filterProp, len(props))
	for _, p := range props {
		m[strings.ToLower(p.name)] = p
	}
	return m
}()

type userPredicate func(u *dirUser) bool

// maxInValues is how many values Graph takes in one in (…): it counts them as or-clauses.
const maxInValues = 15

func matchAll(*dirUser) bool { return true }

// filterError is a $filter Graph refuses, with its code.
type filterError struct {
	code, msg string
}

func (e *filterError) Error() string { return e.msg }

// parseUserFilter compiles $filter for GET /users, answering Graph's error when it cannot.
// When the filter only names users by id (id eq '…' or id in (…)) it also returns those ids, so
// the lookup reads them instead of scanning the tenant, as Graph answers it from its index.
func (s *Server) parseUserFilter(w http.ResponseWriter, raw string, adv bool) (userPredicate, []string, bool) {
	if strings.TrimSpace(raw) == "" {
		return matchAll, nil, true
	}
	p := &filterParser{src: raw, advanced: adv}
	p.lex()
	pred, err := p.parse()
	if err != nil {
		fe := err.(*filterError)
		s.writeGraphError(w, http.StatusBadRequest, fe.code, "%s", fe.msg)
		return nil, nil, false
	}
	if p.compound {
		return pred, nil, true
	}
	return pred, p.ids, true
}

type filterToken struct {
	kind byte // 'i' identifier, 's' string, '(' ')' ',', 0 end
	text string
	pos  int
}

type filterParser struct {
	src      string
	advanced bool
	toks     []filterToken
	i        int
	err      error
	// ids holds the values of the last id eq/in term; compound is set by and, or and not.
	ids      []string
	compound bool
}

func (p *filterParser) lex() {
	s := p.src
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',':
			p.toks = append(p.toks, filterToken{kind: c, pos: i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				p.syntax(i)
				return
			}
			p.toks = append(p.toks, filterToken{kind: 's', text: b.String(), pos: i})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t(),'", rune(s[j])) {
				j++
			}
			p.toks = append(p.toks, filterToken{kind: 'i', text: s[i:j], pos: i})
			i = j
		}
	}
	p.toks = append(p.toks, filterToken{pos: len(s)})
}

func (p *filterParser) syntax(pos int) {
	if p.err == nil {
		p.err = &filterError{"BadRequest", fmt.Sprintf("Invalid filter clause: Syntax error at position %d in '%s'.", pos, p.src)}
	}
}

func (p *filterParser) unsupported(prop string) error {
	return &filterError{"Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource 'User'.", prop)}
}

func (p *filterParser) needsAdvanced(what string) error {
	return &filterError{"Request_UnsupportedQuery", fmt.Sprintf("%s is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information", what)}
}

func (p *filterParser) peek() filterToken { return p.toks[p.i] }

func (p *filterParser) next() filterToken {
	t := p.toks[p.i]
	if t.kind != 0 {
		p.i++
	}
	return t
}

func (p *filterParser) keyword(t filterToken, kw string) bool {
	return t.kind == 'i' && strings.EqualFold(t.text, kw)
}

func (p *filterParser) expect(kind byte) bool {
	if t := p.next(); t.kind != kind {
		p.syntax(t.pos)
		return false
	}
	return true
}

func (p *filterParser) parse() (userPredicate, error) {
	if p.err != nil {
		return nil, p.err
	}
	pred, err := p.or()
	if err == nil && p.err == nil && p.peek().kind != 0 {
		p.syntax(p.peek().pos)
	}
	if err == nil {
		err = p.err
	}
	return pred, err
}

func (p *filterParser) or() (userPredicate, error) {
	left, err := p.and()
	for err == nil && p.keyword(p.peek(), "or") {
		p.next()
		p.compound = true
		var right userPredicate
		if right, err = p.and(); err == nil {
			l := left
			left = func(u *dirUser) bool { return l(u) || right(u) }
		}
	}
	return left, err
}

func (p *filterParser) and() (userPredicate, error) {
	left, err := p.unary()
	for err == nil && p.keyword(p.peek(), "and") {
		p.next()
		p.compound = true
		var right userPredicate
		if right, err = p.unary(); err == nil {
			l := left
			left = func(u *dirUser) bool { return l(u) && right(u) }
		}
	}
	return left, err
}

func (p *filterParser) unary() (userPredicate, error) {
	if p.keyword(p.peek(), "not") {
		p.next()
		p.compound = true
		if !p.advanced {
			return nil, p.needsAdvanced("Operator 'not'")
		}
		inner, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(u *dirUser) bool { return !inner(u) }, nil
	}
	return p.primary()
}

func (p *filterParser) primary() (userPredicate, error) {
	t := p.next()
	switch {
	case t.kind == '(':
		inner, err := p.or()
		if err == nil && !p.expect(')') {
			return nil, p.err
		}
		return inner, err
	case t.kind != 'i':
		p.syntax(t.pos)
		return nil, p.err
	case strings.EqualFold(t.text, "startswith") || strings.EqualFold(t.text, "endswith"):
		op := strings.ToLower(t.text)
		if !p.expect('(') {
			return nil, p.err
		}
		name := p.next()
		if name.kind != 'i' || !p.expect(',') {
			p.syntax(name.pos)
			return nil, p.err
		}
		lit := p.next()
		if lit.kind != 's' || !p.expect(')') {
			p.syntax(lit.pos)
			return nil, p.err
		}
		prop, ok := userFilterProps[strings.ToLower(name.text)]
		level := prop.startsWith
		if op == "endswith" {
			level = prop.endsWith
		}
		if err := p.allowed(ok, name.text, level, "Operator '"+map[string]string{"startswith": "startsWith", "endswith": "endsWith"}[op]+"'"); err != nil {
			return nil, err
		}
		want := strings.ToLower(lit.text)
		if op == "startswith" {
			return func(u *dirUser) bool { v, _ := prop.value(u); return strings.HasPrefix(strings.ToLower(v), want) }, nil
		}
		return func(u *dirUser) bool { v, _ := prop.value(u); return strings.HasSuffix(strings.ToLower(v), want) }, nil
	}
	prop, ok := userFilterProps[strings.ToLower(t.text)]
	opTok := p.next()
	if opTok.kind != 'i' {
		p.syntax(opTok.pos)
		return nil, p.err
	}
	switch op := strings.ToLower(opTok.text); op {
	case "eq", "ne":
		lit := p.next()
		isNull := p.keyword(lit, "null")
		if lit.kind != 's' && !(lit.kind == 'i' && (isNull || p.keyword(lit, "true") || p.keyword(lit, "false"))) {
			p.syntax(lit.pos)
			return nil, p.err
		}
		level := prop.eq
		if isNull {
			level = prop.null
		}
		if err := p.allowed(ok, t.text, level, ""); err != nil {
			return nil, err
		}
		if op == "ne" && !p.advanced {
			return nil, p.needsAdvanced("Operator 'ne'")
		}
		if prop.boolean != (lit.kind == 'i' && !isNull) {
			return nil, p.unsupported(prop.name)
		}
		want, negate := lit.text, op == "ne"
		if prop.name == "id" && op == "eq" && !isNull {
			p.ids = []string{want}
		}
		return func(u *dirUser) bool {
			v, set := prop.value(u)
			match := !set
			if !isNull {
				match = set && strings.EqualFold(v, want)
			}
			return match != negate
		}, nil
	case "in":
		if err := p.allowed(ok, t.text, prop.in, "Operator 'in'"); err != nil {
			return nil, err
		}
		if !p.expect('(') {
			return nil, p.err
		}
		var wants []string
		for {
			lit := p.next()
			if lit.kind != 's' && !(prop.boolean && (p.keyword(lit, "true") || p.keyword(lit, "false"))) {
				p.syntax(lit.pos)
				return nil, p.err
			}
			wants = append(wants, lit.text)
			if sep := p.next(); sep.kind == ')' {
				break
			} else if sep.kind != ',' {
				p.syntax(sep.pos)
				return nil, p.err
			}
		}
		if len(wants) > maxInValues {
			return nil, &filterError{"Request_UnsupportedQuery", fmt.Sprintf("Too many child clauses specified in search filter expression containing 'OR' operators: %d. Max allowed: %d.", len(wants), maxInValues)}
		}
		if prop.name == "id" {
			p.ids = wants
		}
		return func(u *dirUser) bool {
			v, set := prop.value(u)
			for _, want := range wants {
				if set && strings.EqualFold(v, want) {
					return true
				}
			}
			return false
		}, nil
	}
	p.syntax(opTok.pos)
	return nil, p.err
}

// allowed checks a property/operator pair against the documented support.
func (p *filterParser) allowed(known bool, prop string, level filterLevel, operator string) error {
	switch {
	case !known || level == no:
		return p.unsupported(prop)
	case level == advanced && !p.advanced:
		if operator == "" {
			return p.needsAdvanced("Filtering on property '" + prop + "'")
		}
		return p.needsAdvanced(operator + " on property '" + prop + "'")
	}
	return nil
}
