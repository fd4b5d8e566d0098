package microsoft

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"

	"github.com/cspsync/cspsync/internal/domain"
)

// CodeServiceGroupNotFound: a tenant has no group of the service group's name.
const CodeServiceGroupNotFound = "ServiceGroupNotFound"

func init() {
	catalogue[CodeServiceGroupNotFound] = Entry{CodeServiceGroupNotFound,
		"The tenant has no group of the service group's name, so the group rule cannot tell service users from billable ones. Its users keep the service state they had (making them all service users would drop the customer's billing to zero).",
		"Create the group in the tenant's Entra ID with exactly that name and add the billable users to it, or correct the name with `cspsync mappings settings --service-group NAME` (`--customer ID` for this customer alone, an empty name for no group rule). The error clears at the first users round that finds the group.",
		domain.NeedsFix}
}

// GroupRef is a group found by name.
type GroupRef struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// GroupsNamed lists the tenant's groups whose displayName is name (GET
// /v1.0/groups?$filter=displayName eq '…'&$select=id,displayName; Graph compares names
// without regard to case). A tenant may have several; none is an empty list.
func (g *GraphUsers) GroupsNamed(ctx context.Context, name string) ([]GroupRef, error) {
	filter := "displayName eq '" + strings.ReplaceAll(name, "'", "''") + "'"
	cfg := &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &filter, Select: []string{"id", "displayName"}},
	}
	var out []GroupRef
	next := ""
	for {
		body, err := g.send(ctx, func() (*abs.RequestInformation, error) {
			if next == "" {
				return g.client.Groups().ToGetRequestInformation(ctx, cfg)
			}
			return groups.NewGroupsRequestBuilder(next, g.client.GetAdapter()).ToGetRequestInformation(ctx, nil)
		})
		if err != nil {
			return nil, err
		}
		var page struct {
			Next  string     `json:"@odata.nextLink"`
			Value []GroupRef `json:"value"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("graph answered a groups page that is not JSON: %w", err)
		}
		for _, r := range page.Value {
			// Graph's eq ignores case; the rule names a group exactly as the operator wrote it
			// but for case, so keep Graph's answer.
			if r.ID != "" {
				out = append(out, r)
			}
		}
		if page.Next == "" {
			return out, nil
		}
		if err := g.checkLink(page.Next); err != nil {
			return nil, err
		}
		next = page.Next
	}
}

// MemberChange is one entry of a group's members@delta: a user who is a member now, or one
// removed (taken out of the group, or deleted).
type MemberChange struct {
	Group   string
	User    string
	Removed bool
}

// GroupsDelta is what one groups/delta round said: the membership changes in order (a large
// group's members come over several pages, merged here), the groups it named, and the link
// for the next round.
type GroupsDelta struct {
	Changes   []MemberChange
	Groups    []string
	DeltaLink string
	Pages     int
}

// MembersDelta reads a groups/delta round of the given groups' memberships (GET
// /v1.0/groups/delta?$select=displayName,members&$filter=id eq '…' or …, at most 50 ids) from
// its start, or from the deltaLink of the previous round (link), following nextLinks to the
// round's deltaLink. Only user members count: members@delta also lists nested groups,
// devices and service principals, which are no PSA users. A link Graph no longer honours
// fails with ErrDeltaExpired: read again from the start.
func (g *GraphUsers) MembersDelta(ctx context.Context, ids []string, link string) (GroupsDelta, error) {
	var out GroupsDelta
	if link == "" {
		if len(ids) == 0 || len(ids) > MaxGroupsDeltaFilter {
			return out, fmt.Errorf("groups delta: %d group ids; give 1 to %d", len(ids), MaxGroupsDeltaFilter)
		}
		quoted := make([]string, len(ids))
		for i, id := range ids {
			quoted[i] = "id eq '" + strings.ReplaceAll(id, "'", "''") + "'"
		}
		filter := strings.Join(quoted, " or ")
		cfg := &groups.DeltaRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.DeltaRequestBuilderGetQueryParameters{Select: []string{"displayName", "members"}, Filter: &filter},
		}
		body, err := g.send(ctx, func() (*abs.RequestInformation, error) {
			return g.client.Groups().Delta().ToGetRequestInformation(ctx, cfg)
		})
		if err != nil {
			return out, err
		}
		if link, err = out.add(body); err != nil || link == "" {
			return out, err
		}
	}
	for out.DeltaLink == "" {
		if err := g.checkLink(link); err != nil {
			return out, err
		}
		body, err := g.send(ctx, func() (*abs.RequestInformation, error) {
			return groups.NewDeltaRequestBuilder(link, g.client.GetAdapter()).ToGetRequestInformation(ctx, nil)
		})
		if err != nil {
			return out, err
		}
		if link, err = out.add(body); err != nil {
			return out, err
		}
	}
	return out, nil
}

// MaxGroupsDeltaFilter is how many objects groups/delta's $filter=id eq … may name.
const MaxGroupsDeltaFilter = 50

// add decodes a groups/delta page into d and returns its nextLink ("" on the last page,
// whose deltaLink d keeps).
func (d *GroupsDelta) add(body []byte) (string, error) {
	var page struct {
		Next  string `json:"@odata.nextLink"`
		Delta string `json:"@odata.deltaLink"`
		Value []struct {
			ID      string `json:"id"`
			Members []struct {
				Type    string          `json:"@odata.type"`
				ID      string          `json:"id"`
				Removed json.RawMessage `json:"@removed"`
			} `json:"members@delta"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return "", fmt.Errorf("graph answered a groups/delta page that is not JSON: %w", err)
	}
	if page.Next == "" && page.Delta == "" {
		return "", fmt.Errorf("graph answered a groups/delta page with neither @odata.nextLink nor @odata.deltaLink")
	}
	d.Pages++
	for _, gr := range page.Value {
		id := strings.ToLower(gr.ID)
		if id == "" {
			continue
		}
		if !slices.Contains(d.Groups, id) {
			d.Groups = append(d.Groups, id)
		}
		for _, m := range gr.Members {
			if m.ID == "" || m.Type != "" && !strings.EqualFold(m.Type, "#microsoft.graph.user") {
				continue
			}
			d.Changes = append(d.Changes, MemberChange{Group: id, User: strings.ToLower(m.ID), Removed: len(m.Removed) > 0 && string(m.Removed) != "null"})
		}
	}
	d.DeltaLink = page.Delta
	return page.Next, nil
}
