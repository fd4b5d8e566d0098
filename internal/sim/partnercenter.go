package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Partner Center REST (api.partnercenter.microsoft.com/v1), the customer-facing subset cspsync
// reads: customers with continuation paging, subscriptions and subscribed SKUs.

// pcErrorBody is Partner Center's documented error ("Partner Center REST error codes"): code is
// a string there, though the pages' examples also show numbers, which clients must read too.
type pcErrorBody struct {
	Code        int      `json:"code,string"`
	Description string   `json:"description"`
	Data        []string `json:"data"`
	Source      string   `json:"source"`
}

// Partner Center's documented error codes ("Partner Center REST error codes") for what the
// simulator refuses.
const (
	pcAccessDenied         = 400    // 401: token invalid, expired or for another audience
	pcNotFound             = 1000   // 404: no such resource
	pcNoRelationship       = 20002  // 403: the partner has no commerce relationship with the customer
	pcSubscriptionNotFound = 20003  // 404
	pcTokenMissing         = 800001 // 401: partner token missing in request context
	pcInvalidInput         = 800002 // 400: invalid request input
	pcUnexpectedError      = 800003 // 5xx
	pcResellerInactive     = 800039 // 403: reseller program status isn't active
	pcInvalidCustomerID    = 900118 // 400
	pcRoleLacksRights      = 900150 // 403: the supplied role doesn't have the rights
)

func writePCError(w http.ResponseWriter, status, code int, format string, args ...any) {
	writeJSON(w, status, pcErrorBody{Code: code, Description: fmt.Sprintf(format, args...), Data: []string{}, Source: "PartnerFD"})
}

// writePCThrottled answers like Partner Center's rate limiter, whose 429 body has its own
// shape ("API throttling guidance").
func writePCThrottled(w http.ResponseWriter, retryAfter string) {
	w.Header().Set("Retry-After", retryAfter)
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"statusCode": http.StatusTooManyRequests,
		"message":    "Rate limit is exceeded. Try again in " + retryAfter + " seconds.",
	})
}

// partnerCenter wraps a handler with what every Partner Center call shares: request id
// headers, counting, fault injection and bearer token validation.
func (s *Server) partnerCenter(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, name := range []string{"MS-RequestId", "MS-CorrelationId"} {
			v := r.Header.Get(name)
			if v == "" {
				v = newUUID()
			}
			w.Header().Set(name, v)
		}
		s.mu.Lock()
		s.stats.PartnerCenterRequests++
		s.countRequest(APIPartnerCenter)
		s.mu.Unlock()
		if s.injectFault(w, r, APIPartnerCenter) {
			return
		}
		if code, msg := s.pcAuthenticate(r); msg != "" {
			// As documented: an OAuth challenge whose realm names the partner's commerce id.
			w.Header().Set("WWW-Authenticate", "OAuth realm=urn:cpsvc:cpid:"+derivedUUID("commerce-partner", s.dir.partner.ID))
			writePCError(w, http.StatusUnauthorized, code, "%s", msg)
			return
		}
		h(w, r)
	}
}

// pcAuthenticate returns the error code and why the request is not authorised, or "".
func (s *Server) pcAuthenticate(r *http.Request) (int, string) {
	tok, ok := bearerToken(r)
	if !ok {
		return pcTokenMissing, "Partner Token missing in request context: send an Authorization header with a Bearer token."
	}
	var c accessClaims
	switch err := s.sign.parseJWT(tok, &c); {
	case err == errMalformed:
		return pcAccessDenied, "Access denied: the access token is malformed."
	case err != nil:
		return pcAccessDenied, "Access denied: the access token signature is invalid."
	case s.now().Unix() >= c.Exp:
		return pcAccessDenied, "Access denied: the access token has expired."
	case c.Aud != resPartnerCenter.aud:
		return pcAccessDenied, fmt.Sprintf("Access denied: the access token audience '%s' is not valid for Partner Center.", c.Aud)
	case c.Tid != s.dir.partner.ID:
		return pcAccessDenied, fmt.Sprintf("Access denied: the access token was issued for tenant '%s', which is not a Partner Center partner tenant.", c.Tid)
	}
	return 0, ""
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

type pcLink struct {
	URI     string     `json:"uri"`
	Method  string     `json:"method"`
	Headers []pcHeader `json:"headers"`
}

type pcHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func pcGet(uri string) pcLink { return pcLink{URI: uri, Method: http.MethodGet, Headers: []pcHeader{}} }

type pcAttributes struct {
	Etag       string `json:"etag,omitempty"`
	ObjectType string `json:"objectType"`
}

type pcCollection struct {
	TotalCount int               `json:"totalCount"`
	Items      any               `json:"items"`
	Links      map[string]pcLink `json:"links"`
	Attributes pcAttributes      `json:"attributes"`
}

// writePCCollection answers an unpaged collection. Like Partner Center's ResourceCollection,
// totalCount is the number of items in the response.
func writePCCollection[T any](w http.ResponseWriter, self string, items []T) {
	writeJSON(w, http.StatusOK, pcCollection{TotalCount: len(items), Items: items,
		Links: map[string]pcLink{"self": pcGet(self)}, Attributes: pcAttributes{ObjectType: "Collection"}})
}

type pcCustomer struct {
	ID                    string            `json:"id"`
	CommerceID            string            `json:"commerceId"`
	CompanyProfile        pcCompanyProfile  `json:"companyProfile"`
	BillingProfile        *pcBillingProfile `json:"billingProfile,omitempty"`
	RelationshipToPartner string            `json:"relationshipToPartner"`
	AllowDelegatedAccess  bool              `json:"allowDelegatedAccess"`
	CustomDomains         []string          `json:"customDomains,omitempty"`
	Links                 map[string]pcLink `json:"links"`
	Attributes            pcAttributes      `json:"attributes"`
}

type pcCompanyProfile struct {
	TenantID    string            `json:"tenantId"`
	Domain      string            `json:"domain"`
	CompanyName string            `json:"companyName"`
	Address     *pcCompanyAddress `json:"address,omitempty"`
	Email       string            `json:"email,omitempty"`
	Links       map[string]pcLink `json:"links"`
	Attributes  pcAttributes      `json:"attributes"`
}

type pcCompanyAddress struct {
	Country      string `json:"country"`
	Region       string `json:"region"`
	City         string `json:"city"`
	AddressLine1 string `json:"addressLine1"`
	PostalCode   string `json:"postalCode"`
	PhoneNumber  string `json:"phoneNumber"`
}

type pcBillingProfile struct {
	ID             string            `json:"id"`
	FirstName      string            `json:"firstName"`
	LastName       string            `json:"lastName"`
	Email          string            `json:"email"`
	Culture        string            `json:"culture"`
	Language       string            `json:"language"`
	CompanyName    string            `json:"companyName"`
	DefaultAddress pcAddress         `json:"defaultAddress"`
	Links          map[string]pcLink `json:"links"`
	Attributes     pcAttributes      `json:"attributes"`
}

type pcAddress struct {
	Country      string `json:"country"`
	City         string `json:"city"`
	State        string `json:"state"`
	AddressLine1 string `json:"addressLine1"`
	PostalCode   string `json:"postalCode"`
	FirstName    string `json:"firstName"`
	LastName     string `json:"lastName"`
	PhoneNumber  string `json:"phoneNumber"`
}

// pcCustomerOf renders a customer as the customer list shows it; withBilling adds what only
// GET /customers/{id} returns: the company's address and email, the billing profile and the
// custom domains.
func pcCustomerOf(o *org, withBilling bool) pcCustomer {
	self := "/customers/" + o.ID
	c := pcCustomer{
		ID: o.ID, CommerceID: derivedUUID("commerce", o.ID),
		CompanyProfile: pcCompanyProfile{TenantID: o.ID, Domain: o.Domain, CompanyName: o.Name,
			Links:      map[string]pcLink{"self": pcGet(self + "/profiles/company")},
			Attributes: pcAttributes{ObjectType: "CustomerCompanyProfile"}},
		// A reseller relationship; delegated access means DAP (GDAP-only customers have none).
		RelationshipToPartner: "reseller",
		AllowDelegatedAccess:  o.Relationship == RelationshipDAP,
		Links:                 map[string]pcLink{"self": pcGet(self)},
		Attributes:            pcAttributes{ObjectType: "Customer"},
	}
	if withBilling {
		first, last, _ := strings.Cut(o.Admin.DisplayName, " ")
		country := "US"
		if u := o.user(o.Admin.ID); u != nil && u.UsageLocation != "" {
			country = u.UsageLocation
		}
		loc, ok := locations[country]
		if !ok {
			loc = locations["US"]
		}
		phone := strings.NewReplacer("%04d", "0100", " ", "", "+", "").Replace(loc.phone)
		c.CompanyProfile.Address = &pcCompanyAddress{Country: country, Region: loc.state, City: loc.city,
			AddressLine1: loc.street, PostalCode: loc.postal, PhoneNumber: phone}
		c.CompanyProfile.Email = o.Admin.UPN
		c.CustomDomains = []string{o.Domain}
		c.BillingProfile = &pcBillingProfile{
			ID: derivedUUID("billing-profile", o.ID), FirstName: first, LastName: last, Email: o.Admin.UPN,
			Culture: "en-US", Language: "en", CompanyName: o.Name,
			DefaultAddress: pcAddress{Country: country, City: loc.city, State: loc.state, AddressLine1: loc.street,
				PostalCode: loc.postal, FirstName: first, LastName: last, PhoneNumber: phone},
			Links:      map[string]pcLink{"self": pcGet(self + "/profiles/billing")},
			Attributes: pcAttributes{Etag: etag(o.ID, o.Name, o.Admin.UPN), ObjectType: "CustomerBillingProfile"},
		}
	}
	return c
}

// pcCursor is the continuation token: an offset, signed so it is tamper-proof and stays valid
// after a restart (a client resuming from a stored token gets the next page).
type pcCursor struct {
	Kind   string `json:"k"`
	Offset int    `json:"o"`
}

const pcMaxPageSize = 500

func (s *Server) pcCustomers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := pcMaxPageSize
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > pcMaxPageSize {
			writePCError(w, http.StatusBadRequest, pcInvalidInput, "Invalid request input: the size parameter must be an integer between 1 and %d; got '%s'.", pcMaxPageSize, v)
			return
		}
		size = n
	}
	offset := 0
	if seek := q.Get("seekOperation"); seek != "" {
		if !strings.EqualFold(seek, "Next") {
			writePCError(w, http.StatusBadRequest, pcInvalidInput, "Invalid request input: seek operation '%s' is not supported.", seek)
			return
		}
		tok := r.Header.Get("MS-ContinuationToken")
		var c pcCursor
		if tok == "" {
			writePCError(w, http.StatusBadRequest, pcInvalidInput, "Invalid request input: the MS-ContinuationToken header is required with seekOperation=Next.")
			return
		}
		if s.sign.open(purposeCursor, tok, &c) != nil || c.Kind != "customers" {
			writePCError(w, http.StatusBadRequest, pcInvalidInput, "Invalid request input: the continuation token is invalid.")
			return
		}
		offset = c.Offset
	}
	s.mu.Lock()
	all := make([]*org, 0, len(s.dir.customers))
	for _, o := range s.dir.customers {
		if s.listedLocked(o) {
			all = append(all, o)
		}
	}
	s.mu.Unlock()
	end := min(offset+size, len(all))
	items := make([]pcCustomer, 0, max(end-offset, 0))
	for _, o := range all[min(offset, len(all)):end] {
		items = append(items, pcCustomerOf(o, false))
	}
	self := fmt.Sprintf("/customers?size=%d", size)
	links := map[string]pcLink{"self": pcGet(self)}
	if end < len(all) {
		links["next"] = pcLink{
			URI: self + "&seekOperation=Next", Method: http.MethodGet,
			Headers: []pcHeader{{"MS-ContinuationToken", s.sign.seal(purposeCursor, pcCursor{"customers", end})}},
		}
	}
	// Like Partner Center's ResourceCollection, totalCount is the number of items in this page.
	writeJSON(w, http.StatusOK, pcCollection{TotalCount: len(items), Items: items, Links: links, Attributes: pcAttributes{ObjectType: "Collection"}})
}

// pcCustomer finds the customer in the path, or answers as Partner Center does for a tenant
// that is not the partner's customer.
func (s *Server) pcCustomer(w http.ResponseWriter, r *http.Request) *org {
	id := r.PathValue("customer")
	if !isGUID(strings.ToLower(id)) {
		writePCError(w, http.StatusBadRequest, pcInvalidCustomerID, "Invalid Customer ID '%s': a customer id is the customer's tenant GUID.", id)
		return nil
	}
	o := s.dir.customer(id)
	if o != nil {
		s.mu.Lock()
		if !s.listedLocked(o) {
			o = nil // no longer the partner's customer
		}
		s.mu.Unlock()
	}
	if o == nil {
		writePCError(w, http.StatusForbidden, pcNoRelationship, "The partner ID %s has no commerce relationship with the customer ID %s.", s.dir.partner.ID, id)
	}
	return o
}

// pcLicenceAccess answers 403 when the partner may not read the customer's licences:
// subscriptions needs the reseller membership, and both licence endpoints need a GDAP role
// that can read licences. It reports whether the request may go on.
func (s *Server) pcLicenceAccess(w http.ResponseWriter, o *org, subscriptions bool) bool {
	s.mu.Lock()
	refused := s.sc.MembershipRefused
	rel := s.gdapOfLocked(o)
	missingRole := rel != nil && !rel.grantsLicenceRead() // DAP grants every role
	s.mu.Unlock()
	switch {
	case subscriptions && refused:
		writePCError(w, http.StatusForbidden, pcResellerInactive, "Reseller program status isn't active: partner %s has no active CSP reseller membership, which the subscriptions API requires.", s.dir.partner.ID)
	case missingRole:
		writePCError(w, http.StatusForbidden, pcRoleLacksRights, "The supplied role doesn't have the rights to perform the requested operation: no active GDAP relationship with customer %s grants Directory Readers, Global Reader, User Administrator or License Administrator.", o.ID)
	default:
		return true
	}
	return false
}

func (s *Server) pcCustomerByID(w http.ResponseWriter, r *http.Request) {
	if o := s.pcCustomer(w, r); o != nil {
		s.mu.Lock() // the billing contact's user may change at runtime
		c := pcCustomerOf(o, true)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, c)
	}
}

type pcSubscription struct {
	ID                   string            `json:"id"`
	EntitlementID        string            `json:"entitlementId"`
	OfferID              string            `json:"offerId"`
	OfferName            string            `json:"offerName"`
	FriendlyName         string            `json:"friendlyName"`
	ProductType          pcProductType     `json:"productType"`
	Quantity             int               `json:"quantity"`
	UnitType             string            `json:"unitType"`
	HasPurchasableAddons bool              `json:"hasPurchasableAddons"`
	CreationDate         string            `json:"creationDate"`
	EffectiveStartDate   string            `json:"effectiveStartDate"`
	CommitmentEndDate    string            `json:"commitmentEndDate"`
	Status               string            `json:"status"`
	AutoRenewEnabled     bool              `json:"autoRenewEnabled"`
	IsTrial              bool              `json:"isTrial"`
	BillingType          string            `json:"billingType"`
	BillingCycle         string            `json:"billingCycle"`
	TermDuration         string            `json:"termDuration"`
	IsMicrosoftProduct   bool              `json:"isMicrosoftProduct"`
	PublisherName        string            `json:"publisherName"`
	ContractType         string            `json:"contractType"`
	Links                map[string]pcLink `json:"links"`
	OrderID              string            `json:"orderId"`
	Attributes           pcAttributes      `json:"attributes"`
}

type pcProductType struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

const pcTime = "2006-01-02T15:04:05Z"

// pcSubscriptionOf renders a licence-based new-commerce subscription. Offer ids are
// "product:sku", which the product and SKU links split.
func pcSubscriptionOf(o *org, sub Subscription) pcSubscription {
	created := sub.CreationDate.UTC()
	product, sku, _ := strings.Cut(sub.OfferID, ":")
	links := map[string]pcLink{
		"offer":   pcGet("/offers/" + sub.OfferID + "?country=US"),
		"product": pcGet("/products/" + product + "?country=US"),
		"self":    pcGet("/customers/" + o.ID + "/subscriptions/" + sub.ID),
	}
	if sku != "" {
		links["sku"] = pcGet("/products/" + product + "/skus/" + sku + "?country=US")
	}
	return pcSubscription{
		ID: sub.ID, EntitlementID: derivedUUID("entitlement", o.ID, sub.ID),
		OfferID: sub.OfferID, OfferName: sub.OfferName, FriendlyName: sub.FriendlyName,
		ProductType: pcProductType{"OnlineServicesNCE", "OnlineServicesNCE"},
		Quantity:    sub.Quantity, UnitType: "Licenses",
		CreationDate: created.Format(pcTime), EffectiveStartDate: created.Truncate(24 * time.Hour).Format(pcTime),
		CommitmentEndDate: sub.CommitmentEndDate.UTC().Format(pcTime), Status: sub.Status,
		AutoRenewEnabled: sub.AutoRenewEnabled, IsTrial: sub.IsTrial,
		BillingType: "license", BillingCycle: sub.BillingCycle, TermDuration: sub.TermDuration,
		IsMicrosoftProduct: true, PublisherName: "Microsoft Corporation", ContractType: "subscription",
		Links: links, OrderID: derivedUUID("order", o.ID, sub.ID),
		Attributes: pcAttributes{Etag: subscriptionEtag(sub), ObjectType: "Subscription"},
	}
}

// subscriptionEtag has the shape of Partner Center's subscription etags, base64 of
// {"id":…,"version":…}; the version is a hash of the content, so it changes with every change.
func subscriptionEtag(sub Subscription) string {
	raw, _ := json.Marshal(sub)
	h := fnv.New32a()
	h.Write(raw)
	v, _ := json.Marshal(struct {
		ID      string `json:"id"`
		Version uint32 `json:"version"`
	}{strings.ToLower(sub.ID), h.Sum32()})
	return base64.StdEncoding.EncodeToString(v)
}

// etag is an opaque version tag for other resources, derived from their content.
func etag(parts ...string) string {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return strconv.FormatInt(int64(h.Sum64()), 10)
}

func (s *Server) pcSubscriptions(w http.ResponseWriter, r *http.Request) {
	o := s.pcCustomer(w, r)
	if o == nil || !s.pcLicenceAccess(w, o, true) {
		return
	}
	s.mu.Lock() // subscriptions change at runtime
	items := make([]pcSubscription, 0, len(o.Subscriptions))
	for _, sub := range o.Subscriptions {
		items = append(items, pcSubscriptionOf(o, sub))
	}
	s.mu.Unlock()
	writePCCollection(w, "/customers/"+o.ID+"/subscriptions", items)
}

func (s *Server) pcSubscription(w http.ResponseWriter, r *http.Request) {
	o := s.pcCustomer(w, r)
	if o == nil || !s.pcLicenceAccess(w, o, true) {
		return
	}
	id := r.PathValue("subscription")
	s.mu.Lock()
	sub := o.subscription(id)
	var item pcSubscription
	if sub != nil {
		item = pcSubscriptionOf(o, *sub)
	}
	s.mu.Unlock()
	if sub == nil {
		writePCError(w, http.StatusNotFound, pcSubscriptionNotFound, "Subscription with ID %s not found.", id)
		return
	}
	writeJSON(w, http.StatusOK, item)
}

type pcSubscribedSku struct {
	AvailableUnits   int             `json:"availableUnits"`
	ActiveUnits      int             `json:"activeUnits"`
	ConsumedUnits    int             `json:"consumedUnits"`
	SuspendedUnits   int             `json:"suspendedUnits"`
	TotalUnits       int             `json:"totalUnits"`
	WarningUnits     int             `json:"warningUnits"`
	ProductSku       pcProductSku    `json:"productSku"`
	ServicePlans     []pcServicePlan `json:"servicePlans"`
	CapabilityStatus string          `json:"capabilityStatus"`
	Attributes       pcAttributes    `json:"attributes"`
}

type pcProductSku struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	SkuPartNumber  string `json:"skuPartNumber"`
	TargetType     string `json:"targetType"`
	LicenseGroupID string `json:"licenseGroupId"`
}

type pcServicePlan struct {
	DisplayName      string `json:"displayName"`
	ServiceName      string `json:"serviceName"`
	ID               string `json:"id"`
	CapabilityStatus string `json:"capabilityStatus"`
	TargetType       string `json:"targetType"`
}

func (s *Server) pcSubscribedSkus(w http.ResponseWriter, r *http.Request) {
	o := s.pcCustomer(w, r)
	if o == nil || !s.pcLicenceAccess(w, o, false) {
		return
	}
	// License group1 holds every product whose licences Entra ID manages (all the simulator
	// has), group2 only Minecraft licences. No filter means every group.
	groups := r.URL.Query()["licenseGroupIds"]
	group1 := len(groups) == 0
	for _, g := range groups {
		switch strings.ToLower(g) {
		case "group1":
			group1 = true
		case "group2":
		default:
			writePCError(w, http.StatusBadRequest, pcInvalidInput, "Invalid request input: licenseGroupIds value '%s' is not Group1 or Group2.", g)
			return
		}
	}
	items := []pcSubscribedSku{}
	if group1 {
		s.mu.Lock() // subscriptions and licence assignments change at runtime
		for i := range o.Skus {
			k := &o.Skus[i]
			u := o.units(k)
			status := u.capabilityStatus()
			plans := make([]pcServicePlan, 0, len(k.ServicePlans))
			for _, p := range k.ServicePlans {
				plans = append(plans, pcServicePlan{DisplayName: orDefault(p.DisplayName, p.Name), ServiceName: p.Name, ID: p.ID, CapabilityStatus: status, TargetType: "User"})
			}
			items = append(items, pcSubscribedSku{
				AvailableUnits: u.available(), ActiveUnits: u.Enabled, ConsumedUnits: u.Consumed,
				SuspendedUnits: u.Suspended, TotalUnits: u.total(), WarningUnits: u.Warning,
				ProductSku:   pcProductSku{ID: k.SkuID, Name: k.Name, SkuPartNumber: k.PartNumber, TargetType: "User", LicenseGroupID: "group1"},
				ServicePlans: plans, CapabilityStatus: status, Attributes: pcAttributes{ObjectType: "SubscribedSku"},
			})
		}
		s.mu.Unlock()
	}
	writePCCollection(w, "/customers/"+o.ID+"/subscribedskus", items)
}

func (s *Server) pcNotFound(w http.ResponseWriter, r *http.Request) {
	writePCError(w, http.StatusNotFound, pcNotFound, "Not found: the resource '%s' does not exist.", r.URL.Path)
}
