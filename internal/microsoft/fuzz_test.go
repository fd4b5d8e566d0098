package microsoft

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	abs "github.com/microsoft/kiota-abstractions-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/text"
)

// The fuzz targets below feed the classifiers what Microsoft, a proxy in
// between or an attacker could send, and check properties every classified
// failure must have, not merely that nothing panics.

// checkFailure: a code, a cause and a fix; all text clean and bounded; a
// reaction the workflows know; a wait no longer than MaxRetryAfter; and,
// for a code outside the catalogue, the reaction its status calls for (an
// error that is no HTTP response at all counts as a network failure).
func checkFailure(t *testing.T, f *Failure) {
	t.Helper()
	if f == nil {
		t.Fatal("no failure")
	}
	for _, s := range []struct {
		what, v string
		max     int
	}{{"code", f.Code, text.MaxCode}, {"message", f.Message, text.MaxMessage},
		{"cause", f.Cause, text.MaxMessage}, {"remediation", f.Remediation, text.MaxMessage}} {
		if s.what != "message" && s.v == "" {
			t.Fatalf("empty %s: %+v", s.what, f)
		}
		if len(s.v) > s.max || text.Clean(s.v, s.max) != s.v {
			t.Fatalf("%s %q is not clean and at most %d bytes", s.what, s.v, s.max)
		}
	}
	if msg := f.Error(); text.Clean(msg, len(msg)) != msg {
		t.Fatalf("Error() %q is not clean", msg)
	}
	if !slices.Contains(append(domain.Permanent(), string(domain.Retry)), string(f.Reaction)) {
		t.Fatalf("reaction %q is not one the workflows handle", f.Reaction)
	}
	if f.RetryAfter < 0 || f.RetryAfter > MaxRetryAfter {
		t.Fatalf("RetryAfter %s out of [0, %s]", f.RetryAfter, MaxRetryAfter)
	}
	want := domain.NeedsFix
	if e, known := Lookup(f.Code); known {
		want = e.Reaction
	} else if f.Code == "Network" || f.Status == http.StatusTooManyRequests || f.Status >= 500 {
		want = domain.Retry
	} else if f.Status == http.StatusGone { // Graph's synchronization reset
		want = domain.Resync
	}
	if f.Reaction != want {
		t.Fatalf("%s with status %d reacts %s, want %s", f.Code, f.Status, f.Reaction, want)
	}
}

func FuzzFromCode(f *testing.F) {
	f.Add("AADSTS65004", 0, "AADSTS65004: User declined to consent.", int64(0))
	f.Add("", 429, "slow down", int64(57*time.Second))
	f.Add("TooManyRequests", 429, "", int64(-1))
	f.Add("\x1b]0;pwned\x07\x1b[2J", 0, "\x1b[2J", int64(1<<62))
	f.Add("AADSTS65004\u202e", 503, "a\nb", int64(0))
	f.Add("", 0, "", int64(0))
	f.Fuzz(func(t *testing.T, code string, status int, message string, retryAfter int64) {
		got := FromCode(code, status, message, time.Duration(retryAfter), nil)
		checkFailure(t, got)
		switch want := text.Clean(code, text.MaxCode); {
		case want != "" && got.Code != want:
			t.Fatalf("code %q became %q, want %q", code, got.Code, want)
		case want == "" && status != 0 && got.Code != "HTTP"+strconv.Itoa(status):
			t.Fatalf("no code with status %d became %q", status, got.Code)
		case want == "" && status == 0 && got.Code != "Unknown":
			t.Fatalf("no code and no status became %q", got.Code)
		}
	})
}

// msalCallErr is the error MSAL returns for a failed token request.
func msalCallErr(status int, body string) error {
	return msalerrors.CallErr{Resp: &http.Response{StatusCode: status},
		Err: fmt.Errorf("http call(https://login.microsoftonline.com/t/oauth2/v2.0/token)(POST) error: reply status code was %d:\n%s", status, body)}
}

func FuzzClassifyAADSTS(f *testing.F) {
	f.Add(400, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}`)
	f.Add(400, `{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}`)
	f.Add(401, `{"error":"invalid_client","error_description":"\u001b]0;pwned\u0007\u001b[2J\u202e","error_codes":[-1]}`)
	f.Add(500, `<html><body>Service Unavailable</body></html>`)
	f.Add(400, `{"error_codes":[99999999999999999999]} AADSTS50173`)
	f.Add(0, ``)
	f.Fuzz(func(t *testing.T, status int, body string) {
		err := msalCallErr(status, body)
		got := Classify(err)
		checkFailure(t, got)
		if !errors.Is(got, err) {
			t.Fatal("the failure does not wrap MSAL's error")
		}
		var parsed tokenErrorBody
		if i := strings.Index(body, "{"); i >= 0 && json.Unmarshal([]byte(body[i:]), &parsed) == nil && len(parsed.ErrorCodes) > 0 {
			if want := "AADSTS" + strconv.Itoa(parsed.ErrorCodes[0]); got.Code != want {
				t.Fatalf("error_codes %v gave code %q, want %q", parsed.ErrorCodes, got.Code, want)
			}
		}
	})
}

// graphError builds the error the Graph SDK returns for a failed response
// with a JSON body, as kiota-http-go's throwIfFailedResponse does (Graph
// maps every 4xx and 5xx to ODataError).
func graphError(status int, retryAfter string, body []byte) error {
	headers := abs.NewResponseHeaders()
	if retryAfter != "" {
		headers.Add("Retry-After", retryAfter)
	}
	apiError := func(msg string) error {
		return &abs.ApiError{Message: msg + strconv.Itoa(status), ResponseStatusCode: status, ResponseHeaders: headers}
	}
	if len(body) == 0 {
		return apiError("The server returned an unexpected status code with no response body: ")
	}
	node, err := jsonserialization.NewJsonParseNode(body)
	if err != nil {
		return err
	}
	v, err := node.GetObjectValue(odataerrors.CreateODataErrorFromDiscriminatorValue)
	if err != nil {
		return err
	}
	if v == nil {
		return apiError("The server returned an unexpected status code but the error could not be deserialized: ")
	}
	odata := v.(*odataerrors.ODataError)
	odata.SetResponseHeaders(headers)
	odata.SetStatusCode(status)
	return odata
}

func FuzzClassifyGraph(f *testing.F) {
	f.Add(403, "", []byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
	f.Add(429, "2.128", []byte(`{"error":{"code":"TooManyRequests","message":"Too many requests"}}`))
	f.Add(503, "1e300", []byte(`{"error":{"code":"serviceNotAvailable","message":"x"}}`))
	f.Add(401, "Mon, 02 Jan 2006 15:04:05 GMT", []byte(`{"error":{"code":"InvalidAuthenticationToken"}}`))
	f.Add(400, "", []byte(`{}`))
	f.Add(400, "", []byte(``))
	f.Add(403, "", []byte(`{"error":{"code":"\u001b]0;pwned\u0007","message":"\u202eevil\r\nline","innerError":{"date":"2024-01-02T03:04:05Z"}}}`))
	f.Add(403, "", []byte(`{"error":{"code":"x","innerError":{"date":"not a date"}}}`)) // the SDK cannot decode it
	f.Add(502, "", []byte(`<html>Bad gateway</html>`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		status = 400 + abs0(status)%200 // the SDK raises errors for 4xx and 5xx
		err := graphError(status, retryAfter, body)
		var got *Failure
		if !errors.As(ClassifyGraph(err), &got) {
			t.Fatalf("ClassifyGraph(%v) is not a Failure", err)
		}
		checkFailure(t, got)
		var odata *odataerrors.ODataError
		var api *abs.ApiError
		if (errors.As(err, &odata) || errors.As(err, &api)) && got.Status != status {
			t.Fatalf("status %d was lost (%d)", status, got.Status)
		}
	})
}

func FuzzPartnerCenterError(f *testing.F) {
	f.Add(401, "", []byte(`{"code":600,"description":"The partner token is invalid."}`))
	f.Add(403, "", []byte(`{"code":"forbidden","description":"x"}`))
	f.Add(403, "", []byte(`{"code":"20002","description":"The partner ID p has no commerce relationship with the customer ID c.","data":[],"source":"PartnerFD"}`))
	f.Add(429, "57", []byte(`{"description":"Too many requests"}`))
	f.Add(500, "", []byte("<html>\n<body>Internal error</body>"))
	f.Add(404, "", []byte(`{"description":"\u001b]0;pwned\u0007\u001b[2J\u202e"}`))
	f.Add(400, "-5", []byte{0xff, 0xfe, 0x1b})
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		status = 100 + abs0(status)%500
		if status == http.StatusOK {
			return // not an error
		}
		got := partnerCenterError("/customers", status, http.Header{"Retry-After": {retryAfter}}, body)
		checkFailure(t, got)
		want := map[int]string{401: "PartnerCenterUnauthorized", 403: "PartnerCenterForbidden"}[status]
		if want == "" {
			want = "HTTP" + strconv.Itoa(status)
		}
		// A documented code with its own catalogue entry (a string or a number) wins.
		var e struct {
			Code json.RawMessage `json:"code"`
		}
		if json.Unmarshal(body, &e) == nil {
			if n, err := strconv.Atoi(strings.Trim(string(e.Code), `"`)); err == nil {
				if _, known := Lookup("PartnerCenter" + strconv.Itoa(n)); known {
					want = "PartnerCenter" + strconv.Itoa(n)
				}
			}
		}
		if got.Code != want || got.Status != status || !strings.HasPrefix(got.Message, "Partner Center /customers:") {
			t.Fatalf("status %d gave %s (%d) %q", status, got.Code, got.Status, got.Message)
		}
	})
}

func abs0(n int) int {
	if n < 0 {
		return -(n + 1) // no overflow at the minimum
	}
	return n
}

// A Retry-After too large for a Duration, infinite or in the past neither
// overflows into a negative wait nor parks anyone for years.
func TestRetryAfterIsBounded(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"1e300": MaxRetryAfter, "+Inf": MaxRetryAfter, "99999999999999999999": MaxRetryAfter, "7200": MaxRetryAfter,
		"Mon, 02 Jan 2006 15:04:05 GMT": 0, "NaN": 0, "-5": 0, "30": 30 * time.Second,
	} {
		if got := ParseRetryAfter(v); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
	if got := FromCode("", 429, "", -time.Second, nil).RetryAfter; got != 0 {
		t.Errorf("a negative wait became %s", got)
	}
}
