package microsoft

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/text"
)

// CodeDeltaExpired is Graph's answer to an expired or reset delta token
// (410 Gone); any 410 from Graph is read as one.
const CodeDeltaExpired = "syncStateNotFound"

// CodePageNotStored is PostgreSQL refusing a users page for a reason that
// is no one user's: retrying writes the same rows and fails the same way.
const CodePageNotStored = "PageNotStored"

// CodeInactivationBrake is the safety brake stopping a users round that
// would make more of a customer's active users inactive at once than the
// partner allows: retrying decides the same, an operator must look.
const CodeInactivationBrake = "InactivationBrake"

// ErrDeltaExpired matches, through errors.Is, every failure whose reaction is
// domain.Resync: the delta link is dead and the caller starts a full round.
var ErrDeltaExpired = errors.New("the delta state is gone: start a full round")

// Entry is one known Microsoft failure.
type Entry struct {
	Code        string // AADSTS code, Graph error code or Partner Center code
	Cause       string
	Remediation string
	Reaction    domain.Reaction
}

// catalogue maps every Microsoft failure a CSP integration meets to its cause,
// fix and reaction. AADSTS codes are keyed as "AADSTS<n>".
var catalogue = map[string]Entry{}

func init() {
	for _, e := range []Entry{
		{"AADSTS7000215", "Invalid client secret: the secret's ID was probably pasted instead of its value.",
			"In Entra ID > App registrations > the app > Certificates & secrets, copy the secret's Value column (not the Secret ID), then run `cspsync connect` again with it.", domain.Reauthorise},
		{"AADSTS7000222", "The client secret has expired.",
			"Create a new client secret for the app in Entra ID > App registrations > Certificates & secrets, run `cspsync connect` with it, then authorise again.", domain.Reauthorise},
		{"AADSTS7000229", "The app has no service principal in the customer tenant: admin consent has not been granted there.",
			"Grant admin consent for the multi-tenant Graph app in this tenant (`cspsync consent url <tenant>`), or check that the multi-tenant app's credentials are the ones configured.", domain.AwaitConsent},
		{"AADSTS65001", "The app has not been consented in this tenant.",
			"Grant admin consent for the app in this tenant (`cspsync consent url <tenant>`).", domain.AwaitConsent},
		{"AADSTS65004", "The administrator declined consent.",
			"Ask a Global Administrator of the tenant to open the consent link again and accept.", domain.AwaitConsent},
		{"AADSTS90094", "Admin consent is required for the requested permissions.",
			"Ask a Global Administrator of the tenant to grant admin consent (`cspsync consent url <tenant>`).", domain.AwaitConsent},
		{"AADSTS50076", "Multi-factor authentication is required and the sign-in did not perform it.",
			"Authorise again with an account that completes MFA (`cspsync connect`); Partner Center requires MFA for app+user access.", domain.Reauthorise},
		{"AADSTS50079", "The user must register for multi-factor authentication.",
			"Register MFA for the signing-in account (https://aka.ms/mfasetup), then authorise again with `cspsync connect`.", domain.Reauthorise},
		{"AADSTS700082", "The refresh token expired after 90 days of inactivity.",
			"Authorise the partner again with `cspsync connect`.", domain.Reauthorise},
		{"AADSTS50173", "The grant was revoked (password changed or sessions revoked).",
			"Authorise the partner again with `cspsync connect`.", domain.Reauthorise},
		{"AADSTS70043", "The refresh token expired under a Conditional Access sign-in frequency policy.",
			"Authorise the partner again with `cspsync connect`; consider excluding the integration account from short sign-in frequency policies.", domain.Reauthorise},
		{"AADSTS70008", "The authorization code or refresh token has expired.",
			"Authorise the partner again with `cspsync connect`.", domain.Reauthorise},
		{"AADSTS54005", "The authorization code was already redeemed.",
			"Start the sign-in again with `cspsync connect`; each sign-in link works once.", domain.NeedsFix},
		{"AADSTS50011", "The redirect URI is not registered on the app.",
			"Add cspsync's callback URL (CSPSYNC_PUBLIC_URL + /auth/callback, and /consent/callback for the Graph app) under Authentication > Web redirect URIs.", domain.NeedsFix},
		{"AADSTS700016", "The application was not found in the directory.",
			"Check the client id and the partner tenant given to `cspsync connect`; the Partner Center app must live in the partner tenant.", domain.NeedsFix},
		{"AADSTS500011", "The resource principal was not found in the tenant (a required API is not listed).",
			"Add the API permission (Partner Center: user_impersonation; Graph: the listed permissions) to the app and grant admin consent.", domain.NeedsFix},
		{"AADSTS90002", "The tenant was not found.",
			"Check the tenant id or domain: the partner tenant in `cspsync connect`, or the customer's tenant id.", domain.NeedsFix},
		{"AADSTS50126", "Invalid username or password.", "Sign in again with the right credentials.", domain.NeedsFix},
		{"AADSTS70011", "The requested scope is invalid.",
			"Request only scopes the app declares; for app-only Graph access use https://graph.microsoft.com/.default.", domain.NeedsFix},
		{"AADSTS50020", "The user account does not exist in the tenant (AD user not found).",
			"Sign in with an account of the partner tenant that is in the AdminAgents group.", domain.NeedsFix},
		{"AADSTS50034", "The user account does not exist in the directory.",
			"Sign in with an existing account of the partner tenant.", domain.NeedsFix},
		{"InvalidAuthenticationToken", "Graph could not parse or validate the access token (compact token parsing, expired or wrong audience).",
			"cspsync fetches a fresh token and retries; if it persists, check that the Graph app (not the Partner Center app) is configured for Graph and authorise again.", domain.Retry},
		{"Authorization_IdentityNotFound", "The identity of the calling application could not be established: the app has no service principal or consent in the tenant.",
			"Grant admin consent for the multi-tenant Graph app in this tenant (`cspsync consent url <tenant>`).", domain.AwaitConsent},
		{"Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
			"Add the missing Graph application permissions to the multi-tenant app, then grant admin consent in the tenant again.", domain.AwaitConsent},
		{"Authentication_RequestFromNonPremiumTenantOrB2CTenant", "The tenant has no Entra ID P1/P2 licence, so sign-in activity is unavailable.",
			"Nothing to do: cspsync syncs without last sign-in dates. Buy Entra ID P1 for the tenant to get them.", domain.Degrade},
		{"Request_ResourceNotFound", "The object was not found in the directory.",
			"The user or object was deleted in Microsoft 365; cspsync drops it at the next sync.", domain.NeedsFix},
		{"MappingInvalid", "A site mapping, field mapping or matching rule of this customer cannot be used.",
			"Correct it with `cspsync mappings` (the message names the mapping and the mistake); the next round uses it.", domain.NeedsFix},
		{CodePageNotStored, "The database refuses to store a page of the tenant's users for a reason that is no single user's (the message is PostgreSQL's: a constraint, trigger or column type that the round's rows or the schema break). Users it refuses one by one are logged invalid and the others written; this page could not be, so the round stopped at it.",
			"Correct the database as the message says (a constraint or trigger added to psa_users, inbound_log or user_rounds, or a schema that `cspsync migrate` has not brought up to date), then run `cspsync sync --tenant T --wait`; the round resumes at this page.", domain.NeedsFix},
		{CodeInactivationBrake, "A users round would make more of the customer's active users inactive at once than the safety brake allows (`cspsync mappings settings`, max inactivate share): a site mapping that no longer places them, a mass disable or a tenant emptied by accident. The round stopped before writing the page that crossed the share; nothing of it was written.",
			"See who would go and why: `cspsync log --tenant T` shows what the round wrote so far, `cspsync mappings sites --customer C` the site mappings. If a mapping is wrong, correct it (`cspsync mappings set-sites`) and run `cspsync sync --tenant T --full --wait`. If the inactivations are meant, run `cspsync users confirm-inactivation --customer C`: the customer's next round makes them inactive (`cspsync sync --tenant T --wait` runs it now).", domain.NeedsFix},
		{CodeDeltaExpired, "Graph no longer has the tenant's delta state: the delta link is older than its seven-day life, or Microsoft reset the tenant's synchronization.",
			"Nothing to do: cspsync reads the tenant's users in full, inactivating those no longer present, and follows changes from there.", domain.Resync},
		{"resyncRequired", "The delta token is no longer valid: Graph asks for the synchronization to start again.",
			"Nothing to do: cspsync reads the tenant's users in full, inactivating those no longer present, and follows changes from there.", domain.Resync},
		{"TooManyRequests", "Microsoft throttled the request.", "Nothing to do: cspsync waits as long as Retry-After asks and retries.", domain.Retry},
		{"ServiceUnavailable", "Microsoft's service is temporarily unavailable.", "Nothing to do: cspsync retries with backoff.", domain.Retry},
		{"NotAuthorised", "The partner has not been authorised yet, or its sign-in was removed.",
			"Run `cspsync connect` and complete the sign-in in the browser.", domain.Reauthorise},
		{"PartnerCenterUnauthorized", "Partner Center refused the partner's token.",
			"Authorise again with `cspsync connect` as a user in the partner tenant's AdminAgents group, with the Partner Center app's user_impersonation permission consented.", domain.Reauthorise},
		{domain.CodeMembershipRefused, "Partner Center refuses the subscriptions API to the partner: it lacks the membership the API requires.",
			"Import all subscribed SKUs instead: run `cspsync connect` again with `--licence-source subscribed-skus` (and the partner's other settings).", domain.NeedsFix},
		{"PartnerCenter900150", "The partner's GDAP relationship with this customer grants none of the roles licence reads need.",
			"In Partner Center, give the GDAP relationship with this customer one of Directory Readers, Global Reader, User Administrator or License Administrator for the partner's security group, then run `cspsync licences import --tenant <tenant>`.", domain.NeedsFix},
		{"PartnerCenter20002", "Partner Center says the partner has no commerce relationship with this customer.",
			"Check the customer under Customers in Partner Center: its reseller relationship may have ended, or its tenant id, if set by hand, may be another partner's customer (correct it with `cspsync customers set-tenant`).", domain.NeedsFix},
		{"PartnerCenterForbidden", "The signed-in user may not act for the partner in Partner Center.",
			"Add the signing-in user to the AdminAgents group of the partner tenant, then authorise again.", domain.Reauthorise},
	} {
		catalogue[e.Code] = e
	}
}

// Codes cspsync gives failures of its own that the catalogue describes.
const (
	// CodeNetwork: any other error on the way to Microsoft.
	CodeNetwork = "Network"
	// CodeCertificate: the server's TLS certificate did not verify.
	CodeCertificate = "CertificateNotTrusted"
	// CodeSecretsForgotten: a partner's secrets and tokens, sealed with a
	// lost key, were dropped by `cspsync connect --forget-unreadable`.
	CodeSecretsForgotten = "SecretsForgotten"
)

func init() {
	for _, e := range []Entry{
		{CodeNetwork, "Microsoft could not be reached.",
			"Nothing to do if it passes: cspsync retries. If it persists, check the network, proxy and CA settings (CSPSYNC_CA_FILE).", domain.Retry},
		{CodeCertificate, "The TLS certificate of the server cspsync called did not verify: a CA this machine does not trust signed it (the simulator's own CA, or a proxy that inspects TLS), or it names another host or has expired. Retrying cannot fix it.",
			"Against the simulator, give cspsync its CA file (ca.pem in the simulator's state directory) with --ca-file or CSPSYNC_CA_FILE, for the worker and for every command. Against real Microsoft, leave the CA file empty, or give the CA of a proxy that inspects TLS.", domain.NeedsFix},
		{domain.CodeKeyMismatch, "A stored secret does not open with the encryption key: the key differs from the one it was sealed with, or the value was altered.",
			secrets.KeyFix, domain.NeedsFix},
		{CodeSecretsForgotten, "The partner's stored secrets and tokens were sealed with an encryption key that is lost; `cspsync connect --forget-unreadable` dropped them.",
			"Run `cspsync connect` for this partner with its apps' client secrets and sign in again.", domain.Reauthorise},
	} {
		catalogue[e.Code] = e
	}
}

// byOperation are the failures whose cause or fix depends on the operation
// that met them, each entry before the catalogue's: at the redirect URIs the
// same OAuth error is a cancelled sign-in at the partner's authorisation and
// a declined consent at a tenant's, and a replayed or expired code is the
// partner's `cspsync connect` again but an operator's sign-in at the
// worker's page again. The "" entry is the fix for any other refusal a
// redirect brings back.
var byOperation = map[domain.Operation]map[string]Entry{
	domain.OpAuthorise: {
		"access_denied": {Cause: "The sign-in was cancelled or declined at Microsoft.",
			Remediation: "To authorise cspsync, run `cspsync connect` and complete the sign-in as a partner admin (AdminAgents), accepting the permissions asked for.", Reaction: domain.NeedsFix},
		"AADSTS65004": {Cause: "The signing-in admin declined the Partner Center app's permissions.",
			Remediation: "Run `cspsync connect` and accept the permissions at sign-in, or grant admin consent for the Partner Center app in Entra ID > App registrations > API permissions.", Reaction: domain.NeedsFix},
		"AADSTS65001": {Cause: "The Partner Center app has not been consented in the partner tenant.",
			Remediation: "Grant admin consent for the Partner Center app in Entra ID > App registrations > API permissions, then run `cspsync connect` and sign in again.", Reaction: domain.NeedsFix},
		"": {Cause: "The sign-in did not complete.",
			Remediation: "Read Microsoft's message, then run `cspsync connect` and sign in again.", Reaction: domain.NeedsFix},
	},
	domain.OpOperatorSignIn: {
		"access_denied": {Cause: "The sign-in was cancelled or declined at Microsoft.",
			Remediation: "Open the tenants page again and sign in with your account in the partner's tenant.", Reaction: domain.NeedsFix},
		"AADSTS54005": {Cause: "This sign-in's authorization code was already used: the browser sent Microsoft's answer twice (a reload, the back button or a second tab).",
			Remediation: "Open the worker's tenants page again and sign in; each sign-in works once. Nothing else is needed.", Reaction: domain.NeedsFix},
		"AADSTS70008": {Cause: "This sign-in's authorization code expired before it reached cspsync.",
			Remediation: "Open the worker's tenants page again and sign in, without pausing at Microsoft's pages.", Reaction: domain.NeedsFix},
		"AADSTS50011": {Cause: "The worker's operator sign-in address is not a redirect URI of the Partner Center app.",
			Remediation: "Add CSPSYNC_PUBLIC_URL + /auth/operator/callback to the Partner Center app's Web redirect URIs (Entra ID > App registrations > Authentication), then sign in again.", Reaction: domain.NeedsFix},
		"": {Cause: "The operator sign-in did not complete.",
			Remediation: "Read Microsoft's message, then open the tenants page again and sign in.", Reaction: domain.NeedsFix},
	},
	domain.OpConsent: {
		"access_denied": {Cause: "The tenant's administrator cancelled or declined the admin consent.",
			Remediation: "Ask a Global Administrator of the tenant to open a new consent link (`cspsync consent url <tenant>` or the tenants page) and accept.", Reaction: domain.AwaitConsent},
		"AADSTS65004": {Cause: "The tenant's administrator declined the admin consent.",
			Remediation: "Ask a Global Administrator of the tenant to open a new consent link (`cspsync consent url <tenant>` or the tenants page) and accept.", Reaction: domain.AwaitConsent},
		"": {Cause: "The admin consent did not complete.",
			Remediation: "Read Microsoft's message, then ask a Global Administrator of the tenant to open a new consent link (`cspsync consent url <tenant>` or the tenants page).", Reaction: domain.AwaitConsent},
	},
}

// Refusal classifies the error and error_description a redirect brought
// back, for the round-trip op (OpAuthorise, OpOperatorSignIn or OpConsent):
// its own entry first, then the catalogue's, then the round-trip's general fix.
func Refusal(op domain.Operation, oauthError, description string) *Failure {
	code := AADSTSCode(description, oauthError)
	byCode := byOperation[op]
	for _, k := range []string{code, oauthError} {
		if e, ok := byCode[k]; ok {
			return fromEntry(code, 0, firstLine(description), e, nil)
		}
	}
	if e, ok := catalogue[code]; ok {
		return fromEntry(code, 0, firstLine(description), e, nil)
	}
	return fromEntry(code, 0, firstLine(description), byCode[""], nil)
}

// For is the failure as op met it: op's own cause and fix for its code when
// it has them (a replayed code at an operator's sign-in is not the
// partner's `cspsync connect`), else the catalogue's.
func (f *Failure) For(op domain.Operation) *Failure {
	e, ok := byOperation[op][f.Code]
	if !ok || f.Code == "" {
		return f
	}
	g := *f
	g.Entry = e
	g.Entry.Code = f.Code
	return &g
}

// Lookup returns the catalogue entry for a code.
func Lookup(code string) (Entry, bool) { e, ok := catalogue[code]; return e, ok }

// Failure is a Microsoft error classified against the catalogue. Its code
// and message come from Microsoft or a browser: they are cleaned and bounded
// (internal/text) before anything stores, logs or prints them.
type Failure struct {
	Entry
	Status     int           // HTTP status, 0 if none
	Message    string        // Microsoft's own message, first line only
	RetryAfter time.Duration // from Retry-After, for throttling
	Err        error
}

func (f *Failure) Error() string {
	if f.Message == "" {
		return fmt.Sprintf("%s (%s)", f.Code, f.Remediation)
	}
	return fmt.Sprintf("%s: %s (%s)", f.Code, f.Message, f.Remediation)
}

func (f *Failure) Unwrap() error { return f.Err }

// Info is the one way a Microsoft failure becomes the ErrorInfo that is
// recorded and shown: the catalogue's cause followed by Microsoft's own
// words (a remediation may say "read Microsoft's message"), its fix and its
// reaction.
func (f *Failure) Info() domain.ErrorInfo {
	cause := f.Cause
	if said := strings.TrimSuffix(f.Message, "."); said != "" && !strings.Contains(strings.ToLower(cause), strings.ToLower(said)) {
		cause = strings.TrimSuffix(cause, ".") + " (" + said + ")."
	}
	return domain.ErrorInfo{Code: f.Code, Cause: text.Clean(cause, text.MaxMessage), Remediation: f.Remediation,
		Reaction: f.Reaction, At: time.Now()}
}

// Is makes errors.Is(err, ErrDeltaExpired) report a dead delta link.
func (f *Failure) Is(target error) bool {
	return target == ErrDeltaExpired && f.Reaction == domain.Resync
}

// Classify turns any error from the Microsoft clients into a Failure.
// Unknown HTTP errors are classified by status: 429 and 5xx are transient,
// others need a fix. Network errors are transient.
func Classify(err error) *Failure {
	if err == nil {
		return nil
	}
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if errors.Is(err, secrets.ErrDecrypt) { // never Network: retrying cannot help
		// The catalogue says what the secrets package would; keep only
		// what was being read ("loading token cache").
		said := ""
		if !errors.Is(err, secrets.ErrWrongKey) {
			said = strings.TrimSuffix(strings.TrimSuffix(firstLine(err.Error()), secrets.ErrDecrypt.Error()), ": ")
		}
		return fromEntry(domain.CodeKeyMismatch, 0, said, catalogue[domain.CodeKeyMismatch], err)
	}
	var call msalerrors.CallErr
	if errors.As(err, &call) {
		return classifyAADSTS(call, err)
	}
	if CertificateFailure(err) {
		return fromEntry(CodeCertificate, 0, err.Error(), catalogue[CodeCertificate], err)
	}
	return fromEntry(CodeNetwork, 0, err.Error(), catalogue[CodeNetwork], err)
}

// CertificateFailure is true when err is a TLS certificate that did not
// verify against the CAs this process trusts: never a network blip.
func CertificateFailure(err error) bool {
	var verification *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verification) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid)
}

// tokenErrorBody is Entra ID's token endpoint error shape.
type tokenErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
}

var aadstsRE = regexp.MustCompile(`AADSTS(\d+)`)

// AADSTSCode finds "AADSTSnnnn" in an error description, else returns fallback.
func AADSTSCode(description, fallback string) string {
	if m := aadstsRE.FindStringSubmatch(description); m != nil {
		return "AADSTS" + m[1]
	}
	return fallback
}

func classifyAADSTS(call msalerrors.CallErr, err error) *Failure {
	status := 0
	if call.Resp != nil {
		status = call.Resp.StatusCode
	}
	text := call.Err.Error()
	var body tokenErrorBody
	if i := strings.Index(text, "{"); i >= 0 {
		_ = json.Unmarshal([]byte(text[i:]), &body)
	}
	code := ""
	if len(body.ErrorCodes) > 0 {
		code = "AADSTS" + strconv.Itoa(body.ErrorCodes[0])
	} else {
		code = AADSTSCode(text, "")
	}
	msg := firstLine(body.ErrorDescription)
	if msg == "" {
		msg = firstLine(text)
	}
	return FromCode(code, status, msg, 0, err)
}

// FromCode classifies a failure known by its Microsoft code and HTTP status.
func FromCode(code string, status int, message string, retryAfter time.Duration, err error) *Failure {
	code = text.Clean(code, text.MaxCode)
	if e, ok := catalogue[code]; ok {
		f := fromEntry(code, status, message, e, err)
		f.RetryAfter = boundRetryAfter(retryAfter)
		return f
	}
	e := Entry{Code: code, Reaction: domain.NeedsFix, Cause: "Microsoft rejected the request.",
		Remediation: "Read Microsoft's message; this error is not in cspsync's catalogue yet."}
	switch {
	case status == 429:
		e = catalogue["TooManyRequests"]
	case status == 410: // Graph's synchronization reset, whatever code it names
		e = catalogue[CodeDeltaExpired]
	case status >= 500:
		e = catalogue["ServiceUnavailable"]
	}
	switch {
	case code != "":
		e.Code = code
	case status != 0:
		e.Code = "HTTP" + strconv.Itoa(status)
	default: // nothing usable came with it
		e.Code = "Unknown"
	}
	f := fromEntry(e.Code, status, message, e, err)
	f.RetryAfter = boundRetryAfter(retryAfter)
	return f
}

// fromEntry is where every Failure is made, so every one is clean.
func fromEntry(code string, status int, message string, e Entry, err error) *Failure {
	e.Code = text.Clean(code, text.MaxCode)
	return &Failure{Entry: e, Status: status, Message: text.Clean(message, text.MaxMessage), Err: err}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// MaxRetryAfter is the longest wait a Retry-After can ask for: a broken or
// hostile header must not park a partner for years (or overflow into a
// negative delay).
const MaxRetryAfter = time.Hour

func boundRetryAfter(d time.Duration) time.Duration { return min(max(d, 0), MaxRetryAfter) }

// ParseRetryAfter reads a Retry-After header in seconds (Graph sends
// fractions such as "2.128"); HTTP dates are accepted too.
func ParseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(min(secs, MaxRetryAfter.Seconds()) * float64(time.Second))
	}
	if t, err := time.Parse(time.RFC1123, v); err == nil {
		return boundRetryAfter(time.Until(t))
	}
	return 0
}
