package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/microsoft"
)

// LicenceResult counts one customer's licence import.
type LicenceResult struct {
	Licences      int
	Subscriptions int
	Events        int // changes of units or status recorded
}

// ImportLicences reads a customer's licences from Partner Center with the
// partner's delegated token (no tenant consent needed) and saves them in
// one transaction. With the subscriptions source it also reads the
// partner's subscriptions, attaches them to their SKUs and keeps only the
// SKUs the partner sells.
func (a *Activities) ImportLicences(ctx context.Context, partnerID, tenantID string) (LicenceResult, error) {
	settings, err := a.Store.LicenceSettings(ctx, partnerID)
	if err != nil {
		return LicenceResult{}, err
	}
	if settings.Source == domain.FromSubscriptions && settings.RefusedAt != nil {
		// Refused before: asking every tenant again would be a retry loop.
		return LicenceResult{}, refusedBefore()
	}
	creds, err := a.credentials(ctx, partnerID, tenantID, domain.OpLicences)
	if err != nil {
		return LicenceResult{}, err
	}
	cu, err := a.Store.GetCustomerByTenant(ctx, tenantID)
	if err != nil {
		return LicenceResult{}, err
	}
	pc := a.Auth.PartnerCenter(creds)
	skus, err := pc.SubscribedSkus(ctx, tenantID)
	if err != nil {
		return LicenceResult{}, a.fail(ctx, partnerID, tenantID, domain.OpLicences, err)
	}
	licences := make([]licensing.Licence, 0, len(skus))
	pcNames := map[string][]string{}
	for _, k := range skus {
		id := k.ProductSku.ID
		licences = append(licences, licensing.Licence{SkuID: id, PartNumber: k.ProductSku.SkuPartNumber,
			ProductName: licensing.ProductName(id, k.ProductSku.SkuPartNumber),
			Total:       k.TotalUnits, Active: k.ActiveUnits, Consumed: k.ConsumedUnits, Suspended: k.SuspendedUnits,
			Warning: k.WarningUnits, CapabilityStatus: k.CapabilityStatus})
		pcNames[id] = append(pcNames[id], k.ProductSku.Name)
	}
	var subs []licensing.Subscription
	if settings.Source == domain.FromSubscriptions {
		pcSubs, err := pc.Subscriptions(ctx, tenantID)
		if err != nil {
			var f *microsoft.Failure
			if errors.As(err, &f) && f.Code == domain.CodeMembershipRefused {
				if serr := a.Store.RefuseLicenceSource(ctx, partnerID); serr != nil {
					return LicenceResult{}, serr
				}
			}
			return LicenceResult{}, a.fail(ctx, partnerID, tenantID, domain.OpLicences, err)
		}
		for _, s := range pcSubs {
			subs = append(subs, licensing.Subscription{ID: s.ID, OfferID: s.OfferID, OfferName: s.OfferName,
				FriendlyName: s.FriendlyName, Quantity: s.Quantity, Status: s.Status, BillingCycle: s.BillingCycle,
				TermDuration: s.TermDuration, CommitmentEndDate: s.CommitmentEndDate, AutoRenew: s.AutoRenewEnabled, Trial: s.IsTrial})
		}
		subs = licensing.Attach(subs, licences, pcNames)
		licences = licensing.Sold(licences, subs)
	}
	counts, err := a.Store.SaveLicences(ctx, cu.ID, licences, subs)
	if err != nil {
		return LicenceResult{}, fmt.Errorf("saving the licences of %s: %w", tenantID, err)
	}
	if err := a.Store.ResolveErrors(ctx, partnerID, tenantID, domain.OpLicences); err != nil {
		return LicenceResult{}, err
	}
	activity.GetLogger(ctx).Info("licences imported", "tenant", tenantID, "licences", counts.Licences, "events", counts.Events)
	return LicenceResult{Licences: counts.Licences, Subscriptions: counts.Subscriptions, Events: counts.Events}, nil
}

// refusedBefore is the recorded membership refusal, without asking again.
func refusedBefore() error {
	info := microsoft.FromCode(domain.CodeMembershipRefused, 0, "", 0, nil).Info()
	return temporal.NewApplicationErrorWithOptions(info.String(), string(info.Reaction),
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{info}})
}
