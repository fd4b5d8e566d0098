package microsoft

import (
	"context"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/tenantrelationships"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/parallel"
	"github.com/cspsync/cspsync/internal/text"
)

// GDAPScope is the delegated Graph permission that reads the partner's GDAP
// relationships and their access assignments (least privileged, as the
// v1.0 reference lists it). The Partner Center app asks for it with the
// partner admin's refresh token, so the app needs it consented.
const GDAPScope = "https://graph.microsoft.com/DelegatedAdminRelationship.Read.All"

// gdapPageSize is the most relationships or access assignments Graph
// returns a page ("$top supports up to 300 objects").
const gdapPageSize = 300

// gdapFanOut is how many relationships' access assignments are read at once:
// one request each, as Graph offers no bulk read. Each costs one resource
// unit of the partner tenant's identity budget (3,500 to 8,000 per 10 s per
// app and tenant): at 100 ms a request, 16 at a time spend 1,600 per 10 s,
// under half the smallest. A burst over the budget is answered 429 with
// Retry-After, which the SDK's retry handler waits for.
const gdapFanOut = 16

// GDAPRelationships reads every GDAP relationship of the partner, and the
// access assignments of the active ones, through Microsoft Graph as the
// partner's signed-in admin. progress is called after each page read.
func (a *Auth) GDAPRelationships(ctx context.Context, p domain.Credentials, progress func()) ([]domain.GDAPRelationship, error) {
	gc, _, err := a.graphAs(p, func(ctx context.Context, _ string) (string, time.Time, error) {
		return a.partnerToken(ctx, p, GDAPScope)
	})
	if err != nil {
		return nil, err
	}
	top := int32(gdapPageSize)
	first, err := gc.TenantRelationships().DelegatedAdminRelationships().Get(ctx,
		&tenantrelationships.DelegatedAdminRelationshipsRequestBuilderGetRequestConfiguration{
			QueryParameters: &tenantrelationships.DelegatedAdminRelationshipsRequestBuilderGetQueryParameters{Top: &top}})
	if err != nil {
		return nil, ClassifyGraph(err)
	}
	var rels []domain.GDAPRelationship
	err = iterate(ctx, first, gc.GetAdapter(), models.CreateDelegatedAdminRelationshipCollectionResponseFromDiscriminatorValue, progress,
		func(r models.DelegatedAdminRelationshipable) {
			rels = append(rels, gdapRelationship(r))
		})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	err = parallel.Each(ctx, indexes(rels), gdapFanOut, func(ctx context.Context, i int) error {
		if rels[i].Status != domain.GDAPActive {
			return nil // only an active relationship's assignments give roles
		}
		assigned, err := a.assignedRoles(ctx, gc, rels[i].ID, progress)
		mu.Lock()
		defer mu.Unlock()
		rels[i].Assigned = assigned
		return err
	})
	return rels, err
}

// assignedRoles are the roles a relationship's active access assignments give.
func (a *Auth) assignedRoles(ctx context.Context, gc *msgraphsdk.GraphServiceClient, relationshipID string, progress func()) ([]string, error) {
	top := int32(gdapPageSize)
	first, err := gc.TenantRelationships().DelegatedAdminRelationships().ByDelegatedAdminRelationshipId(relationshipID).AccessAssignments().Get(ctx,
		&tenantrelationships.DelegatedAdminRelationshipsItemAccessAssignmentsRequestBuilderGetRequestConfiguration{
			QueryParameters: &tenantrelationships.DelegatedAdminRelationshipsItemAccessAssignmentsRequestBuilderGetQueryParameters{Top: &top}})
	if err != nil {
		return nil, ClassifyGraph(err)
	}
	var roles []string
	err = iterate(ctx, first, gc.GetAdapter(), models.CreateDelegatedAdminAccessAssignmentCollectionResponseFromDiscriminatorValue, progress,
		func(as models.DelegatedAdminAccessAssignmentable) {
			if s := as.GetStatus(); s == nil || *s != models.ACTIVE_DELEGATEDADMINACCESSASSIGNMENTSTATUS {
				return
			}
			roles = append(roles, roleIDs(as.GetAccessDetails())...)
		})
	return roles, err
}

// iterate hands each item of a collection and its next pages to each,
// following @odata.nextLink as the SDK's page iterator does.
func iterate[T any](ctx context.Context, first any, adapter abs.RequestAdapter, parse serialization.ParsableFactory, progress func(), each func(T)) error {
	if progress != nil {
		progress()
	}
	it, err := msgraphcore.NewPageIterator[T](first, adapter, parse)
	if err != nil {
		return err
	}
	n := 0
	err = it.Iterate(ctx, func(item T) bool {
		each(item)
		if n++; n%gdapPageSize == 0 && progress != nil {
			progress()
		}
		return true
	})
	if err != nil {
		return ClassifyGraph(err)
	}
	return nil
}

func gdapRelationship(r models.DelegatedAdminRelationshipable) domain.GDAPRelationship {
	out := domain.GDAPRelationship{ID: deref(r.GetId()), Name: text.Clean(deref(r.GetDisplayName()), text.MaxName),
		Roles: roleIDs(r.GetAccessDetails())}
	if s := r.GetStatus(); s != nil {
		out.Status = s.String()
	}
	if c := r.GetCustomer(); c != nil {
		out.CustomerTenantID = text.Clean(deref(c.GetTenantId()), text.MaxCode)
	}
	if e := r.GetEndDateTime(); e != nil {
		t := e.UTC()
		out.EndAt = &t
	}
	return out
}

func roleIDs(d models.DelegatedAdminAccessDetailsable) []string {
	if d == nil {
		return nil
	}
	var ids []string
	for _, r := range d.GetUnifiedRoles() {
		if id := deref(r.GetRoleDefinitionId()); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func indexes[T any](xs []T) []int {
	out := make([]int, len(xs))
	for i := range out {
		out[i] = i
	}
	return out
}
