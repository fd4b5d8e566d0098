package microsoft_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
)

// callErr builds the error MSAL returns for a non-2xx token response.
func callErr(status int, body string) error {
	return msalerrors.CallErr{Resp: &http.Response{StatusCode: status},
		Err: fmt.Errorf("http call(https://login.example/t/oauth2/v2.0/token)(POST) error: reply status code was %d:\n%s", status, body)}
}

func TestClassifyTokenEndpointErrors(t *testing.T) {
	cases := []struct {
		body     string
		code     string
		reaction domain.Reaction
		fix      string
	}{
		{`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}`,
			"AADSTS7000215", domain.Reauthorise, "not the Secret ID"},
		{`{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app are expired.","error_codes":[7000222]}`,
			"AADSTS7000222", domain.Reauthorise, "new client secret"},
		{`{"error":"invalid_grant","error_description":"AADSTS50173: The provided grant has expired due to it being revoked.","error_codes":[50173]}`,
			"AADSTS50173", domain.Reauthorise, "cspsync connect"},
		{`{"error":"invalid_client","error_description":"AADSTS7000229: The client application is missing service principal in the tenant.","error_codes":[7000229]}`,
			"AADSTS7000229", domain.AwaitConsent, "consent"},
		{`{"error":"invalid_grant","error_description":"AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication.","error_codes":[50076]}`,
			"AADSTS50076", domain.Reauthorise, "MFA"},
		// No error_codes: the code is read from the description.
		{`{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}`,
			"AADSTS700082", domain.Reauthorise, "cspsync connect"},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			f := microsoft.Classify(callErr(400, c.body))
			assert.Equal(t, c.code, f.Code)
			assert.Equal(t, c.reaction, f.Reaction)
			assert.Contains(t, f.Remediation, c.fix)
			assert.NotContains(t, f.Message, "Trace ID", "only Microsoft's first line")
		})
	}
}

func TestUnknownErrorsFallBackByStatus(t *testing.T) {
	f := microsoft.FromCode("", 429, "slow down", 57*time.Second, nil)
	assert.Equal(t, domain.Retry, f.Reaction)
	assert.Equal(t, "HTTP429", f.Code)
	assert.Equal(t, 57*time.Second, f.RetryAfter)
	assert.Equal(t, domain.Retry, microsoft.FromCode("", 503, "", 0, nil).Reaction)
	f = microsoft.FromCode("SomethingNew", 400, "odd", 0, nil)
	assert.Equal(t, domain.NeedsFix, f.Reaction)
	assert.Equal(t, "SomethingNew", f.Code)

	wrapped := fmt.Errorf("discovery: %w", f)
	var got *microsoft.Failure
	require.True(t, errors.As(wrapped, &got))
	assert.Same(t, f, microsoft.Classify(wrapped), "an already classified failure is kept")
	assert.Equal(t, domain.Retry, microsoft.Classify(errors.New("dial tcp: connection refused")).Reaction)
}

func TestParseRetryAfter(t *testing.T) {
	assert.Equal(t, 2128*time.Millisecond, microsoft.ParseRetryAfter("2.128"))
	assert.Equal(t, 57*time.Second, microsoft.ParseRetryAfter("57"))
	assert.Zero(t, microsoft.ParseRetryAfter(""))
	assert.Zero(t, microsoft.ParseRetryAfter("soon"))
	assert.InDelta(t, float64(time.Minute), float64(microsoft.ParseRetryAfter(time.Now().Add(time.Minute).UTC().Format(http.TimeFormat))), float64(2*time.Second))
}

func TestAADSTSCode(t *testing.T) {
	assert.Equal(t, "AADSTS65004", microsoft.AADSTSCode("AADSTS65004: User declined to consent", "consent_required"))
	assert.Equal(t, "consent_required", microsoft.AADSTSCode("no code here", "consent_required"))
}

// A secret the key cannot open is a configuration problem with one fix,
// never a network failure, and is not retried.
func TestDecryptionFailureIsKeyMismatchNotNetwork(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("loading token cache: %w", secrets.ErrDecrypt),
		secrets.ErrWrongKey,
	} {
		f := microsoft.Classify(err)
		assert.Equal(t, domain.CodeKeyMismatch, f.Code)
		assert.Equal(t, domain.NeedsFix, f.Reaction)
		assert.Contains(t, f.Remediation, "CSPSYNC_ENCRYPTION_KEY")
		assert.Contains(t, f.Remediation, "cspsync connect --forget-unreadable")
		assert.NotContains(t, f.Remediation, "network")
	}
}

// The same refusal means different things at the partner's sign-in and at
// a tenant's admin consent.
func TestRefusalsAtTheRedirectsHaveTheirOwnFixes(t *testing.T) {
	for _, c := range []struct{ oauthError, description string }{
		{"access_denied", "The user cancelled the sign-in."},
		{"consent_required", "AADSTS65004: User declined to consent to access the app."},
	} {
		signIn := microsoft.Refusal(domain.OpAuthorise, c.oauthError, c.description)
		assert.Contains(t, signIn.Remediation, "cspsync connect", c)
		assert.NotContains(t, signIn.Remediation, "consent link", c)
		assert.Equal(t, domain.NeedsFix, signIn.Reaction, c)

		consent := microsoft.Refusal(domain.OpConsent, c.oauthError, c.description)
		assert.Contains(t, consent.Remediation, "new consent link", c)
		assert.NotContains(t, consent.Remediation, "cspsync connect", c)
		assert.Equal(t, domain.AwaitConsent, consent.Reaction, c)
	}
	f := microsoft.Refusal(domain.OpConsent, "consent_required", "AADSTS65004: User declined")
	assert.Equal(t, "AADSTS65004", f.Code)
	// Codes the catalogue knows keep their entry; unknown ones get the round-trip's fix.
	assert.Contains(t, microsoft.Refusal(domain.OpAuthorise, "invalid_request", "AADSTS50020: User account does not exist").Remediation, "AdminAgents")
	f = microsoft.Refusal(domain.OpAuthorise, "interaction_required", "")
	assert.Equal(t, "interaction_required", f.Code)
	assert.Contains(t, f.Remediation, "cspsync connect")
}

// Graph's documented forms of a dead delta token all ask for a full round;
// nothing else does.
func TestDeltaExpiredForms(t *testing.T) {
	for _, f := range []*microsoft.Failure{
		microsoft.FromCode("syncStateNotFound", 410, "The sync state generation is not found.", 0, nil),
		microsoft.FromCode("resyncRequired", 400, "Resync is required.", 0, nil),
		microsoft.FromCode("somethingNewer", 410, "Gone", 0, nil), // a 410 from Graph is a synchronization reset
	} {
		assert.Equal(t, domain.Resync, f.Reaction, f.Code)
		assert.ErrorIs(t, fmt.Errorf("users round: %w", f), microsoft.ErrDeltaExpired, f.Code)
		assert.Contains(t, f.Remediation, "in full")
	}
	for _, f := range []*microsoft.Failure{
		microsoft.FromCode("TooManyRequests", 429, "", time.Second, nil),
		microsoft.FromCode("Authentication_RequestFromNonPremiumTenantOrB2CTenant", 403, "", 0, nil),
		microsoft.FromCode("", 404, "", 0, nil),
	} {
		assert.NotErrorIs(t, f, microsoft.ErrDeltaExpired, f.Code)
	}
}

// Every caller records and shows a failure through Info: the catalogue's
// cause with Microsoft's own words (a fix may say "read Microsoft's
// message"), said once.
func TestInfoCarriesTheCauseMicrosoftsWordsFixAndReaction(t *testing.T) {
	f := microsoft.FromCode("AADSTS7000215", 401, "AADSTS7000215: Invalid client secret provided.", 0, nil)
	info := f.Info()
	assert.Equal(t, "AADSTS7000215", info.Code)
	assert.Equal(t, "Invalid client secret: the secret's ID was probably pasted instead of its value (AADSTS7000215: Invalid client secret provided).", info.Cause)
	assert.Equal(t, f.Remediation, info.Remediation)
	assert.Equal(t, domain.Reauthorise, info.Reaction)
	assert.False(t, info.At.IsZero())

	unknown := microsoft.FromCode("SomethingNew", 400, "Microsoft's own explanation.", 0, nil).Info()
	assert.Contains(t, unknown.Remediation, "Read Microsoft's message")
	assert.Contains(t, unknown.Cause, "Microsoft's own explanation", "the message the fix points to is there")

	// Words the cause already says are not repeated.
	for _, err := range []error{secrets.ErrWrongKey, secrets.ErrDecrypt} {
		key := microsoft.Classify(err).Info()
		assert.Equal(t, 1, strings.Count(strings.ToLower(key.Cause), "the encryption key"), key.Cause)
	}
	key := microsoft.Classify(fmt.Errorf("loading token cache: %w", secrets.ErrDecrypt)).Info()
	assert.Equal(t, "A stored secret does not open with the encryption key: the key differs from the one it was sealed with, or the value was altered (loading token cache).", key.Cause)
}

// A certificate that does not verify (the simulator's, without its CA file)
// needs the CA file: it is not a network blip that retrying cures.
func TestUntrustedCertificateIsItsOwnFailureWithTheCAFileFix(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	hc, err := microsoft.NewHTTPClient("")
	require.NoError(t, err)
	_, err = hc.Get(srv.URL)
	require.Error(t, err)
	require.True(t, microsoft.CertificateFailure(err), "%v", err)

	f := microsoft.Classify(err)
	assert.Equal(t, microsoft.CodeCertificate, f.Code)
	assert.Equal(t, domain.NeedsFix, f.Reaction, "not retried")
	assert.Contains(t, f.Remediation, "--ca-file or CSPSYNC_CA_FILE")
	assert.NotContains(t, f.Remediation, "cspsync retries")

	assert.False(t, microsoft.CertificateFailure(errors.New("dial tcp 127.0.0.1:1: connection refused")))
	assert.Equal(t, microsoft.CodeNetwork, microsoft.Classify(errors.New("dial tcp 127.0.0.1:1: connection refused")).Code)
}

// A failure's fix is the operation's: a replayed code is the partner's
// `cspsync connect` again, but an operator's sign-in at the worker's page.
func TestFixesArePerOperation(t *testing.T) {
	replayed := callErr(400, `{"error":"invalid_grant","error_description":"AADSTS54005: OAuth2 Authorization code was already redeemed.","error_codes":[54005]}`)
	partner := microsoft.Classify(replayed).For(domain.OpAuthorise)
	assert.Contains(t, partner.Remediation, "cspsync connect")
	operator := microsoft.Classify(replayed).For(domain.OpOperatorSignIn)
	assert.Equal(t, "AADSTS54005", operator.Code)
	assert.Contains(t, operator.Remediation, "tenants page again and sign in")
	assert.NotContains(t, operator.Remediation, "cspsync connect")
	assert.Equal(t, operator.Remediation, microsoft.Refusal(domain.OpOperatorSignIn, "invalid_grant", "AADSTS54005: already redeemed").Remediation,
		"a redirect's refusal and a redemption's failure read alike")
	other := microsoft.FromCode("AADSTS7000222", 401, "expired", 0, nil)
	assert.Same(t, other, other.For(domain.OpOperatorSignIn), "no entry of its own: the catalogue's")
}
