package sim

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// GET /users/{id | userPrincipalName}/memberOf: the groups and directory roles a user is a
// direct member of, as directoryObjects told apart by @odata.type.

var (
	groupProps = []string{"id", "deletedDateTime", "createdDateTime", "description", "displayName",
		"groupTypes", "mail", "mailEnabled", "mailNickname", "securityEnabled"}
	roleProps = []string{"id", "deletedDateTime", "description", "displayName", "roleTemplateId"}
)

func (m memberObject) json() map[string]any {
	if r := m.role; r != nil {
		return map[string]any{
			"@odata.type": "#microsoft.graph.directoryRole", "id": r.ID, "deletedDateTime": nil,
			"description": r.Description, "displayName": r.DisplayName, "roleTemplateId": r.RoleTemplateID,
		}
	}
	g := m.group
	types := []string{}
	if g.Unified {
		types = append(types, "Unified")
	}
	return map[string]any{
		"@odata.type": "#microsoft.graph.group", "id": g.ID, "deletedDateTime": nil,
		"createdDateTime": g.CreatedDateTime.UTC().Format(time.RFC3339), "description": nullable(g.Description),
		"displayName": g.DisplayName, "groupTypes": types, "mail": nullable(g.Mail),
		"mailEnabled": g.MailEnabled, "mailNickname": g.MailNickname, "securityEnabled": g.SecurityEnabled,
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) graphMemberOf(w http.ResponseWriter, r *http.Request, call graphCall) {
	var sel []string
	if raw := r.URL.Query().Get("$select"); raw != "" {
		for _, p := range strings.Split(raw, ",") {
			p = strings.TrimSpace(p)
			i := slices.IndexFunc(append(slices.Clone(groupProps), roleProps...), func(k string) bool { return strings.EqualFold(k, p) })
			if i < 0 {
				s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.directoryObject'.", p)
				return
			}
			sel = append(sel, append(slices.Clone(groupProps), roleProps...)[i])
		}
	}
	s.mu.Lock()
	u := call.org.user(r.PathValue("user"))
	var items []map[string]any
	if u != nil {
		for _, id := range u.MemberOf {
			obj, ok := call.org.groups[id]
			if !ok {
				continue
			}
			m := obj.json()
			if sel != nil {
				picked := map[string]any{"@odata.type": m["@odata.type"]}
				for _, k := range sel {
					if v, ok := m[k]; ok {
						picked[k] = v
					}
				}
				m = picked
			}
			items = append(items, m)
		}
	}
	s.mu.Unlock()
	if u == nil {
		s.writeUserNotFound(w, r.PathValue("user"))
		return
	}
	context := "directoryObjects"
	if sel != nil {
		context += "(" + strings.Join(sel, ",") + ")"
	}
	s.writePage(w, r, call, "users/"+u.ID+"/memberOf", context, items)
}
