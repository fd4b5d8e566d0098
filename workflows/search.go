package workflows

import "go.temporal.io/sdk/temporal"

// Search attributes, registered by the dev setup and the compose file (see
// config.SearchAttributes). Ids and states only: never secrets or personal data.
var (
	SearchPartnerID    = temporal.NewSearchAttributeKeyKeyword("PartnerId")
	SearchTenantID     = temporal.NewSearchAttributeKeyKeyword("TenantId")
	SearchCustomerName = temporal.NewSearchAttributeKeyKeyword("CustomerName")
	SearchRelationship = temporal.NewSearchAttributeKeyKeyword("Relationship")
	SearchConsentState = temporal.NewSearchAttributeKeyKeyword("ConsentState")
	SearchSyncState    = temporal.NewSearchAttributeKeyKeyword("SyncState")
)
