package microsoft

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	graphusers "github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/cspsync/cspsync/internal/domain"
)

// Codes cspsync gives Graph's licence-assignment refusals. Graph answers most of them as
// Request_BadRequest and tells them apart only by message, so each gets a catalogue entry
// of its own with its own fix.
const (
	CodeUsageLocationMissing = "LicenceUsageLocationMissing"
	CodeNoLicencesLeft       = "LicenceNoneLeft"
	CodeUnknownSku           = "LicenceUnknownSku"
	CodeLicenceNotHeld       = "LicenceNotHeld"
	CodeLicenceWriteDenied   = "LicenceWriteDenied"
	// CodeLicenceNotVerified: Graph accepted the change but reading the user back does not
	// show it.
	CodeLicenceNotVerified = "LicenceNotVerified"
)

// LicenceWritePermission is the least-privileged Graph application permission that lets the
// app assign and remove licences.
const LicenceWritePermission = "LicenseAssignment.ReadWrite.All"

// licenceWriteRoles are the application permissions that allow assignLicense.
var licenceWriteRoles = []string{LicenceWritePermission, "User.ReadWrite.All", "Directory.ReadWrite.All"}

func init() {
	for _, e := range []Entry{
		{CodeUsageLocationMissing, "The user has no usage location; Microsoft assigns no licence without one.",
			"Set the user's usage location (Microsoft 365 admin center > Users > the user > Account > Usage location), then ask for the change again.", domain.NeedsFix},
		{CodeNoLicencesLeft, "Microsoft says the subscription has no licence left to assign.",
			"Buy more seats for the customer in Partner Center, or remove the licence from a user who no longer needs it; then run `cspsync licences import --tenant <tenant>` and ask again.", domain.NeedsFix},
		{CodeUnknownSku, "The customer's tenant does not own this licence.",
			"Run `cspsync licences import --tenant <tenant>` and choose a SKU `cspsync licences list` shows for the customer.", domain.NeedsFix},
		{CodeLicenceNotHeld, "The user does not hold the licence to remove.",
			"Nothing to remove; the next users round brings the user's licences up to date in the PSA.", domain.NeedsFix},
		{CodeLicenceWriteDenied, "The Graph app's admin consent in this tenant does not include " + LicenceWritePermission + ", which assigning and removing licences needs.",
			"Add the application permission " + LicenceWritePermission + " to the multi-tenant Graph app (Entra ID > App registrations > the app > API permissions), then grant admin consent in the tenant again (`cspsync consent url <tenant>`).", domain.NeedsFix},
		{CodeLicenceNotVerified, "Reading the user back from Graph does not show the change Microsoft accepted; another admin or integration may have changed the user's licences meanwhile.",
			"Check the user's licences in the Microsoft 365 admin center and whether another tool manages this customer's licences; the PSA now shows what Microsoft holds. Ask again if the change is still wanted.", domain.NeedsFix},
	} {
		catalogue[e.Code] = e
	}
}

// UserLicences is what Graph says of one user's licences.
type UserLicences struct {
	Found          bool // false: the user is not (or no longer) in the tenant
	AccountEnabled bool
	UsageLocation  string
	SkuIDs         []string // lower case
}

// Holds tells whether the user holds the SKU.
func (u UserLicences) Holds(skuID string) bool {
	return slices.Contains(u.SkuIDs, strings.ToLower(skuID))
}

// UserLicences reads one user's usage location and assigned licences.
func (a *Auth) UserLicences(ctx context.Context, p domain.Credentials, tenantID, userID string) (UserLicences, error) {
	var u models.Userable
	err := a.graphCall(ctx, p, tenantID, func(gc *msgraphsdk.GraphServiceClient) (err error) {
		u, err = gc.Users().ByUserId(userID).Get(ctx, &graphusers.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &graphusers.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "accountEnabled", "usageLocation", "assignedLicenses"}}})
		return err
	})
	if err != nil {
		f := licenceFailure(err)
		if f.Code == "Request_ResourceNotFound" {
			return UserLicences{}, nil
		}
		return UserLicences{}, f
	}
	out := UserLicences{Found: true, AccountEnabled: u.GetAccountEnabled() != nil && *u.GetAccountEnabled()}
	if l := u.GetUsageLocation(); l != nil {
		out.UsageLocation = *l
	}
	for _, l := range u.GetAssignedLicenses() {
		if id := l.GetSkuId(); id != nil {
			out.SkuIDs = append(out.SkuIDs, strings.ToLower(id.String()))
		}
	}
	return out, nil
}

// AssignLicence adds and removes licences of one user in one call. Graph requires both
// lists, even when one is empty.
func (a *Auth) AssignLicence(ctx context.Context, p domain.Credentials, tenantID, userID string, add, remove []string) error {
	body := graphusers.NewItemAssignLicensePostRequestBody()
	adds := []models.AssignedLicenseable{}
	for _, id := range add {
		sku, err := uuid.Parse(id)
		if err != nil {
			return fmt.Errorf("SKU id %q is not a GUID", id)
		}
		l := models.NewAssignedLicense()
		l.SetSkuId(&sku)
		l.SetDisabledPlans([]uuid.UUID{})
		adds = append(adds, l)
	}
	removes := []uuid.UUID{}
	for _, id := range remove {
		sku, err := uuid.Parse(id)
		if err != nil {
			return fmt.Errorf("SKU id %q is not a GUID", id)
		}
		removes = append(removes, sku)
	}
	body.SetAddLicenses(adds)
	body.SetRemoveLicenses(removes)
	err := a.graphCall(ctx, p, tenantID, func(gc *msgraphsdk.GraphServiceClient) error {
		_, err := gc.Users().ByUserId(userID).AssignLicense().Post(ctx, body, nil)
		return err
	})
	if err != nil {
		return licenceFailure(err)
	}
	return nil
}

// SkuConsumed reads how many of the tenant's units of a SKU are assigned, as Graph counts them.
func (a *Auth) SkuConsumed(ctx context.Context, p domain.Credentials, tenantID, skuID string) (int, bool, error) {
	var res models.SubscribedSkuCollectionResponseable
	err := a.graphCall(ctx, p, tenantID, func(gc *msgraphsdk.GraphServiceClient) (err error) {
		res, err = gc.SubscribedSkus().Get(ctx, nil)
		return err
	})
	if err != nil {
		return 0, false, ClassifyGraph(err)
	}
	for _, k := range res.GetValue() {
		if id := k.GetSkuId(); id != nil && strings.EqualFold(id.String(), skuID) && k.GetConsumedUnits() != nil {
			return int(*k.GetConsumedUnits()), true, nil
		}
	}
	return 0, false, nil
}

// licenceFailure classifies a Graph error of a licence read or write, giving the refusals
// Graph words only in its message their own catalogue codes.
func licenceFailure(err error) *Failure {
	var f *Failure
	if !errors.As(ClassifyGraph(err), &f) {
		return Classify(err)
	}
	msg := strings.ToLower(f.Message)
	code := ""
	switch {
	case f.Code == "Authorization_RequestDenied":
		code = CodeLicenceWriteDenied
	case f.Code != "Request_BadRequest":
	case strings.Contains(msg, "usage location"):
		code = CodeUsageLocationMissing
	case strings.Contains(msg, "does not have any available licenses"):
		code = CodeNoLicencesLeft
	case strings.Contains(msg, "does not correspond to a valid company license"):
		code = CodeUnknownSku
	case strings.Contains(msg, "does not have a corresponding license"):
		code = CodeLicenceNotHeld
	}
	if code == "" {
		return f
	}
	return FromCode(code, f.Status, f.Message, 0, f.Err)
}

// AppRoles lists the application permissions the Graph app's admin consent gives it in a
// tenant, as the roles claim of a fresh app-only token states them.
func (a *Auth) AppRoles(ctx context.Context, p domain.Credentials, tenantID string) ([]string, error) {
	// A claims request makes MSAL skip its cache: a cached token would show the consent as
	// it was when the token was issued.
	token, _, err := a.graphAppToken(ctx, p, tenantID, fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix()))
	if err != nil {
		return nil, err
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the Graph access token is not a JWT: its roles cannot be read")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("the Graph access token's claims do not decode: %w", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, fmt.Errorf("the Graph access token's claims do not decode: %w", err)
	}
	return claims.Roles, nil
}

// MayWriteLicences tells whether the roles allow assigning and removing licences.
func MayWriteLicences(roles []string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(licenceWriteRoles, r) })
}
