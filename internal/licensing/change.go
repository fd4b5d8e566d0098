package licensing

import "fmt"

// Manager is the managed_by marker cspsync records for a customer whose licences it manages.
const Manager = "cspsync"

// ChangeAction is what a licence change does to a user's licence.
type ChangeAction string

const (
	Assign ChangeAction = "assign"
	Remove ChangeAction = "remove"
)

// ManageRefusal says why cspsync may not start managing a customer's licences: another
// integration is recorded as managing them, and two managers writing the same assignments
// undo each other's work.
func ManageRefusal(customer, managedBy string) error {
	if managedBy == "" || managedBy == Manager {
		return nil
	}
	return fmt.Errorf("customer %s's licences are recorded as managed by %s: two managers must never both write. Stop managing them there, then clear the record with `cspsync licences manage --customer <id> off` and turn management on again", customer, managedBy)
}

// ChangeFacts are what a requested licence change is judged on: the PSA's records and what
// Graph said of the user just before. They are read outside the workflow and handed to its
// Update, whose validator decides with ChangeRefusal alone.
type ChangeFacts struct {
	Action        ChangeAction `json:"action"`
	Customer      string       `json:"customer"`
	Managed       bool         `json:"managed"`
	ManagedBy     string       `json:"managed_by"`
	User          string       `json:"user"`
	UserActive    bool         `json:"user_active"`
	UserInGraph   bool         `json:"user_in_graph"`
	Sku           string       `json:"sku"`
	SkuHeld       bool         `json:"sku_held"` // the customer has a current licence row for the SKU
	Paid          int          `json:"paid"`
	Assigned      int          `json:"assigned"`
	UsageLocation string       `json:"usage_location"`
	UserHoldsSku  bool         `json:"user_holds_sku"`
	Running       bool         `json:"running"` // the same change is already running for the user
}

// ChangeRefusal says why a licence change must not start, with the fix; nil lets it start.
func ChangeRefusal(f ChangeFacts) error {
	switch {
	case f.Action != Assign && f.Action != Remove:
		return fmt.Errorf("licence change %q: the action is assign or remove", f.Action)
	case !f.Managed && f.ManagedBy != "" && f.ManagedBy != Manager:
		return fmt.Errorf("customer %s's licences are managed by %s, not cspsync: change them there", f.Customer, f.ManagedBy)
	case !f.Managed:
		return fmt.Errorf("customer %s's licences are not managed by cspsync: turn it on with `cspsync licences manage --customer <id> on`", f.Customer)
	case !f.UserActive:
		return fmt.Errorf("user %s is inactive in the PSA: licences are changed only for active users (a deleted or disabled user comes back at the next users round once restored)", f.User)
	case !f.UserInGraph:
		return fmt.Errorf("user %s is no longer in the customer's tenant: nothing to change; the next users round inactivates him", f.User)
	case !f.SkuHeld:
		return fmt.Errorf("customer %s holds no licence %s: choose one `cspsync licences list` shows for it, or run `cspsync licences import --tenant <tenant>` if it was just bought", f.Customer, f.Sku)
	case f.Running:
		return fmt.Errorf("the same change (%s %s for %s) is already running: wait for it to finish (`cspsync licences changes`)", f.Action, f.Sku, f.User)
	case f.Action == Remove && !f.UserHoldsSku:
		return fmt.Errorf("user %s does not hold %s: nothing to remove", f.User, f.Sku)
	case f.Action == Remove:
		return nil
	case f.UserHoldsSku:
		return fmt.Errorf("user %s already holds %s: nothing to assign", f.User, f.Sku)
	case f.Paid-f.Assigned <= 0:
		return fmt.Errorf("customer %s has no free seat of %s (%d paid, %d assigned): buy more seats in Partner Center or remove the licence from another user, then run `cspsync licences import --tenant <tenant>`", f.Customer, f.Sku, f.Paid, f.Assigned)
	case f.UsageLocation == "":
		return fmt.Errorf("user %s has no usage location, which Microsoft requires before assigning a licence: set it in the Microsoft 365 admin center (Users > the user > Account > Usage location)", f.User)
	}
	return nil
}
