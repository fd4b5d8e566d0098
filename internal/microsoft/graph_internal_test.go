package microsoft

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

// The provider's choices between its own token, MSAL's cache and a token
// MSAL must fetch anew; fetch plays MSAL, whose cache keeps handing out the
// token it holds until asked with claims.
func TestTokenProviderChoosesWhenToAskMSAL(t *testing.T) {
	var asked []string // the claims of each MSAL call
	cached, serial := "", 0
	hosts, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{"graph.example"})
	require.NoError(t, err)
	p := &tokenProvider{hosts: *hosts, fetch: func(_ context.Context, claims string) (string, time.Time, error) {
		asked = append(asked, claims)
		if cached == "" || claims != "" {
			serial++
			cached = "token-" + string(rune('0'+serial))
		}
		return cached, time.Now().Add(time.Hour), nil
	}}
	graph, _ := url.Parse("https://graph.example/v1.0/users/delta()")
	get := func(extra map[string]any) string {
		t.Helper()
		tok, err := p.GetAuthorizationToken(context.Background(), graph, extra)
		require.NoError(t, err)
		return tok
	}

	assert.Equal(t, "token-1", get(nil))
	assert.Equal(t, "token-1", get(nil), "kept while fresh")
	assert.Len(t, asked, 1)

	// Graph refused it: MSAL's cache still holds it, so MSAL is asked with claims.
	p.refuse("token-1")
	assert.Equal(t, "token-2", get(nil))
	require.Len(t, asked, 3)
	assert.Empty(t, asked[1], "MSAL's cache first: another client may have replaced the token")
	assert.True(t, strings.HasPrefix(asked[2], `{"access_token":{"nbf":{"essential":true,"value":"`), asked[2])

	// A claims challenge from Graph (base64 in WWW-Authenticate) reaches MSAL decoded.
	challenge := `{"access_token":{"nbf":{"essential":true,"value":"1652813508"}}}`
	assert.Equal(t, "token-3", get(map[string]any{"claims": base64.StdEncoding.EncodeToString([]byte(challenge))}))
	assert.Equal(t, challenge, asked[3])
	_, err = p.GetAuthorizationToken(context.Background(), graph, map[string]any{"claims": "not base64!"})
	assert.ErrorContains(t, err, "not base64")

	// A token about to expire is replaced; no token leaves for another host.
	p.expires = time.Now().Add(time.Minute)
	get(nil)
	assert.Len(t, asked, 5)
	other, _ := url.Parse("https://elsewhere.example/v1.0/users")
	tok, err := p.GetAuthorizationToken(context.Background(), other, nil)
	assert.NoError(t, err)
	assert.Empty(t, tok)
	assert.Len(t, asked, 5)
}

// Partner Center documents its error code as a string, and its examples show numbers: both
// read alike, and the documented refusal for a customer that is not the partner's has its own
// entry, not the sign-in fix of a bare 403.
func TestPartnerCenterErrorCodeStringOrNumber(t *testing.T) {
	for _, body := range []string{
		`{"code":"900150","description":"The supplied role doesn't have the rights to perform the requested operation","data":[],"source":"PartnerFD"}`,
		`{"code":900150,"description":"The supplied role doesn't have the rights to perform the requested operation","data":[],"source":"PartnerFD"}`,
	} {
		f := partnerCenterError("/customers/x/subscribedskus", 403, http.Header{}, []byte(body))
		assert.Equal(t, "PartnerCenter900150", f.Code, body)
		assert.Contains(t, f.Message, "The supplied role doesn't have the rights", body)
	}
	for _, code := range []string{`"20002"`, `20002`} {
		f := partnerCenterError("/customers/x/subscribedskus", 403, http.Header{}, []byte(`{"code":`+code+`,"description":"The partner ID p has no commerce relationship with the customer ID x.","data":[],"source":"PartnerFD"}`))
		assert.Equal(t, "PartnerCenter20002", f.Code, code)
		assert.Equal(t, domain.NeedsFix, f.Reaction, code)
	}
}
