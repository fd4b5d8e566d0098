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

// partnerCenterError classifies a Partner Center error response by its
// status; the message is Partner Center's description (or the body's first
// line), cleaned and bounded by FromCode like any Microsoft text.
func partnerCenterError(path string, status int, header http.Header, body []byte) *Failure {
	var e struct {
		Description string `json:"description"`
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
	switch status {
	case http.StatusUnauthorized:
		code = "PartnerCenterUnauthorized"
	case http.StatusForbidden:
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
