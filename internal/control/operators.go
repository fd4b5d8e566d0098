package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
)

// Operators sign in to the worker's pages with their account in a partner's
// Entra tenant, through that partner's Partner Center app (OpenID Connect).
// The sign-in in progress rests sealed in the browser's cookie, so an
// anonymous visitor stores nothing; a finished sign-in becomes a session in
// the store, known there only by its token's hash.

const (
	// OperatorSessionTTL is how long a signed-in operator stays signed in.
	OperatorSessionTTL = 8 * time.Hour
	// OperatorSignInTTL is how long a sign-in may take at Microsoft.
	OperatorSignInTTL = 10 * time.Minute
	pendingPurpose    = "operator-sign-in"
)

// Operator is a signed-in operator.
type Operator struct {
	PartnerID string
	UPN       string
	Name      string
	ExpiresAt time.Time
	// CSRF is what every form of the session posts back. It is derived from
	// the session token (which stays in an HttpOnly cookie) and reveals
	// nothing about it.
	CSRF string
}

// SignInPartner is a partner whose tenant operators may sign in with.
type SignInPartner struct{ ID, DisplayName, TenantID string }

// ErrNoSession means the request carries no live operator session.
var ErrNoSession = errors.New("not signed in, or the session has expired")

// ErrNotOperator means the signed-in user is not on the allow-list.
var ErrNotOperator = errors.New("not an operator of cspsync")

// ErrNoOperators means the worker was started without an allow-list and
// without being told that everyone in the partner's tenant is an operator:
// its pages admit no one.
var ErrNoOperators = fmt.Errorf("this worker has no operators allow-list, so its pages admit no one: set %s (user principal names) or %s (a group's object id), "+
	"or, if every user of the partner's tenant may see and change every customer, %s=true; then restart the worker",
	config.EnvOperators, config.EnvOperatorGroup, config.EnvOperatorsEveryone)

// CheckOperators validates the allow-list the worker was started with.
func CheckOperators(o config.Operators) error {
	if o.EveryoneInPartnerTenant && o.Listed() {
		return fmt.Errorf("%s=true admits every user of the partner's tenant, so %s and %s would have no effect: set either the allow-list or %s",
			config.EnvOperatorsEveryone, config.EnvOperators, config.EnvOperatorGroup, config.EnvOperatorsEveryone)
	}
	if o.Group != "" && !guidRE.MatchString(o.Group) {
		return fmt.Errorf("%s %q is not a group object id: copy the GUID from Entra ID > Groups > the group > Object Id", config.EnvOperatorGroup, o.Group)
	}
	for _, u := range o.UPNs {
		if !upnRE.MatchString(u) {
			return fmt.Errorf("%s: %q is not a user principal name (name@domain), separate names with commas", config.EnvOperators, u)
		}
	}
	return nil
}

var upnRE = regexp.MustCompile(`^[^@\s,]+@[^@\s,]+$`)

// admits applies the allow-list: a listed user principal name, or a member
// of the group; anyone of the partner tenant only when the worker was told
// so; no one when nothing is configured.
func (c *Control) admits(upn string, groups []string) bool {
	o := c.operators
	if o.EveryoneInPartnerTenant {
		return true
	}
	return slices.ContainsFunc(o.UPNs, func(u string) bool { return strings.EqualFold(u, upn) }) ||
		(o.Group != "" && slices.ContainsFunc(groups, func(g string) bool { return strings.EqualFold(g, o.Group) }))
}

// SignInPartners lists the partners operators may sign in through.
func (c *Control) SignInPartners(ctx context.Context) ([]SignInPartner, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	partners, err := st.ListPartners(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SignInPartner, 0, len(partners))
	for _, p := range partners {
		out = append(out, SignInPartner{ID: p.ID, DisplayName: p.DisplayName, TenantID: p.PartnerTenantID})
	}
	return out, nil
}

// OperatorSignIn is a sign-in just started: where the browser goes, and the
// sealed value it keeps (in a cookie) until it comes back.
type OperatorSignIn struct {
	URL     string
	Pending string
}

// pendingSignIn is what the browser keeps, sealed, during a sign-in.
type pendingSignIn struct {
	State     string `json:"s"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"`
	PartnerID string `json:"p"`
	Expires   int64  `json:"e"`
}

// StartOperatorSignIn begins an operator's sign-in with the partner's tenant.
func (c *Control) StartOperatorSignIn(ctx context.Context, partnerID string) (OperatorSignIn, error) {
	if !c.operators.EveryoneInPartnerTenant && !c.operators.Listed() {
		return OperatorSignIn{}, ErrNoOperators
	}
	st, err := c.db(ctx)
	if err != nil {
		return OperatorSignIn{}, err
	}
	creds, err := st.Credentials(ctx, partnerID)
	if err != nil {
		return OperatorSignIn{}, err
	}
	auth, err := c.microsoft(ctx)
	if err != nil {
		return OperatorSignIn{}, err
	}
	verifier, challenge := microsoft.PKCE()
	p := pendingSignIn{State: microsoft.RandomToken(), Nonce: microsoft.RandomToken(), Verifier: verifier,
		PartnerID: partnerID, Expires: time.Now().Add(OperatorSignInTTL).Unix()}
	u, err := auth.OperatorSignInURL(ctx, creds, c.redirectURI(config.OperatorCallbackPath), p.State, p.Nonce, challenge)
	if err != nil {
		return OperatorSignIn{}, err
	}
	plain, _ := json.Marshal(p)
	return OperatorSignIn{URL: u, Pending: base64.RawURLEncoding.EncodeToString(st.SealValue(plain, pendingPurpose))}, nil
}

// FinishOperatorSignIn completes a sign-in: the callback must come back to
// the browser that started it (its sealed pending value) with the same
// state; the code is redeemed, the ID token validated and the allow-list
// applied. It returns the new session's token.
func (c *Control) FinishOperatorSignIn(ctx context.Context, pending string, cb Callback) (string, Operator, error) {
	cb = cb.clean()
	st, err := c.db(ctx)
	if err != nil {
		return "", Operator{}, err
	}
	var p pendingSignIn
	sealed, err := base64.RawURLEncoding.DecodeString(pending)
	if err == nil {
		var plain []byte
		if plain, err = st.OpenValue(sealed, pendingPurpose); err == nil {
			err = json.Unmarshal(plain, &p)
		}
	}
	switch {
	case pending == "" || err != nil:
		return "", Operator{}, fmt.Errorf("%w: this sign-in was not started in this browser (or the worker's key changed): sign in again", ErrBadCallback)
	case subtle.ConstantTimeCompare([]byte(p.State), []byte(cb.State)) != 1:
		return "", Operator{}, fmt.Errorf("%w: the state does not belong to the sign-in this browser started: sign in again", ErrBadCallback)
	case time.Now().Unix() > p.Expires:
		return "", Operator{}, fmt.Errorf("%w: the sign-in took longer than %s: sign in again", ErrBadCallback, OperatorSignInTTL)
	case cb.Error != "":
		return "", Operator{}, cb.refusal(domain.OpOperatorSignIn)
	}
	creds, err := st.Credentials(ctx, p.PartnerID)
	if err != nil {
		return "", Operator{}, err
	}
	auth, err := c.microsoft(ctx)
	if err != nil {
		return "", Operator{}, err
	}
	claims, err := auth.OperatorSignIn(ctx, creds, cb.Code, p.Verifier, c.redirectURI(config.OperatorCallbackPath), p.Nonce)
	var f *microsoft.Failure
	switch {
	case errors.As(err, &f):
		return "", Operator{}, &Refused{f.For(domain.OpOperatorSignIn).Info()}
	case err != nil:
		return "", Operator{}, fmt.Errorf("%w: %w", ErrBadCallback, err)
	}
	if !c.operators.EveryoneInPartnerTenant && !c.operators.Listed() {
		return "", Operator{}, fmt.Errorf("%w: %w", ErrNotOperator, ErrNoOperators)
	}
	if !c.admits(claims.UPN, claims.Groups) {
		why := fmt.Sprintf("%s is neither listed in %s nor a member of the group %s names", claims.UPN, config.EnvOperators, config.EnvOperatorGroup)
		if claims.ClaimNames["groups"] != "" && c.operators.Group != "" {
			why += " (the account is in more groups than an ID token lists, so its groups are unknown: list it in " + config.EnvOperators + ")"
		}
		return "", Operator{}, fmt.Errorf("%w: %s", ErrNotOperator, why)
	}
	token := microsoft.RandomToken()
	o := store.OperatorSession{PartnerID: p.PartnerID, UPN: claims.UPN, Name: claims.Name, Groups: claims.Groups,
		ExpiresAt: time.Now().Add(OperatorSessionTTL)}
	if err := st.CreateOperatorSession(ctx, token, o); err != nil {
		return "", Operator{}, err
	}
	return token, operator(token, o), nil
}

// Operator returns the operator of a session token, checked again against
// the allow-list (which may have changed since the sign-in).
func (c *Control) Operator(ctx context.Context, token string) (Operator, error) {
	if token == "" {
		return Operator{}, ErrNoSession
	}
	st, err := c.db(ctx)
	if err != nil {
		return Operator{}, err
	}
	o, err := st.GetOperatorSession(ctx, token)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.admits(o.UPN, o.Groups)) {
		return Operator{}, ErrNoSession
	}
	if err != nil {
		return Operator{}, err
	}
	return operator(token, o), nil
}

// SignOut ends a session.
func (c *Control) SignOut(ctx context.Context, token string) error {
	st, err := c.db(ctx)
	if err != nil {
		return err
	}
	return st.DeleteOperatorSession(ctx, token)
}

func operator(token string, o store.OperatorSession) Operator {
	sum := sha256.Sum256([]byte("csrf\x00" + token))
	return Operator{PartnerID: o.PartnerID, UPN: o.UPN, Name: o.Name, ExpiresAt: o.ExpiresAt,
		CSRF: base64.RawURLEncoding.EncodeToString(sum[:])}
}
