package sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	keyFile   = "signing.key"
	stateFile = "state.json"
)

// persistedState is everything that changes at runtime and must survive a restart: consent
// decisions, revocations, expired secrets and Graph-visible directory changes. Keys are ids,
// so the same state directory can be reused with a regenerated (identical) scenario.
type persistedState struct {
	Consent         map[string]bool          `json:"consent,omitempty"` // tenant id → consent override
	ExpiredSecrets  map[string]bool          `json:"expiredSecrets,omitempty"`
	AddedSecrets    map[string][]string      `json:"addedSecrets,omitempty"`
	TokensValidFrom time.Time                `json:"tokensValidFrom,omitzero"`
	Tenants         map[string]*tenantChange `json:"tenants,omitempty"`
	// AccessTokensValidFrom makes Graph refuse access tokens issued before it as expired.
	AccessTokensValidFrom time.Time `json:"accessTokensValidFrom,omitzero"`
	// GraphBudgets overrides the resource units per 10 seconds an app gets in a tenant.
	GraphBudgets map[string]int `json:"graphBudgets,omitempty"`
	// Licence changes and settings (licences.go), by tenant id.
	Licences          map[string]*licenceState `json:"licences,omitempty"`
	MissingGDAPRole   map[string]bool          `json:"missingGdapRole,omitempty"`
	MembershipRefused *bool                    `json:"membershipRefused,omitempty"`
	// RemovedCustomers are the customers Partner Center no longer lists (relationships.go).
	RemovedCustomers map[string]bool `json:"removedCustomers,omitempty"`
	// GDAP holds the GDAP relationship statuses set at runtime, by tenant id.
	GDAP map[string]gdapChange `json:"gdap,omitempty"`
}

type tenantChange struct {
	Version int64                 `json:"version"`
	Users   map[string]userChange `json:"users"`
	// DeltaTokensValidFrom makes delta and skip tokens issued before it unknown (sync reset).
	DeltaTokensValidFrom time.Time `json:"deltaTokensValidFrom,omitzero"`
	// Groups created and memberships changed at runtime (groups.go), in order.
	Groups  []createdGroup     `json:"groups,omitempty"`
	Members []memberEntryState `json:"members,omitempty"`
}

// userChange is a user's state after its last change: the whole user, so that creations and
// edits of any property survive a restart.
type userChange struct {
	Version int64       `json:"version"`
	Created int64       `json:"created,omitempty"` // version that created the user at runtime
	User    *TenantUser `json:"user,omitempty"`
	// AssignedSkuIDs is how state files before whole-user records kept licence changes.
	AssignedSkuIDs []string `json:"assignedSkuIds,omitempty"`
	Deleted        bool     `json:"deleted,omitempty"`
	Purged         bool     `json:"purged,omitempty"`
	// Changed is the version of each property's last change, by name ("*": every property).
	// Always written, even empty: state files from before it lack it, and then every property
	// counts as changed at Version.
	Changed map[string]int64 `json:"changed"`
}

// loadOrCreateKey returns the MAC key behind every token the simulator issues.
func loadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, keyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("signing key %s is corrupt (delete it to start afresh)", path)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

func loadState(dir string) (persistedState, error) {
	var st persistedState
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("state file %s is corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

func (st persistedState) save(dir string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), data, 0o600)
}

// apply replays recorded directory changes onto a freshly built directory.
func (st persistedState) apply(d *directory) {
	for tid, tc := range st.Tenants {
		o := d.byID[tid]
		if o == nil {
			continue // tenant no longer in the scenario
		}
		o.version = tc.Version
		var created []userChange
		for _, c := range tc.Users {
			if c.Created > 0 && c.User != nil {
				created = append(created, c)
			}
		}
		slices.SortFunc(created, func(a, b userChange) int { return cmpInt(a.Created, b.Created) })
		for _, c := range created {
			if o.byID[c.User.ID] == nil {
				o.add(&dirUser{TenantUser: cloneUser(*c.User), created: c.Created})
			}
		}
		for _, u := range o.users {
			c, ok := tc.Users[u.ID]
			if !ok {
				continue
			}
			if u.alive() {
				o.live--
				delete(o.byUPN, strings.ToLower(u.UserPrincipalName))
			}
			if c.User != nil {
				u.TenantUser = cloneUser(*c.User)
			} else {
				u.AssignedSkuIDs = c.AssignedSkuIDs
			}
			u.version, u.deleted, u.purged = c.Version, c.Deleted, c.Purged
			u.changed = nil
			if c.Changed == nil {
				u.markChanged(allProps, c.Version)
			}
			for name, v := range c.Changed {
				if name == "*" {
					u.markChanged(allProps, v)
				} else if i, ok := userPropIndex[strings.ToLower(name)]; ok {
					u.markChanged(uint8(i), v)
				}
			}
			if u.alive() {
				o.live++
				o.byUPN[strings.ToLower(u.UserPrincipalName)] = u
			}
			if u.purged {
				delete(o.byID, u.ID)
			}
			if u.version > 0 {
				o.changes = append(o.changes, userVersion{u.version, u})
			}
		}
		slices.SortFunc(o.changes, func(a, b userVersion) int { return cmpInt(a.version, b.version) })
		o.applyGroups(tc)
	}
}

// recordUser notes a change to u, which the caller has already made (before is u's snapshot
// from before it), and remembers the user's new state for a restart (caller holds Server.mu).
func (st *persistedState) recordUser(o *org, u *dirUser, before dirUser) {
	o.touch(u, &before)
	tc := st.tenant(o)
	tc.Version = o.version
	cp := cloneUser(u.TenantUser)
	changed := make(map[string]int64, len(u.changed))
	for _, c := range u.changed {
		if c.prop == allProps {
			changed["*"] = c.version
		} else {
			changed[userProps[c.prop].name] = c.version
		}
	}
	tc.Users[u.ID] = userChange{Version: u.version, Created: u.created, User: &cp, Deleted: u.deleted, Purged: u.purged, Changed: changed}
}

func (st *persistedState) tenant(o *org) *tenantChange {
	if st.Tenants == nil {
		st.Tenants = map[string]*tenantChange{}
	}
	tc := st.Tenants[o.ID]
	if tc == nil {
		tc = &tenantChange{Users: map[string]userChange{}}
		st.Tenants[o.ID] = tc
	}
	return tc
}
