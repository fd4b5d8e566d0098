package sim

import (
	"slices"
	"strings"
)

// SetAssignedLicences replaces a live user's assigned SKUs, as an administrator would in the
// admin centre; users/delta then reports his assignedLicenses changed.
func (s *Server) SetAssignedLicences(tenantID, userID string, skuIDs []string) error {
	return s.changeUser(tenantID, userID, func(_ *org, u *dirUser) error {
		u.AssignedSkuIDs = slices.Clone(skuIDs)
		for i := range u.AssignedSkuIDs {
			u.AssignedSkuIDs[i] = strings.ToLower(u.AssignedSkuIDs[i])
		}
		return nil
	}, false)
}
