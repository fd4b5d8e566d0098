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
// assignments, user changes) live in Options.StateDir next to the CA and the token signing
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
//	/{tenant}/v2.0/adminconsent, /{tenant}/adminconsent admin consent, v2.0 and v1 (HTML forms)
//	/{tenant}/oauth2/v2.0/token                       authorization_code, refresh_token, client_credentials
//	/{tenant}/oauth2/v2.0/logout                      sign-out (end_session_endpoint)
//	/oidc/userinfo                                    OIDC UserInfo (on Graph's host)
//	/v1/customers[/{id}[/subscriptions[/{id}]|/subscribedskus]] Partner Center
//	/v1.0/organization[/{id}], /v1.0/users[/{id}], /v1.0/users/delta[()], /v1.0/users/{id}/memberOf,
//	/v1.0/subscribedSkus, /v1.0/users/{id}/assignLicense,
//	/v1.0/tenantRelationships/delegatedAdminRelationships[/{id}/accessAssignments]   Graph
//	/_sim/…                                           control API (see AdminClient)
//
// # Graph users
//
// Generated tenants hold employees with full profiles (department, company, office, employee
// id and type, phones, address, preferred language; samAccountName and immutable id in the
// tenants synced from on-premises AD), plus service accounts (svc-…), scanners, shared and
// room mailboxes (disabled), guests (#EXT#, userType Guest), disabled and unlicensed users,
// the groups and activated directory roles memberOf lists. Users are answered as Microsoft
// documents them:
//
//   - $select takes the properties of userProps (case-insensitive); an unknown one is 400
//     BadRequest "Could not find a property named …". Without $select, the eleven defaults.
//     Empty values are null; collections are never null.
//   - List users: $top 1–999 (default 100), absolute nextLinks with $skiptoken; pages with
//     signInActivity hold at most 500 users. $filter takes eq, in, startsWith (and, or,
//     parentheses) on the properties and operators Microsoft supports by default; ne, not,
//     endsWith and properties such as companyName need ConsistencyLevel: eventual and
//     $count=true, which also add @odata.count. in takes at most 15 values (id in (…) reads
//     users by id). Anything else is 400 Request_UnsupportedQuery, a malformed clause 400
//     BadRequest. $search ("property:text" clauses, AND, OR; displayName by tokens, other
//     properties by their start) needs ConsistencyLevel: eventual; $orderby takes displayName
//     and userPrincipalName, createdDateTime and sorting a filtered or searched list only in
//     advanced queries; $expand takes memberOf and transitiveMemberOf (20 objects at most),
//     not in advanced queries. The id is returned whether or not it is selected.
//   - signInActivity needs an Entra ID P1/P2 tenant (else 403); every user has it, a date
//     Graph does not have (never signed in, a sign-in before April 2020, a successful one
//     before December 2023) being "0001-01-01T00:00:00Z" with an empty request id, never "".
//     Not trackable by delta.
//   - users/delta: pages of at most 200 users (Prefer: odata.maxpagesize lowers it and is
//     echoed in Preference-Applied; $top is ignored). Links have Microsoft's form
//     (/v1.0/users/delta?$skiptoken=… and ?$deltatoken=…) and carry $select and the id scoping
//     filter (id eq '…' or …, at most 50). The first round lists live users with the selected
//     properties (null ones left out); later rounds list users changed since: one who existed
//     at the token by default with every selected property (its old value where unchanged, null
//     where cleared, left out where never set), with Prefer: return=minimal (on any page; or
//     SetDeltaResponses) with id and only the properties changed since; one created or restored
//     since whole, soft-deleted ones as
//     @removed reason "changed", permanently deleted ones as "deleted"; a round without
//     changes is value [] with a new deltaLink. $deltatoken=latest
//     returns only a deltaLink. Tokens live seven days; an expired, unknown or reset
//     (ExpireDeltaTokens) token is 410 Gone syncStateNotFound with a Location that restarts a
//     full round. A tenant keeps a change log of user versions, and each changed user the
//     version of each property's last change, not snapshots.
//   - Throttling follows Microsoft's identity and access limits: resource units per app and
//     tenant (3,500/5,000/8,000 per 10 s by tenant size; SetGraphBudget lowers one), per app
//     (150,000 per 20 s) and writes per app and tenant (3,000 per 150 s), with Microsoft's
//     request costs. Over a limit: 429 TooManyRequests with Retry-After and x-ms-throttle-*
//     headers; other answers carry x-ms-resource-unit.
//   - ExpireAccessTokens makes Graph refuse earlier access tokens as expired ("Lifetime
//     validation failed, the token is expired."); ChangeUsers, UpdateUser, DeleteUser,
//     PurgeUser and RestoreUser change a tenant's users for delta rounds to report.
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
// innerError}}, Partner Center's {code, description, data, source} with its documented codes
// (800001/400 unauthorised, 800002 bad input, 900118 bad customer id, 20002 not the partner's
// customer, 20003 no such subscription, 1000 not found, 800039 no reseller membership, 900150
// GDAP role lacks rights) and, when throttled, its {statusCode, message} body. SetFault injects
// throttling (429 with Retry-After) and 503s per API, on top of Graph's own throttling.
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
// users/{id}/assignLicense takes both lists (addLicenses, removeLicenses), refuses a user
// without usageLocation, a SKU the tenant does not own or has no unit left of, and a removal of
// a licence the user does not hold, each as Graph words it, and answers with the updated user;
// consumed units in both licence APIs follow at once. An app-only token needs
// LicenseAssignment.ReadWrite.All (or User/Directory.ReadWrite.All) among its roles, else 403
// Authorization_RequestDenied; SetLicenceWriteConsent withdraws it from a tenant's consent for
// tokens issued afterwards.
//
// # Customer relationships
//
// RemoveCustomer ends the partner's relationship with a customer in Partner Center (the
// customer list leaves it out; its endpoints answer 403, code 20002, as for any tenant that is
// not the partner's customer) and RestoreCustomer brings it back; the tenant itself is
// untouched. Both survive a restart.
//
// Every GDAP tenant has one GDAP relationship with the partner, listed by Graph's
// tenantRelationships/delegatedAdminRelationships (for the partner tenant, with
// DelegatedAdminRelationship.Read.All or ReadWrite.All, delegated or as an application
// permission; 403 Authorization_RequestDenied without) with the v1.0 reference's fields:
// @odata.type and @odata.etag, id (two GUIDs), displayName, duration, customer, accessDetails,
// status, autoExtendDuration and the four dates (activatedDateTime and endDateTime null until
// active); $top up to 300, nextLinks with $skiptoken. Its accessAssignments list one security
// group holding the relationship's roles: active while the relationship is, deleted once it
// ended, none before it is active; an unknown relationship id is 400 badRequest. The roles are
// Directory Readers, License Administrator, User Administrator and Helpdesk Administrator, or
// only roles that cannot read licences with Tenant.MissingGDAPRole. Tenant.GDAPStatus (and
// SetGDAPStatus at runtime, which dates the change now) sets the status: "expired" and
// "terminated" end it (endDateTime is then), "approvalPending" and the other early statuses
// hold it. Tenant.GDAPIndirectProviderTenantID makes it a resellerDelegatedAdminRelationship
// (indirectProviderTenantId, isPartnerConsentPending). Partner Center refuses a GDAP customer's
// licence endpoints (403, 900150) unless its relationship is active and grants one of Directory
// Readers, Global Reader, User Administrator or License Administrator.
//
// # Not simulated
//
//   - Certificate credentials, device code, ROPC, on-behalf-of; response_mode other than query;
//     response types with id_token (hybrid and implicit flows); prompt, SSO sessions,
//     front-channel logout.
//   - Conditional Access beyond "MFA required", sign-in frequency, token lifetime policies; the
//     only revocation is RevokeRefreshTokens (all users at once, like a password reset).
//   - Signing key rollover: Entra ID publishes several keys and rolls them; the simulator
//     publishes its one key until the state directory is reset. Access tokens cannot be
//     verified by clients.
//   - Group claims other than security groups ("DirectoryRole", "ApplicationGroup" are
//     refused), the groups overage claim (over 200 groups), and groups in access tokens.
//   - $select, $filter, $orderby and $count on GDAP relationships and access assignments, which
//     Microsoft supports (refused with 400); their other methods (get one, create, update).
//   - Graph beyond the endpoints above. $skip, and $search, $orderby, $expand, $filter and
//     $count outside the users endpoints that take them, are refused with 400 rather than
//     ignored. Not served for users: nested options in $expand, manager and other navigation
//     properties, filters on collections (any/all),
//     ge/le, /users/$count, memberOf filters and casts, transitiveMemberOf; the per-tenant and
//     per-app write quotas over 5 minutes.
//   - Where Microsoft documents no number, the simulator follows its support's answers: users
//     delta pages default to and max out at 200 users; the 410 reset is also used for tokens
//     the simulator cannot read.
//   - Partner Center beyond customers, their subscriptions and subscribed SKUs: no orders,
//     offers or products (subscription links point at them but they answer 404), no PATCH of
//     subscriptions, no add-on (parent) subscriptions, no Azure plans. totalCount is the number
//     of items in the page, as Partner Center's collections report it; subscriptions are not
//     paged. Its throttling happens only when injected.
//   - Graph's prepaidUnits.lockedOut is always 0 (no Partner Center status maps to it).
//   - Offer ids are NCE-shaped ("product:sku") but illustrative; SKU and service plan ids and
//     part numbers are Microsoft's. Customers' addresses are those of their admin's usage location.
package sim
