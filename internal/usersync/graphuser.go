package usersync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/text"
)

// GraphUser holds the microsoft.graph.user properties cspsync can filter on and map, decoded
// straight from Graph's JSON (json tags) and read by CEL expressions as `user` (cel tags, the
// same names). Null or absent properties are "", false, empty or the zero time; which ones the
// JSON left out is noted (present), since a decision must not take an absent property for empty.
type GraphUser struct {
	ID                       string            `json:"id" cel:"id"`
	DisplayName              string            `json:"displayName" cel:"displayName"`
	GivenName                string            `json:"givenName" cel:"givenName"`
	Surname                  string            `json:"surname" cel:"surname"`
	UserPrincipalName        string            `json:"userPrincipalName" cel:"userPrincipalName"`
	Mail                     string            `json:"mail" cel:"mail"`
	OtherMails               []string          `json:"otherMails" cel:"otherMails"`
	ProxyAddresses           []string          `json:"proxyAddresses" cel:"proxyAddresses"`
	JobTitle                 string            `json:"jobTitle" cel:"jobTitle"`
	Department               string            `json:"department" cel:"department"`
	CompanyName              string            `json:"companyName" cel:"companyName"`
	OfficeLocation           string            `json:"officeLocation" cel:"officeLocation"`
	EmployeeID               string            `json:"employeeId" cel:"employeeId"`
	EmployeeType             string            `json:"employeeType" cel:"employeeType"`
	BusinessPhones           []string          `json:"businessPhones" cel:"businessPhones"`
	MobilePhone              string            `json:"mobilePhone" cel:"mobilePhone"`
	OnPremisesSamAccountName string            `json:"onPremisesSamAccountName" cel:"onPremisesSamAccountName"`
	OnPremisesSyncEnabled    bool              `json:"onPremisesSyncEnabled" cel:"onPremisesSyncEnabled"`
	OnPremisesImmutableID    string            `json:"onPremisesImmutableId" cel:"onPremisesImmutableId"`
	AccountEnabled           bool              `json:"accountEnabled" cel:"accountEnabled"`
	UserType                 string            `json:"userType" cel:"userType"`
	UsageLocation            string            `json:"usageLocation" cel:"usageLocation"`
	City                     string            `json:"city" cel:"city"`
	Country                  string            `json:"country" cel:"country"`
	State                    string            `json:"state" cel:"state"`
	PostalCode               string            `json:"postalCode" cel:"postalCode"`
	StreetAddress            string            `json:"streetAddress" cel:"streetAddress"`
	PreferredLanguage        string            `json:"preferredLanguage" cel:"preferredLanguage"`
	CreatedDateTime          time.Time         `json:"createdDateTime" cel:"createdDateTime"`
	AssignedLicenses         []AssignedLicense `json:"assignedLicenses" cel:"assignedLicenses"`
	// SignInActivity comes only from list users (premium tenants), never from users/delta.
	SignInActivity SignInActivity `json:"signInActivity" cel:"signInActivity"`
	// Removed is set for a user users/delta reports deleted; he carries only his ID then.
	Removed *Removed `json:"@removed" cel:"-"`
	// Unreadable says why his JSON could not be read (a property of the wrong type, an id that
	// is no GUID, no object at all); "" for every readable user. Such a user is decided invalid
	// with that reason and nothing of him is written: the page's other users go on.
	Unreadable string `json:"-" cel:"-"`
	// present has the propBits of the properties his JSON carried, null ones included, and
	// nulls those that were null; marked says they were noted (a GraphUser built in Go carries
	// every property).
	present, nulls uint64
	marked         bool
}

// missing returns the bits of mask whose properties his JSON left out.
func (u *GraphUser) missing(mask uint64) uint64 {
	if !u.marked {
		return 0
	}
	return mask &^ u.present
}

// accountState is his accountEnabled and whether Graph told it: a property left out or null is
// unknown, never false.
func (u *GraphUser) accountState() (enabled, known bool) {
	bit := propBits["accountEnabled"]
	if u.marked && (u.present&bit == 0 || u.nulls&bit != 0) {
		return false, false
	}
	return u.AccountEnabled, true
}

// AssignedLicense is one licence of a user (Graph's assignedLicense, without disabledPlans).
type AssignedLicense struct {
	SkuID string `json:"skuId" cel:"skuId"`
}

// SignInActivity is Graph's signInActivity; Graph sends null for dates it does not know.
type SignInActivity struct {
	LastSignInDateTime               time.Time `json:"lastSignInDateTime" cel:"lastSignInDateTime"`
	LastNonInteractiveSignInDateTime time.Time `json:"lastNonInteractiveSignInDateTime" cel:"lastNonInteractiveSignInDateTime"`
	LastSuccessfulSignInDateTime     time.Time `json:"lastSuccessfulSignInDateTime" cel:"lastSuccessfulSignInDateTime"`
}

// Removed is users/delta's @removed: reason "changed" for a soft-deleted user (restorable for
// 30 days), "deleted" for a permanently deleted one. cspsync treats both alike.
type Removed struct {
	Reason string `json:"reason"`
}

// Page is one users/delta page. Removed users stay in Users (Removed set) so that the page's
// order, which decides between two reports of one user, is kept.
type Page struct {
	Users     []GraphUser
	NextLink  string // more pages follow in this round
	DeltaLink string // the round is complete; start the next round here
}

type usersPage struct {
	Value     []GraphUser `json:"value"`
	NextLink  string      `json:"@odata.nextLink"`
	DeltaLink string      `json:"@odata.deltaLink"`
	Error     *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// DecodeDeltaPage decodes a users/delta response body and notes which properties each user
// carried: in a round from a delta link Graph may send an updated user with only the
// properties that changed (see Partial).
func DecodeDeltaPage(body []byte) (Page, error) {
	p, err := decodePage(body, "users delta page")
	if err == nil && p.NextLink == "" && p.DeltaLink == "" {
		return Page{}, errors.New("users delta page has neither @odata.nextLink nor @odata.deltaLink: the body is not a users/delta response")
	}
	return p, err
}

// Partial lists, once each, the ids of the page's users (removed ones aside) whose JSON left
// out one of props (Graph's property names; a null counts as sent). Graph documents that an
// updated user comes with "at least the properties that have been updated": filters and
// mappings need such a user read again in full. Only delta-link rounds send partial users; in
// a full round a property left out is null.
func (p Page) Partial(props []string) []string {
	var want uint64
	for _, name := range props {
		want |= propBits[name]
	}
	var ids []string
	for i := range p.Users {
		u := &p.Users[i]
		if u.Removed == nil && u.Unreadable == "" && u.present&want != want && !slices.Contains(ids, u.ID) {
			ids = append(ids, u.ID)
		}
	}
	return ids
}

// GoneWhenReadAgain is the removal reason of a partial user Graph no longer returned when read
// again: he was deleted since the page.
const GoneWhenReadAgain = "gone when read again"

// Complete puts the users read again in full (full, from list users) in place of the page's
// partial ones (ids, from Partial); a partial user missing from full is removed.
func (p *Page) Complete(ids []string, full []GraphUser) {
	byID := make(map[string]*GraphUser, len(full))
	for i := range full {
		byID[full[i].ID] = &full[i]
	}
	for i := range p.Users {
		u := &p.Users[i]
		if u.Removed != nil || u.Unreadable != "" || !slices.Contains(ids, u.ID) {
			continue
		}
		if f := byID[u.ID]; f != nil {
			*u = *f
		} else {
			*u = GraphUser{ID: u.ID, Removed: &Removed{Reason: GoneWhenReadAgain}}
		}
	}
}

// DecodeListPage decodes a list users response body (users read again by id, the sign-in pass)
// and notes which properties each user carried; its last page has no link.
func DecodeListPage(body []byte) (Page, error) {
	return decodePage(body, "users page")
}

// rawPage is a users page whose users are kept as JSON, to read them one by one.
type rawPage struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
	Error     json.RawMessage   `json:"error"`
}

// decodePage decodes a page of users and notes which properties each carried. A user whose
// JSON cannot be read (a property of the wrong type, no id, an id that is no GUID) fails only
// himself: he comes back Unreadable, the page's others as usual. The page fails only when its
// own structure does (not JSON, a Graph error, no value array).
func decodePage(body []byte, what string) (Page, error) {
	var p usersPage
	err := json.Unmarshal(body, &p)
	if err == nil && p.Error == nil && !slices.ContainsFunc(p.Value, func(u GraphUser) bool { return u.ID == "" }) {
		markPresent(body, p.Value)
	} else if p, err = decodeUserByUser(body, what); err != nil {
		return Page{}, err
	}
	if p.Error != nil {
		return Page{}, fmt.Errorf("%s is a Graph error: %s: %s", what, p.Error.Code, p.Error.Message)
	}
	if p.Value == nil {
		return Page{}, fmt.Errorf("%s has no value array: the body is not a users collection", what)
	}
	for i := range p.Value {
		u := &p.Value[i]
		u.clean()
		if u.Unreadable != "" {
			u.Unreadable = unreadable(i, u.Unreadable)
		}
	}
	return Page{Users: p.Value, NextLink: p.NextLink, DeltaLink: p.DeltaLink}, nil
}

// unreadable is the reason an unreadable user is logged invalid with.
func unreadable(i int, why string) string {
	return text.Clean(fmt.Sprintf("user %d of the page could not be read: %s; the page's other users went on, and he is read "+
		"again in the next round", i+1, why), text.MaxMessage)
}

// RefuseOddIDs makes Unreadable each readable user whose id is no GUID, and takes that id
// from him. Graph's user ids are GUIDs and PostgreSQL keeps them as uuid: one that is not
// would fail every query and write of his page, not just his own.
func RefuseOddIDs(users []GraphUser) {
	for i := range users {
		u := &users[i]
		if u.Unreadable == "" && !guidRE.MatchString(u.ID) {
			u.Unreadable = unreadable(i, fmt.Sprintf("Graph sent his id as %q, which is no GUID (Graph's user ids are)", u.ID))
			u.ID = ""
		}
	}
}

// decodeUserByUser reads a page whose users did not all decode: each user alone, so that one
// of them with a property of the wrong type (accountEnabled "yes", a number for a name) or
// without an id is Unreadable, with the reason, and the others are read.
func decodeUserByUser(body []byte, what string) (usersPage, error) {
	var raw rawPage
	if err := json.Unmarshal(body, &raw); err != nil {
		return usersPage{}, fmt.Errorf("%s: %w", what, err)
	}
	p := usersPage{NextLink: raw.NextLink, DeltaLink: raw.DeltaLink}
	if len(raw.Error) > 0 && string(raw.Error) != "null" {
		p.Error = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{Code: "unreadable", Message: text.Clean(string(raw.Error), text.MaxMessage)}
		_ = json.Unmarshal(raw.Error, p.Error) // its code and message when they are strings
		return p, nil
	}
	if raw.Value == nil {
		return p, nil
	}
	p.Value = make([]GraphUser, len(raw.Value))
	for i, r := range raw.Value {
		u := &p.Value[i]
		if err := json.Unmarshal(r, u); err != nil || bytes.TrimSpace(r)[0] != '{' {
			var id struct {
				ID any `json:"id"`
			}
			_ = json.Unmarshal(r, &id)
			s, _ := id.ID.(string)
			why := "it is no JSON object"
			if err != nil {
				why = err.Error()
			}
			*u = GraphUser{ID: s, Unreadable: "Graph sent a property he cannot have (" + why + ")"}
			continue
		}
		if u.ID == "" {
			u.Unreadable = "Graph sent him without an id"
			continue
		}
		markPresent(append(append([]byte(`{"value":[`), r...), "]}"...), p.Value[i:i+1])
	}
	return p, nil
}

// guidRE is the form of Graph's object ids, which PostgreSQL keeps as uuid.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// MaxValue bounds, in bytes, each text value of a Graph user as it is decoded. It is four times
// the longest PSA field in characters and more: a value cut to it is still too long for every
// field, so the user is invalid (with the reason) rather than stored cut short.
const MaxValue = 8192

// clean makes every text value of a user from Graph safe to decide on and store, in the one
// place all of them pass (text.Clean: controls, escapes, bidi formatting and invalid UTF-8
// dropped, letters of every script and combining marks kept, MaxValue bytes at most). Ids,
// codes and enumerations are bounded as codes.
func (u *GraphUser) clean() {
	for _, s := range []*string{&u.DisplayName, &u.GivenName, &u.Surname, &u.UserPrincipalName, &u.Mail,
		&u.JobTitle, &u.Department, &u.CompanyName, &u.OfficeLocation, &u.EmployeeID, &u.EmployeeType,
		&u.MobilePhone, &u.OnPremisesSamAccountName, &u.OnPremisesImmutableID, &u.City, &u.Country,
		&u.State, &u.PostalCode, &u.StreetAddress} {
		*s = text.Clean(*s, MaxValue)
	}
	for _, s := range []*string{&u.ID, &u.UserType, &u.UsageLocation, &u.PreferredLanguage} {
		*s = text.Clean(*s, text.MaxCode)
	}
	for _, list := range [][]string{u.OtherMails, u.ProxyAddresses, u.BusinessPhones} {
		for i := range list {
			list[i] = text.Clean(list[i], MaxValue)
		}
	}
	for i := range u.AssignedLicenses {
		u.AssignedLicenses[i].SkuID = text.Clean(u.AssignedLicenses[i].SkuID, text.MaxCode)
	}
	if u.Removed != nil {
		u.Removed.Reason = text.Clean(u.Removed.Reason, text.MaxCode)
	}
}

// propBits gives each top-level JSON property of GraphUser a bit of GraphUser.present.
var propBits = func() map[string]uint64 {
	m := map[string]uint64{}
	t := reflect.TypeFor[GraphUser]()
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("json"); name != "" && name != "-" {
			m[name] = 1 << len(m)
		}
	}
	if len(m) > 64 {
		panic("usersync: GraphUser has more JSON properties than GraphUser.present has bits")
	}
	return m
}()

// markPresent sets each user's present bits from the page body, which json.Unmarshal has
// validated: one pass over the bytes that finds the keys of the objects in "value" without
// decoding anything (a few percent of the decoding's cost). A key written with escapes is
// not recognised, which only makes a user look partial: he is read again, never misread.
func markPresent(body []byte, users []GraphUser) {
	for i := range users {
		users[i].marked = true
	}
	depth, user := 0, -1
	valueKey, inValue := false, false
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			start := i + 1
			i = stringEnd(body, start)
			if depth != 1 && !(inValue && depth == 3) {
				continue
			}
			j := i + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
				j++
			}
			if j == len(body) || body[j] != ':' {
				continue // a value, not a key
			}
			if depth == 1 {
				valueKey = string(body[start:i]) == "value"
			} else if user < len(users) {
				bit := propBits[string(body[start:i])]
				users[user].present |= bit
				k := j + 1
				for k < len(body) && (body[k] == ' ' || body[k] == '\t' || body[k] == '\n' || body[k] == '\r') {
					k++
				}
				if k < len(body) && body[k] == 'n' { // the only JSON value starting with n is null
					users[user].nulls |= bit
				}
			}
		case '{', '[':
			depth++
			if depth == 2 && valueKey && body[i] == '[' {
				inValue = true
			} else if depth == 3 && inValue && body[i] == '{' {
				user++
			}
		case '}', ']':
			depth--
			if depth == 1 {
				inValue = false
			}
		}
	}
}

// stringEnd returns the index of the quote that closes the JSON string starting at start.
func stringEnd(b []byte, start int) int {
	for i := start; ; {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b) - 1
		}
		i += q
		n := 0 // backslashes before the quote: an odd count escapes it
		for k := i - 1; k >= start && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
		i++
	}
}

// property describes one user property a CEL expression can read.
type property struct {
	path string // as written in CEL: user.department, user.signInActivity.lastSignInDateTime
	typ  string // as shown in fixes
}

// listOnly are the top-level properties users/delta cannot track.
var listOnly = map[string]bool{"signInActivity": true}

// properties lists every readable property, sorted, from GraphUser's cel tags.
var properties = func() []property {
	var out []property
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("cel")
			if name == "" || name == "-" {
				continue
			}
			switch {
			case f.Type == reflect.TypeFor[SignInActivity]():
				walk(prefix+name+".", f.Type)
			case f.Type == reflect.TypeFor[[]AssignedLicense]():
				out = append(out, property{prefix + name, "list of {skuId}"})
			default:
				out = append(out, property{prefix + name, celTypeName(f.Type)})
			}
		}
	}
	walk("user.", reflect.TypeFor[GraphUser]())
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}()

func celTypeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "timestamp"
	case t.Kind() == reflect.Slice:
		return "list of " + celTypeName(t.Elem())
	}
	return t.Kind().String()
}

// propertyList is the fix text naming every property with its type.
var propertyList = func() string {
	parts := make([]string, len(properties))
	for i, p := range properties {
		parts[i] = p.path + " (" + p.typ + ")"
	}
	return "properties are " + strings.Join(parts, ", ")
}()
