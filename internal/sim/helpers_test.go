package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// startSim serves sc over real HTTPS and returns a client trusting only the simulator's CA.
func startSim(t *testing.T, sc Scenario, opts Options) (*Server, *http.Client) {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	s, err := New(sc, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	hc, err := NewHTTPClient(s.CAFile())
	if err != nil {
		t.Fatalf("NewHTTPClient: %v", err)
	}
	return s, hc
}

// smallScenario: two DAP tenants followed by two unconsented GDAP tenants.
func smallScenario() Scenario {
	return Generate(GenerateOptions{Seed: 7, Tenants: 4, GDAP: 2, UsersPerTenant: 6})
}

// testClock is an adjustable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = "cspsync-test-verifier-0123456789-abcdefghijklmnop"
	h := sha256.Sum256([]byte(verifier))
	return verifier, b64.EncodeToString(h[:])
}

// aadErr extracts the HTTP status and AADSTS code from an MSAL error.
func aadErr(t *testing.T, err error) (status, code int) {
	t.Helper()
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) {
		t.Fatalf("want an MSAL CallErr, got %T: %v", err, err)
	}
	var body aadErrorBody
	raw, _ := io.ReadAll(ce.Resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || len(body.Codes) != 1 {
		t.Fatalf("error body is not Entra-shaped: %s", raw)
	}
	for _, want := range []string{"Trace ID: " + body.TraceID, "Correlation ID: " + body.CorrelationID, "Timestamp: " + body.Timestamp} {
		if !strings.Contains(body.Description, want) {
			t.Errorf("error_description %q lacks %q", body.Description, want)
		}
	}
	return ce.Resp.StatusCode, body.Codes[0]
}

// claimsOf decodes a simulator JWT without verifying it.
func claimsOf(t *testing.T, jwt string) accessClaims {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c accessClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// signInForCode runs the interactive sign-in and returns the authorization code.
func signInForCode(t *testing.T, hc *http.Client, authURL, user, password, mfa string) string {
	t.Helper()
	loc, err := SignIn(context.Background(), hc, authURL, user, password, mfa)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("redirect carries no code: %s", loc)
	}
	return code
}

// authorizeURL builds an authorize request by hand, as a non-MSAL client would.
func authorizeURL(s *Server, tenant, clientID, redirect, scope string) string {
	_, challenge := pkce()
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"st-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	return s.URL() + "/" + tenant + "/oauth2/v2.0/authorize?" + q.Encode()
}

// postToken calls the token endpoint directly and decodes the JSON reply.
func postToken(t *testing.T, hc *http.Client, s *Server, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := hc.PostForm(s.URL()+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// appToken gets an app-only Graph token for tenant with the default Graph app.
func appToken(t *testing.T, hc *http.Client, s *Server, tenant string) string {
	t.Helper()
	status, body := postToken(t, hc, s, tenant, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {DefaultGraphClientID},
		"client_secret": {DefaultGraphSecret}, "scope": {"https://graph.microsoft.com/.default"},
	})
	if status != http.StatusOK {
		t.Fatalf("client credentials for %s: %d %v", tenant, status, body)
	}
	return body["access_token"].(string)
}

// call performs an HTTP request with a bearer token and decodes a JSON reply into out.
func call(t *testing.T, hc *http.Client, method, u, token string, body []byte, hdr map[string]string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, u, err, raw)
		}
	}
	return resp
}

// graphErr is the Graph error shape for assertions.
type graphErr struct {
	Error struct {
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		InnerError map[string]string `json:"innerError"`
	} `json:"error"`
}
