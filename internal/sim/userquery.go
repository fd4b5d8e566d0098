package sim

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// $search, $orderby and $expand on GET /users, as Microsoft documents them for directory
// objects ("Advanced query capabilities on Microsoft Entra ID objects", "Use query
// parameters"): $search needs ConsistencyLevel: eventual; $orderby sorts by displayName or
// userPrincipalName by default, by createdDateTime only in advanced queries, and together with
// $filter only in advanced queries; $expand follows memberOf (at most 20 objects, no paging)
// and is not supported in advanced queries. users/delta supports none of them.

// userQuery is what a users list applies beyond $filter and $select.
type userQuery struct {
	search   userPredicate           // nil: no $search
	order    func(a, b *dirUser) int // nil: creation order
	expand   []string                // navigation properties to expand
	advanced bool                    // ConsistencyLevel: eventual and $count=true
}

// maxExpanded is how many objects an $expand returns for a directory object's relationship.
const maxExpanded = 20

// expandable are the user relationships the simulator can expand, by lower-case name.
var expandable = map[string]string{"memberof": "memberOf", "transitivememberof": "transitiveMemberOf"}

// parseUserQuery reads $search, $orderby and $expand of a users request, answering Graph's
// error when it refuses one. eventual is the ConsistencyLevel header, adv that and
// $count=true, filtered whether $filter is present.
func (s *Server) parseUserQuery(w http.ResponseWriter, q url.Values, eventual, adv, filtered bool) (userQuery, bool) {
	uq := userQuery{advanced: adv}
	fail := func(status int, code, format string, args ...any) (userQuery, bool) {
		s.writeGraphError(w, status, code, format, args...)
		return userQuery{}, false
	}
	if raw := q.Get("$search"); raw != "" {
		if !eventual {
			return fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
		}
		pred, err := parseSearch(raw)
		if err != nil {
			return fail(http.StatusBadRequest, "Request_UnsupportedQuery", "%s", err.Error())
		}
		uq.search = pred
	}
	if raw := strings.TrimSpace(q.Get("$orderby")); raw != "" {
		name, dir, _ := strings.Cut(raw, " ")
		dir = strings.ToLower(strings.TrimSpace(dir))
		if strings.Contains(raw, ",") || dir != "" && dir != "asc" && dir != "desc" {
			return fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Sorting not supported for current query.")
		}
		var key func(u *dirUser) string
		level := byDef
		switch strings.ToLower(name) {
		case "displayname":
			key = func(u *dirUser) string { return strings.ToLower(u.DisplayName) }
		case "userprincipalname":
			key = func(u *dirUser) string { return strings.ToLower(u.UserPrincipalName) }
		case "createddatetime":
			key, level = func(u *dirUser) string { return u.CreatedDateTime.UTC().Format("2006-01-02T15:04:05Z") }, advanced
		default:
			if _, known := userPropIndex[strings.ToLower(name)]; !known {
				return fail(http.StatusBadRequest, "BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.user'.", name)
			}
			return fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Sorting not supported for current query.")
		}
		// Sorting a filtered or searched list, or by an advanced-only property, needs the
		// advanced query parameters.
		if (level == advanced || filtered || uq.search != nil) && !adv {
			return fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Sorting not supported for current query.")
		}
		desc := dir == "desc"
		uq.order = func(a, b *dirUser) int {
			c := cmp.Compare(key(a), key(b))
			if desc {
				c = -c
			}
			return c
		}
	}
	if raw := q.Get("$expand"); raw != "" {
		if adv || uq.search != nil {
			return fail(http.StatusBadRequest, "Request_UnsupportedQuery", "$expand is not supported with advanced queries (ConsistencyLevel: eventual with $count or $search).")
		}
		e, ok := s.parseExpand(w, raw)
		if !ok {
			return userQuery{}, false
		}
		uq.expand = e
	}
	return uq, true
}

// parseExpand reads $expand of a user: relationships the simulator has, without nested
// options.
func (s *Server) parseExpand(w http.ResponseWriter, raw string) ([]string, bool) {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if strings.Contains(p, "(") {
			s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The cspsync simulator does not support nested query options in $expand ('%s').", p)
			return nil, false
		}
		name, ok := expandable[strings.ToLower(p)]
		if !ok {
			if _, isProp := userPropIndex[strings.ToLower(p)]; isProp {
				s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "Property '%s' on type 'microsoft.graph.user' is not a navigation property or complex property. Only navigation properties can be expanded.", p)
			} else {
				s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.user'.", p)
			}
			return nil, false
		}
		out = append(out, name)
	}
	return out, true
}

// appendExpanded adds the expanded relationships to a user written by appendUser (b ends
// with its closing brace); the caller holds s.mu.
func appendExpanded(b []byte, o *org, u *dirUser, expand []string) []byte {
	if len(expand) == 0 {
		return b
	}
	b = b[:len(b)-1]
	for _, name := range expand {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":[`...)
		n := 0
		for _, id := range u.MemberOf {
			obj, ok := o.groups[id]
			if !ok || n == maxExpanded {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			raw, _ := json.Marshal(obj.json())
			b = append(b, raw...)
			n++
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// parseSearch compiles a $search value: "property:text" clauses (quoted) joined by AND and OR
// (upper case, outside the quotes), with parentheses. displayName is searched by tokens; any
// other property the $filter supports matches by its start, as Graph does.
func parseSearch(raw string) (userPredicate, error) {
	p := &searchParser{src: strings.TrimSpace(raw)}
	pred, err := p.or()
	if err == nil && p.skipSpace() < len(p.src) {
		err = p.errorf()
	}
	return pred, err
}

type searchParser struct {
	src string
	i   int
}

func (p *searchParser) errorf() error {
	return &filterError{"Request_UnsupportedQuery", "Syntax error in $search at position " + strconv.Itoa(p.i) + " in '" + p.src + "': write quoted \"property:text\" clauses joined by AND or OR, e.g. \"displayName:Adele\" OR \"mail:adele\"."}
}

func (p *searchParser) skipSpace() int {
	for p.i < len(p.src) && p.src[p.i] == ' ' {
		p.i++
	}
	return p.i
}

func (p *searchParser) keyword(kw string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.src[p.i:], kw+" ") || strings.HasPrefix(p.src[p.i:], kw+"\"") || strings.HasPrefix(p.src[p.i:], kw+"(") {
		p.i += len(kw)
		return true
	}
	return false
}

func (p *searchParser) or() (userPredicate, error) {
	left, err := p.and()
	for err == nil && p.keyword("OR") {
		var right userPredicate
		if right, err = p.and(); err == nil {
			l, r := left, right
			left = func(u *dirUser) bool { return l(u) || r(u) }
		}
	}
	return left, err
}

func (p *searchParser) and() (userPredicate, error) {
	left, err := p.clause()
	for err == nil && p.keyword("AND") {
		var right userPredicate
		if right, err = p.clause(); err == nil {
			l, r := left, right
			left = func(u *dirUser) bool { return l(u) && r(u) }
		}
	}
	return left, err
}

func (p *searchParser) clause() (userPredicate, error) {
	p.skipSpace()
	if p.i < len(p.src) && p.src[p.i] == '(' {
		p.i++
		pred, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.skipSpace(); p.i >= len(p.src) || p.src[p.i] != ')' {
			return nil, p.errorf()
		}
		p.i++
		return pred, nil
	}
	if p.i >= len(p.src) || p.src[p.i] != '"' {
		return nil, p.errorf()
	}
	var text strings.Builder
	for p.i++; ; p.i++ {
		if p.i >= len(p.src) {
			return nil, p.errorf()
		}
		c := p.src[p.i]
		if c == '\\' && p.i+1 < len(p.src) {
			p.i++
			text.WriteByte(p.src[p.i])
			continue
		}
		if c == '"' {
			p.i++
			break
		}
		text.WriteByte(c)
	}
	name, value, ok := strings.Cut(text.String(), ":")
	if !ok {
		return nil, &filterError{"Request_UnsupportedQuery", "Invalid $search clause \"" + text.String() + "\": name the property, as in \"displayName:" + text.String() + "\"."}
	}
	prop, known := userFilterProps[strings.ToLower(strings.TrimSpace(name))]
	if !known || prop.boolean {
		return nil, &filterError{"Request_UnsupportedQuery", "Unsupported property '" + name + "' in $search on resource 'User'."}
	}
	if prop.name == "displayName" {
		want := searchTokens(value)
		return func(u *dirUser) bool {
			v, _ := prop.value(u)
			return tokensMatch(searchTokens(v), want)
		}, nil
	}
	prefix := strings.ToLower(value)
	return func(u *dirUser) bool {
		v, ok := prop.value(u)
		return ok && strings.HasPrefix(strings.ToLower(v), prefix)
	}, nil
}

// searchTokens splits text as Graph's tokenized search does: at spaces and symbols, between
// digits and letters, and where lower case turns to upper case; a word with symbols also counts
// without them ("hello.world" gives hello, world and helloworld). Tokens are lower case.
func searchTokens(s string) []string {
	var tokens []string
	for _, word := range strings.Fields(s) {
		var cur []rune
		var prev rune
		symbols := false
		flush := func() {
			if len(cur) > 0 {
				tokens = append(tokens, strings.ToLower(string(cur)))
				cur = cur[:0]
			}
		}
		for _, r := range word {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				flush()
				symbols = true
				prev = r
				continue
			}
			if len(cur) > 0 && (unicode.IsDigit(r) != unicode.IsDigit(prev) || unicode.IsLower(prev) && unicode.IsUpper(r)) {
				flush()
			}
			cur = append(cur, r)
			prev = r
		}
		flush()
		if symbols {
			joined := strings.Map(func(r rune) rune {
				if unicode.IsLetter(r) || unicode.IsDigit(r) {
					return unicode.ToLower(r)
				}
				return -1
			}, word)
			if joined != "" {
				tokens = append(tokens, joined)
			}
		}
	}
	return tokens
}

// tokensMatch reports whether every wanted token starts one of have, in any order.
func tokensMatch(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if strings.HasPrefix(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return len(want) > 0
}
