package microsoft_test

import (
	"strings"
	"testing"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/text"
)

const escapes = "\x1b]0;pwned\x07\x1b[2J"

// assertClean checks a classified failure holds no control character and
// nothing longer than its limit.
func assertClean(t *testing.T, f *microsoft.Failure) {
	t.Helper()
	require.NotNil(t, f)
	assert.NotEmpty(t, f.Code)
	assert.Equal(t, text.Clean(f.Code, text.MaxCode), f.Code, "code")
	assert.Equal(t, text.Clean(f.Message, text.MaxMessage), f.Message, "message")
	assert.Equal(t, text.Clean(f.Error(), len(f.Error())), f.Error(), "Error()")
}

func TestClassifiedTextIsCleanAndBounded(t *testing.T) {
	long := strings.Repeat("x", 8000)

	f := microsoft.FromCode(escapes, 0, "declined"+escapes+"\nsecond line", 0, nil)
	assertClean(t, f)
	assert.Equal(t, "]0;pwned[2J", f.Code)
	assert.Equal(t, domain.NeedsFix, f.Reaction)

	f = microsoft.FromCode(long, 400, long, 0, nil)
	assertClean(t, f)
	assert.LessOrEqual(t, len(f.Code), text.MaxCode)
	assert.LessOrEqual(t, len(f.Message), text.MaxMessage)

	f = microsoft.FromCode("\x1b\x07", 0, "", 0, nil)
	assertClean(t, f) // a code of controls alone still names the failure

	// A known code keeps its entry once cleaned.
	f = microsoft.FromCode("AADSTS65004\u202e", 0, "", 0, nil)
	assert.Equal(t, "AADSTS65004", f.Code)
	assert.Equal(t, domain.AwaitConsent, f.Reaction)

	f = microsoft.Classify(callErr(400, `{"error":"invalid_grant","error_description":"AADSTS50173: revoked \u001b[2J\u202e`+long+`","error_codes":[50173]}`))
	assertClean(t, f)
	assert.Equal(t, "AADSTS50173", f.Code)
	assert.True(t, strings.HasPrefix(f.Message, "AADSTS50173: revoked "))
}

// Graph's SDK builds an ODataError from whatever JSON the error response
// holds; one without an "error" object, or without a message, must still be
// classified (and not panic).
func TestClassifyGraphWithMissingOrHostileFields(t *testing.T) {
	empty := odataerrors.NewODataError()
	empty.SetStatusCode(400)
	f := classifyGraph(t, empty)
	assert.Equal(t, "HTTP400", f.Code)
	assert.Equal(t, domain.NeedsFix, f.Reaction)

	noMessage := odataerrors.NewODataError()
	main := odataerrors.NewMainError()
	code := "Request_ResourceNotFound"
	main.SetCode(&code)
	noMessage.SetErrorEscaped(main)
	noMessage.SetStatusCode(404)
	f = classifyGraph(t, noMessage)
	assert.Equal(t, "Request_ResourceNotFound", f.Code)

	hostile := odataerrors.NewODataError()
	main = odataerrors.NewMainError()
	code, msg := "Authorization_RequestDenied"+escapes, "denied"+escapes
	main.SetCode(&code)
	main.SetMessage(&msg)
	hostile.SetErrorEscaped(main)
	hostile.SetStatusCode(403)
	f = classifyGraph(t, hostile)
	assert.Equal(t, "Authorization_RequestDenied]0;pwned[2J", f.Code)
	assert.Equal(t, "denied]0;pwned[2J", f.Message)

	// The SDK's own error when a response has no body is classified by its
	// status, not taken for a network failure.
	f = classifyGraph(t, &abs.ApiError{Message: "The server returned an unexpected status code with no response body: 400", ResponseStatusCode: 400})
	assert.Equal(t, "HTTP400", f.Code)
	assert.Equal(t, domain.NeedsFix, f.Reaction)
}

func classifyGraph(t *testing.T, err error) *microsoft.Failure {
	t.Helper()
	var f *microsoft.Failure
	require.NotPanics(t, func() { f, _ = microsoft.ClassifyGraph(err).(*microsoft.Failure) })
	assertClean(t, f)
	return f
}
