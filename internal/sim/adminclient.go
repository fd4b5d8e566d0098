package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// NewHTTPClient returns an HTTP client that trusts the simulator CA in caFile (and nothing
// else), for talking to a simulator without switching TLS verification off.
func NewHTTPClient(caFile string) (*http.Client, error) {
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("sim: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("sim: %s contains no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// AdminClient drives a simulator over its /_sim/ HTTP API, typically one started by
// `cspsync sim` in another process. Its methods mirror Server's control methods, with a
// context and an error since they cross the network.
type AdminClient struct {
	base string
	hc   *http.Client
}

// NewAdminClient connects to the simulator at baseURL (its URL()), trusting caFile.
func NewAdminClient(baseURL, caFile string) (*AdminClient, error) {
	hc, err := NewHTTPClient(caFile)
	if err != nil {
		return nil, err
	}
	return &AdminClient{base: strings.TrimRight(baseURL, "/"), hc: hc}, nil
}

func (c *AdminClient) GrantConsent(ctx context.Context, tenantID string) error {
	return c.do(ctx, http.MethodPost, "/_sim/consent/"+url.PathEscape(tenantID), nil, nil)
}

func (c *AdminClient) RevokeConsent(ctx context.Context, tenantID string) error {
	return c.do(ctx, http.MethodDelete, "/_sim/consent/"+url.PathEscape(tenantID), nil, nil)
}

func (c *AdminClient) ConsentState(ctx context.Context, tenantID string) (bool, error) {
	var st consentStatus
	err := c.do(ctx, http.MethodGet, "/_sim/consent/"+url.PathEscape(tenantID), nil, &st)
	return st.Consented, err
}

func (c *AdminClient) RevokeRefreshTokens(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/_sim/revoke-refresh-tokens", nil, nil)
}

func (c *AdminClient) ExpireSecret(ctx context.Context, clientID string) error {
	return c.do(ctx, http.MethodPost, "/_sim/expire-secret/"+url.PathEscape(clientID), nil, nil)
}

func (c *AdminClient) SetFault(ctx context.Context, f Fault) error {
	return c.do(ctx, http.MethodPost, "/_sim/fault", f, nil)
}

func (c *AdminClient) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := c.do(ctx, http.MethodGet, "/_sim/stats", nil, &st)
	return st, err
}

// Scenario returns the simulated world as it stands, with consent and directory changes.
func (c *AdminClient) Scenario(ctx context.Context) (Scenario, error) {
	var sc Scenario
	err := c.do(ctx, http.MethodGet, "/_sim/scenario", nil, &sc)
	return sc, err
}

func (c *AdminClient) DeleteUser(ctx context.Context, tenantID, userID string) error {
	return c.do(ctx, http.MethodDelete, c.userPath(tenantID, userID), nil, nil)
}

// PurgeUser permanently deletes a user (delta reason "deleted").
func (c *AdminClient) PurgeUser(ctx context.Context, tenantID, userID string) error {
	return c.do(ctx, http.MethodDelete, c.userPath(tenantID, userID)+"?permanent=true", nil, nil)
}

func (c *AdminClient) RestoreUser(ctx context.Context, tenantID, userID string) error {
	return c.do(ctx, http.MethodPost, c.userPath(tenantID, userID)+"/restore", nil, nil)
}

func (c *AdminClient) UpdateUser(ctx context.Context, tenantID, userID string, p UserPatch) error {
	return c.do(ctx, http.MethodPatch, c.userPath(tenantID, userID), p, nil)
}

func (c *AdminClient) ChangeUsers(ctx context.Context, tenantID string, ch UserChanges) (ChangedUsers, error) {
	var out ChangedUsers
	err := c.do(ctx, http.MethodPost, "/_sim/tenants/"+url.PathEscape(tenantID)+"/user-changes", ch, &out)
	return out, err
}

func (c *AdminClient) SetGraphBudget(ctx context.Context, tenantID string, unitsPer10s int) error {
	return c.do(ctx, http.MethodPut, "/_sim/tenants/"+url.PathEscape(tenantID)+"/graph-budget", graphBudget{&unitsPer10s}, nil)
}

func (c *AdminClient) ExpireDeltaTokens(ctx context.Context, tenantID string) error {
	return c.do(ctx, http.MethodPost, "/_sim/tenants/"+url.PathEscape(tenantID)+"/expire-delta-tokens", nil, nil)
}

func (c *AdminClient) ExpireAccessTokens(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/_sim/expire-access-tokens", nil, nil)
}

func (c *AdminClient) userPath(tenantID, userID string) string {
	return "/_sim/tenants/" + url.PathEscape(tenantID) + "/users/" + url.PathEscape(userID)
}

func (c *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sim admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e adminError
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return fmt.Errorf("sim admin %s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("sim admin %s %s: decode reply: %w", method, path, err)
	}
	return nil
}

func (c *AdminClient) tenantPath(tenantID string, rest ...string) string {
	p := "/_sim/tenants/" + url.PathEscape(tenantID)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// AddSubscription adds a subscription to a customer (see Server.AddSubscription).
func (c *AdminClient) AddSubscription(ctx context.Context, tenantID string, sub Subscription) (Subscription, error) {
	var out Subscription
	err := c.do(ctx, http.MethodPost, c.tenantPath(tenantID, "subscriptions"), sub, &out)
	return out, err
}

// SetSubscriptionStatus suspends, expires or reactivates a subscription.
func (c *AdminClient) SetSubscriptionStatus(ctx context.Context, tenantID, subscriptionID, status string) (Subscription, error) {
	var out Subscription
	err := c.do(ctx, http.MethodPatch, c.tenantPath(tenantID, "subscriptions", subscriptionID), subscriptionPatch{Status: &status}, &out)
	return out, err
}

// SetSubscriptionQuantity changes a subscription's seat count.
func (c *AdminClient) SetSubscriptionQuantity(ctx context.Context, tenantID, subscriptionID string, quantity int) (Subscription, error) {
	var out Subscription
	err := c.do(ctx, http.MethodPatch, c.tenantPath(tenantID, "subscriptions", subscriptionID), subscriptionPatch{Quantity: &quantity}, &out)
	return out, err
}

// RemoveSubscription takes a subscription away entirely.
func (c *AdminClient) RemoveSubscription(ctx context.Context, tenantID, subscriptionID string) error {
	return c.do(ctx, http.MethodDelete, c.tenantPath(tenantID, "subscriptions", subscriptionID), nil, nil)
}

// SetMembershipRefused switches the partner's refusal by the subscriptions API.
func (c *AdminClient) SetMembershipRefused(ctx context.Context, refused bool) error {
	return c.do(ctx, http.MethodPut, "/_sim/membership-refused", membershipSetting{refused}, nil)
}

// SetMissingGDAPRole switches whether a GDAP customer's relationship lacks a licence-reading role.
func (c *AdminClient) SetMissingGDAPRole(ctx context.Context, tenantID string, missing bool) error {
	return c.do(ctx, http.MethodPut, c.tenantPath(tenantID, "missing-gdap-role"), gdapRoleSetting{missing}, nil)
}

func (c *AdminClient) SetDeltaResponses(ctx context.Context, mode string) error {
	return c.do(ctx, http.MethodPut, "/_sim/delta-responses", map[string]string{"mode": mode}, nil)
}

// CreateGroup adds a security group to a tenant (ID "": a new one) and returns it.
func (c *AdminClient) CreateGroup(ctx context.Context, tenantID string, g Group) (Group, error) {
	var out Group
	err := c.do(ctx, http.MethodPost, "/_sim/tenants/"+url.PathEscape(tenantID)+"/groups", g, &out)
	return out, err
}

// AddGroupMember makes a user a member of a group without changing the user object.
func (c *AdminClient) AddGroupMember(ctx context.Context, tenantID, groupID, userID string) error {
	return c.do(ctx, http.MethodPut, c.memberPath(tenantID, groupID, userID), nil, nil)
}

// RemoveGroupMember takes a user out of a group without changing the user object.
func (c *AdminClient) RemoveGroupMember(ctx context.Context, tenantID, groupID, userID string) error {
	return c.do(ctx, http.MethodDelete, c.memberPath(tenantID, groupID, userID), nil, nil)
}

func (c *AdminClient) memberPath(tenantID, groupID, userID string) string {
	return "/_sim/tenants/" + url.PathEscape(tenantID) + "/groups/" + url.PathEscape(groupID) + "/members/" + url.PathEscape(userID)
}
