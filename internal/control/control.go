// Package control carries out the partner's decisions about tenants (consent,
// relationship, disconnection): it records them in the store and tells the
// running workflows. The CLI and the worker's web pages both go through it.
package control

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// OpConsent names admin consent in integration_errors.
const OpConsent = "consent"

// Control needs the store and a Temporal client.
type Control struct {
	Store     *store.Store
	Temporal  client.Client
	TaskQueue string
}

// SetConsent records a tenant's admin consent as granted or revoked and
// signals its workflow. A tenant without a running workflow picks the state
// up from the store when discovery starts it.
func (c *Control) SetConsent(ctx context.Context, tenantID string, granted bool) (store.Customer, error) {
	cu, err := c.Store.GetCustomerByTenant(ctx, tenantID)
	if err != nil {
		return cu, err
	}
	state := store.ConsentRevoked
	if granted {
		state = store.ConsentGranted
	}
	if err := c.Store.SetConsentState(ctx, cu.TenantID, state); err != nil {
		return cu, err
	}
	if granted {
		if err := c.Store.ResolveErrors(ctx, cu.PartnerID, cu.TenantID, OpConsent); err != nil {
			return cu, err
		}
	}
	cu.ConsentState = state
	return cu, c.signalTenant(ctx, cu, func(id string) error {
		return workflows.SignalConsent.Send(ctx, c.Temporal, id, workflows.ConsentChange{Granted: granted})
	})
}

// SetRelationship overrides a tenant's relationship (DAP or GDAP).
func (c *Control) SetRelationship(ctx context.Context, tenantID, relationship string) (store.Customer, error) {
	cu, err := c.Store.SetRelationship(ctx, tenantID, strings.ToUpper(relationship))
	if err != nil {
		return cu, err
	}
	return cu, c.signalTenant(ctx, cu, func(id string) error {
		return workflows.SignalRelationship.Send(ctx, c.Temporal, id, workflows.RelationshipChange{Relationship: cu.Relationship})
	})
}

// SyncTenant asks a tenant's workflow to sync now.
func (c *Control) SyncTenant(ctx context.Context, tenantID string) (store.Customer, error) {
	cu, err := c.Store.GetCustomerByTenant(ctx, tenantID)
	if err != nil {
		return cu, err
	}
	return cu, c.signalTenant(ctx, cu, func(id string) error {
		return workflows.SignalSync.Send(ctx, c.Temporal, id, struct{}{})
	})
}

func (c *Control) signalTenant(ctx context.Context, cu store.Customer, send func(workflowID string) error) error {
	if cu.PartnerID == "" {
		return nil
	}
	return workflows.IgnoreNotFound(send(workflows.TenantWorkflowID(cu.PartnerID, cu.TenantID)))
}

// Disconnect forgets the partner's tokens; its workflow pauses every tenant
// until the partner is authorised again.
func (c *Control) Disconnect(ctx context.Context, partnerID string) error {
	if _, err := c.Store.GetPartner(ctx, partnerID); err != nil {
		return err
	}
	if err := c.Store.Disconnect(ctx, partnerID); err != nil {
		return err
	}
	return workflows.SignalPartner(ctx, c.Temporal, c.TaskQueue, partnerID, workflows.SignalDisconnected, struct{}{})
}

// ConsentURL creates a single-use admin-consent link for a tenant.
func (c *Control) ConsentURL(ctx context.Context, auth *microsoft.Auth, tenantID, publicURL string) (string, store.Customer, error) {
	cu, err := c.Store.GetCustomerByTenant(ctx, tenantID)
	if err != nil {
		return "", cu, err
	}
	if cu.PartnerID == "" {
		return "", cu, errors.New("customer " + cu.Name + " is not linked to a partner yet: run `cspsync sync` first")
	}
	state := microsoft.RandomToken()
	redirect := strings.TrimRight(publicURL, "/") + config.ConsentCallbackPath
	if err := c.Store.CreateAuthRequest(ctx, store.AuthRequest{State: state, PartnerID: cu.PartnerID, Kind: "consent",
		TenantID: cu.TenantID, RedirectURI: redirect, TTL: 7 * 24 * time.Hour}); err != nil {
		return "", cu, err
	}
	u, err := auth.AdminConsentURL(ctx, cu.PartnerID, cu.TenantID, redirect, state)
	return u, cu, err
}
