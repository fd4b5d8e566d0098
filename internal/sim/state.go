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
	// Licence changes and settings (licences.go), by tenant id.
	Licences          map[string]*licenceState `json:"licences,omitempty"`
	MissingGDAPRole   map[string]bool          `json:"missingGdapRole,omitempty"`
	MembershipRefused *bool                    `json:"membershipRefused,omitempty"`
}

type tenantChange struct {
	Version int64                 `json:"version"`
	Users   map[string]userChange `json:"users"`
}

type userChange struct {
	Version        int64    `json:"version"`
	AssignedSkuIDs []string `json:"assignedSkuIds"`
	Deleted        bool     `json:"deleted,omitempty"`
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
		for _, u := range o.users {
			if c, ok := tc.Users[u.ID]; ok {
				u.version, u.AssignedSkuIDs, u.deleted = c.Version, c.AssignedSkuIDs, c.Deleted
			}
		}
	}
}

// recordUser notes a user's new state and bumps the tenant version (caller holds Server.mu).
func (st *persistedState) recordUser(o *org, u *dirUser) {
	o.version++
	u.version = o.version
	if st.Tenants == nil {
		st.Tenants = map[string]*tenantChange{}
	}
	tc := st.Tenants[o.ID]
	if tc == nil {
		tc = &tenantChange{Users: map[string]userChange{}}
		st.Tenants[o.ID] = tc
	}
	tc.Version = o.version
	tc.Users[u.ID] = userChange{Version: u.version, AssignedSkuIDs: u.AssignedSkuIDs, Deleted: u.deleted}
}
