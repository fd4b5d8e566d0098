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
// multi-tenant Graph app), the partner admin, and the customer tenants with their users,
// licences and subscriptions. New serves a scenario; runtime changes (consent, revocations,
// expired secrets, licence assignments, deleted users) live in Options.StateDir next to the CA
// and the token signing key, so a restarted simulator trusts the same ca.pem and accepts the
// refresh tokens, continuation tokens and delta tokens an earlier run issued.
//
// # Addresses
//
// Everything is relative to Server.URL():
//
//	/{tenant}/v2.0/.well-known/openid-configuration   OIDC discovery (tenant: GUID, domain, organizations, common)
//	/{tenant}/oauth2/v2.0/authorize                   interactive sign-in (HTML forms)
//	/{tenant}/v2.0/adminconsent                       admin consent (HTML forms)
//	/{tenant}/oauth2/v2.0/token                       authorization_code, refresh_token, client_credentials
//	/v1/customers[/{id}[/subscriptions[/{id}]|/subscribedskus]] Partner Center
//	/v1.0/organization, /v1.0/users[/{id}], /v1.0/users/delta(), /v1.0/subscribedSkus,
//	/v1.0/users/{id}/assignLicense, /v1.0/tenantRelationships/delegatedAdminRelationships   Graph
//	/_sim/…                                           control API (see AdminClient)
//
// # Identity model
//
// Access tokens are JWTs shaped like Entra's v1.0 tokens (aud, iss, tid, oid, appid, idtyp,
// scp or roles, amr, exp) but HMAC-signed with the simulator's key; the JWKS is empty and
// clients must treat them as opaque, as Microsoft asks. Graph and Partner Center answer for
// the tenant in tid. Refresh tokens are self-contained, signed, bound to client and user, and
// redeemable at any tenant the user may access: the partner's users may get tokens in every
// customer tenant (DAP/GDAP delegate to them), customer admins only in their own.
//
// The partner's multi-tenant apps are "consented" (have a service principal) in the partner
// tenant, implicitly in DAP tenants, and in GDAP tenants only after admin consent (the
// adminconsent sign-in, GrantConsent, or Tenant.Consented). Consent is checked live: client
// credentials and refresh in an unconsented tenant fail (AADSTS7000229, AADSTS65001), and an
// app-only token used at Graph after RevokeConsent fails with Authorization_IdentityNotFound.
// Single-tenant apps exist only in the partner tenant and, like Entra apps registered after
// October 2018, cannot use /organizations or /common (AADSTS50194).
//
// Sign-in needs password then MFA code. A user without a registered MFA method still gets an
// authorization code, but redeeming it fails with AADSTS50076, which is how a tenant policy
// requiring MFA looks to a confidential client. Scenario.AutoMFA skips the code prompt as if
// the user approved a push notification. Loopback redirect URIs match on any port, as in Entra.
//
// Errors use the services' shapes and texts: Entra's {error, error_description "AADSTSnnnn: …
// Trace ID … Correlation ID … Timestamp …", error_codes, …}, Graph's {error:{code, message,
// innerError}}, Partner Center's {code, description, data, source} with its documented codes
// (800001/400 unauthorised, 800002 bad input, 900118 bad customer id, 20002 not the partner's
// customer, 20003 no such subscription, 1000 not found, 800039 no reseller membership, 900150
// GDAP role lacks rights) and, when throttled, its {statusCode, message} body. SetFault injects
// throttling (429 with Retry-After) and 503s per API.
//
// # Licences
//
// A tenant's subscriptions are the one source of truth for both Partner Center's subscribed
// SKUs and Graph's /subscribedSkus, which agree unit for unit: active quantities are enabled
// units, expired ones warning units, suspended ones suspended units, deleted ones none
// (licences.go has the full mapping); consumed units are the users holding the SKU, and
// Sku.NonPartnerUnits covers free or self-service SKUs no partner subscription lists.
// Partner Center serves the customer, its subscriptions (Microsoft's fields: entitlementId,
// etag, offer and self links, …) and subscribed SKUs (productSku.licenseGroupId, units,
// capabilityStatus, service plans). Scenario.MembershipRefused makes the subscriptions API
// refuse the partner (403 800039) while subscribed SKUs still answer; Tenant.MissingGDAPRole
// makes both licence endpoints refuse one GDAP customer (403 900150). AddSubscription,
// SetSubscriptionStatus, SetSubscriptionQuantity, RemoveSubscription, SetMembershipRefused and
// SetMissingGDAPRole (and their AdminClient twins) move the truth at runtime; both APIs show a
// change at once and it survives a restart. Generate gives every tenant a realistic licence
// mix with Microsoft's SKU and service plan ids.
//
// # Not simulated
//
//   - Certificate credentials, device code, ROPC, on-behalf-of; response_mode other than query.
//   - Conditional Access beyond "MFA required", sign-in frequency, token lifetime policies; the
//     only revocation is RevokeRefreshTokens (all users at once, like a password reset).
//   - Token signature validation by clients (no public keys are published).
//   - Graph beyond the endpoints above; $filter, $search, $orderby, $expand, $count and $skip
//     are refused with 400 rather than ignored. Throttling happens only when injected.
//   - Partner Center beyond customers, their subscriptions and subscribed SKUs: no orders,
//     offers or products (subscription links point at them but they answer 404), no PATCH of
//     subscriptions, no add-on (parent) subscriptions, no Azure plans. totalCount is the number
//     of items in the page, as Partner Center's collections report it; subscriptions are not
//     paged. Its throttling happens only when injected.
//   - Graph's prepaidUnits.lockedOut is always 0 (no Partner Center status maps to it).
//   - Offer ids are NCE-shaped ("product:sku") but illustrative; SKU and service plan ids and
//     part numbers are Microsoft's. Customer billing profiles carry no postal address.
package sim
