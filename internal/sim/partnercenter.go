package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Partner Center REST (api.partnercenter.microsoft.com/v1), the customer-facing subset cspsync
// reads: customers with continuation paging, subscriptions and subscribed SKUs.

type pcErrorBody struct {
	Code        int      `json:"code"`
	Description string   `json:"description"`
	Data        []string `json:"data"`
	Source      string   `json:"source"`
}

// pcGenericError is the code Partner Center uses for generic failures; the description carries
// the detail.
const pcGenericError = 3000

func writePCError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, pcErrorBody{Code: pcGenericError, Description: fmt.Sprintf(format, args...), Data: []string{}, Source: "PartnerFD"})
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
		if msg := s.pcAuthenticate(r); msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://api.partnercenter.microsoft.com"`)
			writePCError(w, http.StatusUnauthorized, "%s", msg)
			return
		}
		h(w, r)
	}
}

// pcAuthenticate returns why the request is not authorised, or "".
func (s *Server) pcAuthenticate(r *http.Request) string {
	tok, ok := bearerToken(r)
	if !ok {
		return "Authorization header with a Bearer token is required."
	}
	var c accessClaims
	switch err := s.sign.parseJWT(tok, &c); {
	case err == errMalformed:
		return "The access token is malformed."
	case err != nil:
		return "The access token signature is invalid."
	case s.now().Unix() >= c.Exp:
		return "The access token has expired."
	case c.Aud != resPartnerCenter.aud:
		return fmt.Sprintf("The access token audience '%s' is not valid for Partner Center.", c.Aud)
	case c.Tid != s.dir.partner.ID:
		return fmt.Sprintf("The access token was issued for tenant '%s', which is not a Partner Center partner tenant.", c.Tid)
	}
	return ""
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

type pcAttributes struct {
	ObjectType string `json:"objectType"`
}

type pcCollection struct {
	TotalCount int               `json:"totalCount"`
	Items      any               `json:"items"`
	Links      map[string]pcLink `json:"links"`
	Attributes pcAttributes      `json:"attributes"`
}

type pcCustomer struct {
	ID                    string           `json:"id"`
	CommerceID            string           `json:"commerceId"`
	CompanyProfile        pcCompanyProfile `json:"companyProfile"`
	RelationshipToPartner string           `json:"relationshipToPartner"`
	AllowDelegatedAccess  bool             `json:"allowDelegatedAccess"`
	Attributes            pcAttributes     `json:"attributes"`
}

type pcCompanyProfile struct {
	TenantID    string       `json:"tenantId"`
	Domain      string       `json:"domain"`
	CompanyName string       `json:"companyName"`
	Attributes  pcAttributes `json:"attributes"`
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
			writePCError(w, http.StatusBadRequest, "The size parameter must be an integer between 1 and %d; got '%s'.", pcMaxPageSize, v)
			return
		}
		size = n
	}
	offset := 0
	if seek := q.Get("seekOperation"); seek != "" {
		if !strings.EqualFold(seek, "Next") {
			writePCError(w, http.StatusBadRequest, "Seek operation '%s' is not supported.", seek)
			return
		}
		tok := r.Header.Get("MS-ContinuationToken")
		var c pcCursor
		if tok == "" {
			writePCError(w, http.StatusBadRequest, "The MS-ContinuationToken header is required with seekOperation=Next.")
			return
		}
		if s.sign.open(purposeCursor, tok, &c) != nil || c.Kind != "customers" {
			writePCError(w, http.StatusBadRequest, "The continuation token is invalid.")
			return
		}
		offset = c.Offset
	}
	all := s.dir.customers
	end := min(offset+size, len(all))
	items := make([]pcCustomer, 0, max(end-offset, 0))
	for _, o := range all[min(offset, len(all)):end] {
		items = append(items, pcCustomer{
			ID: o.ID, CommerceID: derivedUUID("commerce", o.ID),
			CompanyProfile: pcCompanyProfile{TenantID: o.ID, Domain: o.Domain, CompanyName: o.Name,
				Attributes: pcAttributes{"CustomerCompanyProfile"}},
			RelationshipToPartner: "reseller",
			AllowDelegatedAccess:  o.Relationship == RelationshipDAP,
			Attributes:            pcAttributes{"Customer"},
		})
	}
	self := fmt.Sprintf("/customers?size=%d", size)
	links := map[string]pcLink{"self": {URI: self, Method: http.MethodGet, Headers: []pcHeader{}}}
	if end < len(all) {
		links["next"] = pcLink{
			URI: self + "&seekOperation=Next", Method: http.MethodGet,
			Headers: []pcHeader{{"MS-ContinuationToken", s.sign.seal(purposeCursor, pcCursor{"customers", end})}},
		}
	}
	// Like Partner Center's ResourceCollection, totalCount is the number of items in this page.
	writeJSON(w, http.StatusOK, pcCollection{TotalCount: len(items), Items: items, Links: links, Attributes: pcAttributes{"Collection"}})
}

func (s *Server) pcCustomer(w http.ResponseWriter, r *http.Request) *org {
	o := s.dir.customer(r.PathValue("customer"))
	if o == nil {
		writePCError(w, http.StatusNotFound, "Customer '%s' was not found for this partner.", r.PathValue("customer"))
	}
	return o
}

type pcSubscription struct {
	ID                string       `json:"id"`
	OfferID           string       `json:"offerId"`
	OfferName         string       `json:"offerName"`
	FriendlyName      string       `json:"friendlyName"`
	Quantity          int          `json:"quantity"`
	UnitType          string       `json:"unitType"`
	CreationDate      string       `json:"creationDate"`
	EffectiveStart    string       `json:"effectiveStartDate"`
	CommitmentEndDate string       `json:"commitmentEndDate"`
	Status            string       `json:"status"`
	AutoRenewEnabled  bool         `json:"autoRenewEnabled"`
	IsTrial           bool         `json:"isTrial"`
	BillingCycle      string       `json:"billingCycle"`
	TermDuration      string       `json:"termDuration"`
	Attributes        pcAttributes `json:"attributes"`
}

const pcTime = "2006-01-02T15:04:05Z"

func (s *Server) pcSubscriptions(w http.ResponseWriter, r *http.Request) {
	o := s.pcCustomer(w, r)
	if o == nil {
		return
	}
	items := make([]pcSubscription, 0, len(o.Subscriptions))
	for _, sub := range o.Subscriptions {
		items = append(items, pcSubscription{
			ID: sub.ID, OfferID: sub.OfferID, OfferName: sub.OfferName, FriendlyName: sub.FriendlyName,
			Quantity: sub.Quantity, UnitType: "Licenses",
			CreationDate: sub.CreationDate.UTC().Format(pcTime), EffectiveStart: sub.CreationDate.UTC().Format(pcTime),
			CommitmentEndDate: sub.CommitmentEndDate.UTC().Format(pcTime), Status: sub.Status,
			AutoRenewEnabled: sub.AutoRenewEnabled, IsTrial: sub.IsTrial, BillingCycle: sub.BillingCycle,
			TermDuration: sub.TermDuration, Attributes: pcAttributes{"Subscription"},
		})
	}
	self := "/customers/" + o.ID + "/subscriptions"
	writeJSON(w, http.StatusOK, pcCollection{TotalCount: len(items), Items: items,
		Links: map[string]pcLink{"self": {URI: self, Method: http.MethodGet, Headers: []pcHeader{}}}, Attributes: pcAttributes{"Collection"}})
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
	ID            string `json:"id"`
	Name          string `json:"name"`
	SkuPartNumber string `json:"skuPartNumber"`
	TargetType    string `json:"targetType"`
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
	if o == nil {
		return
	}
	items := make([]pcSubscribedSku, 0, len(o.Skus))
	s.mu.Lock() // licence assignments change through Graph
	for _, k := range o.Skus {
		active, suspended, consumed := o.seats(k.SkuID, "active"), o.seats(k.SkuID, "suspended"), o.consumed(k.SkuID)
		plans := make([]pcServicePlan, 0, len(k.ServicePlans))
		for _, p := range k.ServicePlans {
			plans = append(plans, pcServicePlan{DisplayName: p.Name, ServiceName: p.Name, ID: p.ID, CapabilityStatus: "Enabled", TargetType: "User"})
		}
		items = append(items, pcSubscribedSku{
			AvailableUnits: max(active-consumed, 0), ActiveUnits: active, ConsumedUnits: consumed,
			SuspendedUnits: suspended, TotalUnits: active + suspended,
			ProductSku:   pcProductSku{ID: k.SkuID, Name: k.Name, SkuPartNumber: k.PartNumber, TargetType: "User"},
			ServicePlans: plans, CapabilityStatus: "Enabled", Attributes: pcAttributes{"SubscribedSku"},
		})
	}
	s.mu.Unlock()
	self := "/customers/" + o.ID + "/subscribedskus"
	writeJSON(w, http.StatusOK, pcCollection{TotalCount: len(items), Items: items,
		Links: map[string]pcLink{"self": {URI: self, Method: http.MethodGet, Headers: []pcHeader{}}}, Attributes: pcAttributes{"Collection"}})
}

func (s *Server) pcNotFound(w http.ResponseWriter, r *http.Request) {
	writePCError(w, http.StatusNotFound, "The resource '%s' was not found.", r.URL.Path)
}
