package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cspsync/cspsync/internal/domain"
)

// PartnerConfig is what `cspsync connect` stores. Secrets arrive in plain
// text and are sealed before they reach the database.
type PartnerConfig struct {
	ID                  string
	DisplayName         string
	PartnerTenantID     string
	PCClientID          string
	PCClientSecret      string
	GraphClientID       string
	GraphClientSecret   string
	AuthorityURL        string
	PartnerCenterURL    string
	GraphURL            string
	DefaultRelationship domain.Relationship
	// LicenceSource is how licences are imported (default subscribed SKUs).
	LicenceSource domain.LicenceSource
	// TopLevel names the top level newly imported customers join ("" for none).
	TopLevel string
	// SSOAllowedTenants keeps the imported tenants on the self-service
	// portal's allowed-tenants list.
	SSOAllowedTenants bool
}

// Partner is a stored partner without its secrets; PartnerSecrets opens those.
type Partner struct {
	ID                  string
	DisplayName         string
	PartnerTenantID     string
	PCClientID          string
	GraphClientID       string
	AuthorityURL        string
	PartnerCenterURL    string
	GraphURL            string
	DefaultRelationship domain.Relationship
	LicenceSource       domain.LicenceSource
	TopLevel            string
	SSOAllowedTenants   bool
	AuthState           domain.AuthState
	HomeAccountID       string
	AuthorisedAt        *time.Time
	LastDiscoveryAt     *time.Time
}

func secretAAD(partnerID, column string) string { return "partners/" + partnerID + "/" + column }

// UpsertPartner stores a partner's configuration. Reconnecting an existing
// partner replaces its configuration and sends it back to AuthPending
// only when the Partner Center app changed (its tokens are then worthless).
func (s *Store) UpsertPartner(ctx context.Context, c PartnerConfig) error {
	pcSecret := s.box.Seal([]byte(c.PCClientSecret), secretAAD(c.ID, "pc_client_secret"))
	graphSecret := s.box.Seal([]byte(c.GraphClientSecret), secretAAD(c.ID, "graph_client_secret"))
	if c.LicenceSource == "" {
		c.LicenceSource = domain.FromSubscribedSkus
	}
	topLevel, err := s.ensureTopLevel(ctx, s.pool, c.TopLevel)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO partners (id, display_name, partner_tenant_id, pc_client_id, pc_client_secret,
			graph_client_id, graph_client_secret, authority_url, partner_center_url, graph_url, default_relationship,
			licence_source, default_top_level_id, sso_allowed_tenants)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, $15)
		ON CONFLICT (id) DO UPDATE SET
			display_name = EXCLUDED.display_name,
			partner_tenant_id = EXCLUDED.partner_tenant_id,
			pc_client_id = EXCLUDED.pc_client_id,
			pc_client_secret = EXCLUDED.pc_client_secret,
			graph_client_id = EXCLUDED.graph_client_id,
			graph_client_secret = EXCLUDED.graph_client_secret,
			authority_url = EXCLUDED.authority_url,
			partner_center_url = EXCLUDED.partner_center_url,
			graph_url = EXCLUDED.graph_url,
			default_relationship = EXCLUDED.default_relationship,
			licence_source = EXCLUDED.licence_source,
			licence_source_refused_at = CASE WHEN partners.licence_source = EXCLUDED.licence_source
				THEN partners.licence_source_refused_at END,
			default_top_level_id = EXCLUDED.default_top_level_id,
			sso_allowed_tenants = EXCLUDED.sso_allowed_tenants,
			auth_state = CASE WHEN partners.pc_client_id = EXCLUDED.pc_client_id
				AND partners.partner_tenant_id = EXCLUDED.partner_tenant_id
				AND partners.authority_url = EXCLUDED.authority_url
				THEN partners.auth_state ELSE $12 END,
			updated_at = now()`,
		c.ID, c.DisplayName, c.PartnerTenantID, c.PCClientID, pcSecret,
		c.GraphClientID, graphSecret, c.AuthorityURL, c.PartnerCenterURL, c.GraphURL, c.DefaultRelationship, domain.AuthPending,
		c.LicenceSource, topLevel, c.SSOAllowedTenants)
	if err != nil {
		return fmt.Errorf("storing partner %q: %w", c.ID, err)
	}
	return nil
}

const partnerColumns = `id, display_name, partner_tenant_id, pc_client_id, graph_client_id, authority_url,
	partner_center_url, graph_url, default_relationship, licence_source,
	coalesce((SELECT name FROM top_levels WHERE id = default_top_level_id), ''), sso_allowed_tenants,
	auth_state, coalesce(home_account_id, ''), authorised_at, last_discovery_at`

func scanPartner(row pgx.Row) (Partner, error) {
	var p Partner
	err := row.Scan(&p.ID, &p.DisplayName, &p.PartnerTenantID, &p.PCClientID, &p.GraphClientID, &p.AuthorityURL,
		&p.PartnerCenterURL, &p.GraphURL, &p.DefaultRelationship, &p.LicenceSource, &p.TopLevel, &p.SSOAllowedTenants,
		&p.AuthState, &p.HomeAccountID,
		&p.AuthorisedAt, &p.LastDiscoveryAt)
	return p, err
}

// GetPartner returns one partner, or ErrNotFound.
func (s *Store) GetPartner(ctx context.Context, id string) (Partner, error) {
	p, err := scanPartner(s.pool.QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("partner %q: %w (connect it first with `cspsync connect`)", id, ErrNotFound)
	}
	return p, err
}

// ListPartners returns every partner by id.
func (s *Store) ListPartners(ctx context.Context) ([]Partner, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+partnerColumns+` FROM partners ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Partner, error) { return scanPartner(r) })
}

// ErrSecretsForgotten means a partner's secrets were dropped after a key loss.
var ErrSecretsForgotten = errors.New("its client secrets were sealed with a lost encryption key and were dropped: run `cspsync connect` for it with the apps' secrets and sign in again")

// Credentials reads a partner's configuration and opens its secrets in one
// query: what the Microsoft clients need for every call of an activity.
func (s *Store) Credentials(ctx context.Context, id string) (domain.Credentials, error) {
	credentialReads.Add(1)
	var c domain.Credentials
	var pc, graph []byte
	err := s.pool.QueryRow(ctx, `SELECT id, authority_url, partner_tenant_id, partner_center_url, graph_url,
			pc_client_id, pc_client_secret, graph_client_id, graph_client_secret, coalesce(home_account_id, '')
		FROM partners WHERE id = $1`, id).Scan(&c.PartnerID, &c.AuthorityURL, &c.PartnerTenantID, &c.PartnerCenterURL,
		&c.GraphURL, &c.PCClientID, &pc, &c.GraphClientID, &graph, &c.HomeAccountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("partner %q: %w (connect it first with `cspsync connect`)", id, ErrNotFound)
	}
	if err != nil {
		return c, err
	}
	if len(pc) == 0 || len(graph) == 0 {
		return c, fmt.Errorf("partner %q: %w", id, ErrSecretsForgotten)
	}
	pcPlain, err := s.box.Open(pc, secretAAD(id, "pc_client_secret"))
	if err != nil {
		return c, err
	}
	graphPlain, err := s.box.Open(graph, secretAAD(id, "graph_client_secret"))
	if err != nil {
		return c, err
	}
	c.PCClientSecret, c.GraphSecret = string(pcPlain), string(graphPlain)
	return c, nil
}

// SetPartnerAuthorised records a successful authorisation and its MSAL account.
func (s *Store) SetPartnerAuthorised(ctx context.Context, id, homeAccountID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE partners SET auth_state = $3, home_account_id = $2,
		authorised_at = now(), updated_at = now() WHERE id = $1`, id, homeAccountID, domain.AuthAuthorised)
	return err
}

// SetPartnerAuthState moves a partner to pending or needs_reauthorisation.
func (s *Store) SetPartnerAuthState(ctx context.Context, id string, state domain.AuthState) error {
	_, err := s.pool.Exec(ctx, `UPDATE partners SET auth_state = $2, updated_at = now() WHERE id = $1`, id, state)
	return err
}

// Disconnect forgets a partner's tokens and marks it pending; its
// configuration and customers stay.
func (s *Store) Disconnect(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM token_caches WHERE partner_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE partners SET auth_state = $2, home_account_id = NULL, tokens_revoked = true,
			updated_at = now() WHERE id = $1`, id, domain.AuthPending)
		return err
	})
}
