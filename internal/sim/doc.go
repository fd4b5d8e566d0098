// Package sim is cspsync's Microsoft cloud simulator: Entra ID (login.microsoftonline.com),
// Partner Center (api.partnercenter.microsoft.com/v1) and Microsoft Graph
// (graph.microsoft.com/v1.0) on one local HTTPS origin, faithful enough that the real,
// unmodified MSAL Go and msgraph-sdk-go clients work against it with only their base URLs
// changed. It lets people try cspsync without a partner tenant, and tests run against it.
//
// # The world
//
// A Scenario (plain JSON data, loaded with LoadScenario or built with Generate) describes the
// partner tenant, its two app registrations (a single-tenant Partner Center app and a
// multi-tenant Graph app), the partner admin and further partner users and security groups
// (generated scenarios add an operator in a "cspsync operators" group with the admin, and an
// outsider), and the customer tenants with their users, licences and subscriptions. New
// serves a scenario; runtime changes (consent, revocations, expired secrets, licence
// assignments, deleted users) live in Options.StateDir next to the CA and the token signing
// keys, so a restarted simulator trusts the same ca.pem, publishes the same ID token key and
// accepts the refresh tokens, continuation tokens and delta tokens an earlier run issued.
//
// # Addresses
//
// Everything is relative to Server.URL():
//
//	/{tenant}/v2.0/.well-known/openid-configuration   OIDC discovery (tenant: GUID, domain, organizations, common)
//	/{tenant}/discovery/v2.0/keys                     ID token signing key (JWKS)
//	/{tenant}/oauth2/v2.0/authorize                   interactive sign-in (HTML forms)
//	/{tenant}/v2.0/adminconsent                       admin consent (HTML forms)
//	/{tenant}/oauth2/v2.0/token                       authorization_code, refresh_token, client_credentials
//	/{tenant}/oauth2/v2.0/logout                      sign-out (end_session_endpoint)
//	/v1/customers[/{id}/subscriptions|/subscribedskus] Partner Center
//	/v1.0/organization, /v1.0/users[/{id}], /v1.0/users/delta(), /v1.0/subscribedSkus,
//	/v1.0/users/{id}/assignLicense, /v1.0/tenantRelationships/delegatedAdminRelationships   Graph
//	/_sim/…                                           control API (see AdminClient)
//
// # Identity model
//
// ID tokens are Entra's v2.0 tokens, RS256-signed with a 2048-bit RSA key created once per
// state directory and published at jwks_uri as Entra publishes its keys: kty, use "sig", kid
// and x5t (both the base64url SHA-1 thumbprint of a self-signed certificate, which x5c
// carries), n, e, and issuer "…/{tenantid}/v2.0". The token header names the key by kid.
// Claims: iss (…/{tid}/v2.0), aud (client id), iat, nbf, exp (one hour), sub (pairwise per
// user, tenant and app), tid, ver "2.0", nonce (from the authorize request; not after a
// refresh), aio, rh, uti; with the profile scope name, preferred_username and oid; with the
// email scope email; and groups, the user's group object ids in that tenant, when the app
// registration's GroupMembershipClaims asks for them (left out when there are none). The
// discovery document advertises what is implemented (code, query, RS256,
// client_secret_post and client_secret_basic) and, like Entra's, no
// code_challenge_methods_supported although PKCE works; a wrong or missing code_verifier
// fails with AADSTS501481. Scope "openid profile" alone also yields a Graph token for
// User.Read, as in Entra ID.
//
// Access tokens are JWTs shaped like Entra's v1.0 tokens (aud, iss, tid, oid, appid, idtyp,
// scp or roles, amr, exp) but HMAC-signed with a second key: only the simulator verifies them
// (clients must treat access tokens as opaque, as Microsoft asks, and cannot verify Graph's
// either), and an RSA signature would cost about a millisecond per token in benchmarks that
// mint one per tenant. Graph and Partner Center answer for the tenant in tid. Refresh tokens
// are self-contained, signed, bound to client and user, and redeemable at any tenant the user
// may access: the partner's users may get tokens in every customer tenant (DAP/GDAP delegate
// to them), customer admins only in their own.
//
// The partner's multi-tenant apps are "consented" (have a service principal) in the partner
// tenant, implicitly in DAP tenants, and in GDAP tenants only after admin consent (the
// adminconsent sign-in, GrantConsent, or Tenant.Consented). Consent is checked live: client
// credentials and refresh in an unconsented tenant fail (AADSTS7000229, AADSTS65001), and an
// app-only token used at Graph after RevokeConsent fails with Authorization_IdentityNotFound.
// Single-tenant apps exist only in the partner tenant and, like Entra apps registered after
// October 2018, cannot use /organizations or /common (AADSTS50194). A user who signs in at a
// tenant they have no access to (a customer admin at the partner's single-tenant app) is
// authenticated, then refused with AADSTS50020.
//
// Sign-in needs password then MFA code. A user without a registered MFA method still gets an
// authorization code, but redeeming it fails with AADSTS50076, which is how a tenant policy
// requiring MFA looks to a confidential client. Scenario.AutoMFA skips the code prompt as if
// the user approved a push notification. Loopback redirect URIs match on any port, as in Entra.
// There is no browser session: every authorize request shows the sign-in form, and sign-out
// only redirects to a registered post_logout_redirect_uri (or shows a signed-out page).
//
// Errors use the services' shapes and texts: Entra's {error, error_description "AADSTSnnnn: …
// Trace ID … Correlation ID … Timestamp …", error_codes, …}, Graph's {error:{code, message,
// innerError}}, Partner Center's {code, description, data, source}. SetFault injects throttling
// (429 with Retry-After) and 503s per API.
//
// # Not simulated
//
//   - Certificate credentials, device code, ROPC, on-behalf-of; response_mode other than query;
//     response types with id_token (hybrid and implicit flows); prompt, SSO sessions, the
//     UserInfo endpoint, front-channel logout.
//   - Conditional Access beyond "MFA required", sign-in frequency, token lifetime policies; the
//     only revocation is RevokeRefreshTokens (all users at once, like a password reset).
//   - Signing key rollover: Entra ID publishes several keys and rolls them; the simulator
//     publishes its one key until the state directory is reset. Access tokens cannot be
//     verified by clients.
//   - Group claims other than security groups ("DirectoryRole", "ApplicationGroup" are
//     refused), the groups overage claim (over 200 groups), and groups in access tokens.
//   - Graph beyond the endpoints above; $filter, $search, $orderby, $expand, $count and $skip
//     are refused with 400 rather than ignored. Throttling happens only when injected.
//   - Partner Center beyond customers, subscriptions and subscribed SKUs. Its error "code" is
//     always 3000 (the description says what went wrong), and totalCount is the number of
//     items in the page, as Partner Center's collections report it.
//   - Offer ids are NCE-shaped but illustrative; SKU and service plan ids are Microsoft's.
package sim
