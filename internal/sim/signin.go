package sim

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// SignIn completes the simulator's interactive sign-in without a browser: it GETs authorizeURL
// (an authorize or an adminconsent URL), submits user and password, then mfaCode when the MFA
// page appears, and accepts the consent page. It returns where the simulator finally redirects
// — the app's redirect_uri carrying code and state, admin_consent and tenant, or error — without
// following it. An error page, or a form that comes back with an error (wrong password, wrong
// code), is returned as an error quoting the AADSTS message.
func SignIn(ctx context.Context, hc *http.Client, authorizeURL string, user, password, mfaCode string) (*url.URL, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	// password, MFA and consent pages at most, plus one spare so a loop is reported, not run
	for range 4 {
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("sign-in: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sign-in: read %s: %w", req.URL, err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("sign-in: redirect without location: %w", err)
			}
			return loc, nil
		}
		p := parseForm(string(body))
		if p.alert != "" {
			return nil, fmt.Errorf("sign-in: %s", p.alert)
		}
		if p.action == "" {
			return nil, fmt.Errorf("sign-in: %s answered %s without a sign-in form", req.URL, resp.Status)
		}
		form := p.hidden
		switch {
		case p.inputs["passwd"]:
			form.Set("login", user)
			form.Set("passwd", password)
		case p.inputs["otc"]:
			if mfaCode == "" {
				return nil, errors.New("sign-in: the account requires an MFA code but none was given")
			}
			form.Set("otc", mfaCode)
		case p.buttons["consent"]:
			form.Set("consent", "accept")
		default:
			return nil, fmt.Errorf("sign-in: unrecognised form on %s", req.URL)
		}
		action, err := req.URL.Parse(p.action)
		if err != nil {
			return nil, fmt.Errorf("sign-in: form action %q: %w", p.action, err)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return nil, fmt.Errorf("sign-in: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return nil, errors.New("sign-in: too many pages without a redirect")
}

// SignInAs is SignIn as the scenario's user upn (the partner admin, a partner user or a
// customer admin) with the password and MFA code the scenario gives them, so tests sign in as
// DefaultOperatorUPN or DefaultOutsiderUPN without repeating credentials.
func (s *Server) SignInAs(ctx context.Context, hc *http.Client, authorizeURL, upn string) (*url.URL, error) {
	acct := s.dir.accounts[strings.ToLower(upn)]
	if acct == nil {
		return nil, fmt.Errorf("sign-in: %s is not a user of the scenario (use the partner admin, a partner user or a customer admin)", upn)
	}
	return SignIn(ctx, hc, authorizeURL, acct.UPN, acct.Password, acct.MFACode)
}

// signInPage is what SignIn needs from one of the simulator's pages. The markup is the
// simulator's own, so a few patterns suffice; no general HTML parser is needed.
type signInPage struct {
	action  string
	hidden  url.Values
	inputs  map[string]bool // names of visible inputs
	buttons map[string]bool // names of submit buttons
	alert   string
}

var (
	formRE   = regexp.MustCompile(`<form[^>]*\saction="([^"]*)"`)
	inputRE  = regexp.MustCompile(`<input[^>]*>`)
	buttonRE = regexp.MustCompile(`<button[^>]*\sname="([^"]*)"`)
	attrRE   = regexp.MustCompile(`\s(\w+)="([^"]*)"`)
	alertRE  = regexp.MustCompile(`(?s)role="alert"[^>]*>(.*?)</`)
)

func parseForm(doc string) signInPage {
	p := signInPage{hidden: url.Values{}, inputs: map[string]bool{}, buttons: map[string]bool{}}
	if m := formRE.FindStringSubmatch(doc); m != nil {
		p.action = html.UnescapeString(m[1])
	}
	if m := alertRE.FindStringSubmatch(doc); m != nil {
		p.alert = strings.TrimSpace(html.UnescapeString(m[1]))
	}
	for _, tag := range inputRE.FindAllString(doc, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if attrs["type"] == "hidden" {
			p.hidden.Set(attrs["name"], attrs["value"])
		} else if attrs["name"] != "" {
			p.inputs[attrs["name"]] = true
		}
	}
	for _, m := range buttonRE.FindAllStringSubmatch(doc, -1) {
		p.buttons[m[1]] = true
	}
	return p
}
