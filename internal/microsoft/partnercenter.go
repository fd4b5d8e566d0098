package microsoft

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/text"
)

// PartnerCenter is a small client for the Partner Center REST API.
type PartnerCenter struct {
	BaseURL string // e.g. https://api.partnercenter.microsoft.com
	HTTP    *http.Client
	Token   func(ctx context.Context) (string, error)
}

// PCCustomer is a customer as Partner Center returns it (fields we use).
type PCCustomer struct {
	ID             string `json:"id"`
	CompanyProfile struct {
		TenantID    string `json:"tenantId"`
		Domain      string `json:"domain"`
		CompanyName string `json:"companyName"`
	} `json:"companyProfile"`
	RelationshipToPartner string `json:"relationshipToPartner"`
	AllowDelegatedAccess  bool   `json:"allowDelegatedAccess"`
}

// Cursor locates a page: the link's relative URI and its continuation
// token. The zero Cursor is the first page.
type Cursor struct {
	URI   string `json:"uri"`
	Token string `json:"token"`
}

// Encode serialises a cursor for storage ("" for the first page).
func (c Cursor) Encode() string {
	if c == (Cursor{}) {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// DecodeCursor reads a stored cursor.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	err := json.Unmarshal([]byte(s), &c)
	return c, err
}

type customerCollection struct {
	TotalCount int          `json:"totalCount"`
	Items      []PCCustomer `json:"items"`
	Links      struct {
		Next *struct {
			URI     string `json:"uri"`
			Headers []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"headers"`
		} `json:"next"`
	} `json:"links"`
}

// CustomersPage fetches one page of customers; next is the zero Cursor on
// the last page.
func (pc *PartnerCenter) CustomersPage(ctx context.Context, at Cursor, size int) (items []PCCustomer, next Cursor, err error) {
	uri, token := "/customers?size="+strconv.Itoa(size), ""
	if at != (Cursor{}) {
		uri, token = at.URI, at.Token
	}
	var page customerCollection
	if err := pc.get(ctx, uri, map[string]string{"MS-ContinuationToken": token}, &page); err != nil {
		return nil, Cursor{}, err
	}
	if n := page.Links.Next; n != nil {
		next.URI = n.URI
		for _, h := range n.Headers {
			if strings.EqualFold(h.Key, "MS-ContinuationToken") {
				next.Token = h.Value
			}
		}
	}
	return page.Items, next, nil
}

// PCSubscribedSku is a SKU a customer holds, as Partner Center counts it.
type PCSubscribedSku struct {
	AvailableUnits int `json:"availableUnits"`
	ActiveUnits    int `json:"activeUnits"`
	ConsumedUnits  int `json:"consumedUnits"`
	SuspendedUnits int `json:"suspendedUnits"`
	TotalUnits     int `json:"totalUnits"`
	WarningUnits   int `json:"warningUnits"`
	ProductSku     struct {
		ID             string `json:"id"`
		Name           string `json:"name"`
		SkuPartNumber  string `json:"skuPartNumber"`
		LicenseGroupID string `json:"licenseGroupId"`
	} `json:"productSku"`
	CapabilityStatus string `json:"capabilityStatus"`
}

// clean bounds and cleans the SKU's text before cspsync decides on or stores it.
func (k *PCSubscribedSku) clean() {
	p := &k.ProductSku
	for _, f := range []*string{&p.ID, &p.SkuPartNumber, &p.LicenseGroupID, &k.CapabilityStatus} {
		*f = text.Clean(*f, text.MaxCode)
	}
	p.Name = text.Clean(p.Name, text.MaxName)
}

// PCSubscription is one of a customer's subscriptions with the partner.
type PCSubscription struct {
	ID                string    `json:"id"`
	OfferID           string    `json:"offerId"`
	OfferName         string    `json:"offerName"`
	FriendlyName      string    `json:"friendlyName"`
	Quantity          int       `json:"quantity"`
	Status            string    `json:"status"`
	BillingCycle      string    `json:"billingCycle"`
	TermDuration      string    `json:"termDuration"`
	CommitmentEndDate time.Time `json:"commitmentEndDate"`
	AutoRenewEnabled  bool      `json:"autoRenewEnabled"`
	IsTrial           bool      `json:"isTrial"`
}

// UnmarshalJSON reads a subscription, its commitmentEndDate leniently: Partner Center's own
// documented example writes it with spaces ("2016-12-12T08: 00: 00Z"), and an empty date is
// none.
func (s *PCSubscription) UnmarshalJSON(b []byte) error {
	type plain PCSubscription
	var raw struct {
		plain
		CommitmentEndDate string `json:"commitmentEndDate"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = PCSubscription(raw.plain)
	for _, f := range []*string{&s.ID, &s.OfferID, &s.Status, &s.BillingCycle, &s.TermDuration} {
		*f = text.Clean(*f, text.MaxCode)
	}
	s.OfferName, s.FriendlyName = text.Clean(s.OfferName, text.MaxName), text.Clean(s.FriendlyName, text.MaxName)
	s.CommitmentEndDate = time.Time{}
	if d := strings.ReplaceAll(raw.CommitmentEndDate, " ", ""); d != "" {
		t, err := time.Parse(time.RFC3339Nano, d)
		if err != nil {
			return fmt.Errorf("subscription %s: commitmentEndDate %q is not a date", s.ID, raw.CommitmentEndDate)
		}
		s.CommitmentEndDate = t
	}
	return nil
}

// SubscribedSkus lists every SKU a customer holds, with its units.
func (pc *PartnerCenter) SubscribedSkus(ctx context.Context, customerID string) ([]PCSubscribedSku, error) {
	var out []PCSubscribedSku
	return out, pc.collect(ctx, "/customers/"+url.PathEscape(customerID)+"/subscribedskus", func(raw json.RawMessage) error {
		var page []PCSubscribedSku
		err := json.Unmarshal(raw, &page)
		for i := range page {
			page[i].clean()
		}
		out = append(out, page...)
		return err
	})
}

// Subscriptions lists a customer's subscriptions with the partner.
func (pc *PartnerCenter) Subscriptions(ctx context.Context, customerID string) ([]PCSubscription, error) {
	var out []PCSubscription
	return out, pc.collect(ctx, "/customers/"+url.PathEscape(customerID)+"/subscriptions", func(raw json.RawMessage) error {
		var page []PCSubscription
		err := json.Unmarshal(raw, &page)
		out = append(out, page...)
		return err
	})
}

// collect reads a collection, following its next links.
func (pc *PartnerCenter) collect(ctx context.Context, path string, items func(json.RawMessage) error) error {
	headers := map[string]string{}
	for path != "" {
		var page struct {
			Items json.RawMessage `json:"items"`
			Links struct {
				Next *struct {
					URI     string `json:"uri"`
					Headers []struct {
						Key   string `json:"key"`
						Value string `json:"value"`
					} `json:"headers"`
				} `json:"next"`
			} `json:"links"`
		}
		if err := pc.get(ctx, path, headers, &page); err != nil {
			return err
		}
		if err := items(page.Items); err != nil {
			return fmt.Errorf("partner center %s: unexpected items: %w", path, err)
		}
		path, headers = "", map[string]string{}
		if n := page.Links.Next; n != nil {
			path = n.URI
			for _, h := range n.Headers {
				headers[h.Key] = h.Value
			}
		}
	}
	return nil
}

// partnerCenterError classifies a Partner Center error response by its
// status; the message is Partner Center's description (or the body's first
// line), cleaned and bounded by FromCode like any Microsoft text.
func partnerCenterError(path string, status int, header http.Header, body []byte) *Failure {
	var e struct {
		Code        json.RawMessage `json:"code"` // a number, though some answers carry a string
		Description string          `json:"description"`
	}
	_ = json.Unmarshal(body, &e)
	msg := firstLine(e.Description)
	if msg == "" {
		msg = firstLine(string(body))
	}
	if text.Clean(msg, text.MaxMessage) == "" {
		msg = http.StatusText(status)
	}
	code := ""
	if n, err := strconv.Atoi(strings.Trim(string(e.Code), `"`)); err == nil && n != 0 {
		if _, known := Lookup("PartnerCenter" + strconv.Itoa(n)); known {
			code = "PartnerCenter" + strconv.Itoa(n) // a documented Partner Center error with its own fix
		}
	}
	switch {
	case code != "":
	case status == http.StatusUnauthorized:
		code = "PartnerCenterUnauthorized"
	case status == http.StatusForbidden:
		code = "PartnerCenterForbidden"
	}
	return FromCode(code, status, fmt.Sprintf("Partner Center %s: %s", path, msg), ParseRetryAfter(header.Get("Retry-After")), nil)
}

// get calls a Partner Center path relative to /v1 (the path may already
// carry the /v1 prefix, as links sometimes do).
func (pc *PartnerCenter) get(ctx context.Context, path string, headers map[string]string, out any) error {
	path = strings.TrimPrefix(path, "/v1")
	u := strings.TrimRight(pc.BaseURL, "/") + "/v1" + path
	if _, err := url.Parse(u); err != nil {
		return fmt.Errorf("partner center link %q: %w", path, err)
	}
	token, err := pc.Token(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("MS-RequestId", RandomToken())
	req.Header.Set("MS-CorrelationId", RandomToken())
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := pc.HTTP.Do(req)
	if err != nil {
		return Classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return Classify(err)
	}
	if resp.StatusCode != http.StatusOK {
		return partnerCenterError(path, resp.StatusCode, resp.Header, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("partner center %s: unexpected response: %w", path, err)
	}
	return nil
}
