package workflows

import (
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/internal/config"
)

// Search attributes: ids and states only, never secrets or personal data
// (Temporal stores them in plain text).
var (
	SearchPartnerID    = temporal.NewSearchAttributeKeyKeyword(config.SearchPartnerID)
	SearchTenantID     = temporal.NewSearchAttributeKeyKeyword(config.SearchTenantID)
	SearchCustomerName = temporal.NewSearchAttributeKeyKeyword(config.SearchCustomerName)
	SearchRelationship = temporal.NewSearchAttributeKeyKeyword(config.SearchRelationship)
	SearchConsentState = temporal.NewSearchAttributeKeyKeyword(config.SearchConsentState)
	SearchSyncState    = temporal.NewSearchAttributeKeyKeyword(config.SearchSyncState)
)
