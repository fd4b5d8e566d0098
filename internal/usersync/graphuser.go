package usersync

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// GraphUser holds the microsoft.graph.user properties cspsync can filter on and map, decoded
// straight from Graph's JSON (json tags) and read by CEL expressions as `user` (cel tags, the
// same names). Null or absent properties are "", false, empty or the zero time.
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

// DecodeDeltaPage decodes a users/delta response body. It assumes Graph's default response
// (not Prefer: return=minimal), in which every user carries all selected properties: filters
// and mappings then see the whole user in delta rounds exactly as in full rounds.
func DecodeDeltaPage(body []byte) (Page, error) {
	p, err := decodePage(body, "users delta page")
	if err == nil && p.NextLink == "" && p.DeltaLink == "" {
		return Page{}, errors.New("users delta page has neither @odata.nextLink nor @odata.deltaLink: the body is not a users/delta response")
	}
	return p, err
}

// DecodeListPage decodes a list users response body (the sign-in pass); its last page has no
// link.
func DecodeListPage(body []byte) (Page, error) { return decodePage(body, "users page") }

func decodePage(body []byte, what string) (Page, error) {
	var p usersPage
	if err := json.Unmarshal(body, &p); err != nil {
		return Page{}, fmt.Errorf("%s: %w", what, err)
	}
	if p.Error != nil {
		return Page{}, fmt.Errorf("%s is a Graph error: %s: %s", what, p.Error.Code, p.Error.Message)
	}
	if p.Value == nil {
		return Page{}, fmt.Errorf("%s has no value array: the body is not a users collection", what)
	}
	for i := range p.Value {
		if p.Value[i].ID == "" {
			return Page{}, fmt.Errorf("%s: user %d has no id", what, i)
		}
	}
	return Page{Users: p.Value, NextLink: p.NextLink, DeltaLink: p.DeltaLink}, nil
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
