package licensing

import (
	"regexp"
	"strings"
	"testing"
)

func TestEmbeddedTableIsWellFormed(t *testing.T) {
	guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	if len(byGUID) < 100 {
		t.Fatalf("only %d products", len(byGUID))
	}
	for id, name := range byGUID {
		if !guid.MatchString(id) || strings.TrimSpace(name) != name || name == "" {
			t.Errorf("row %q → %q", id, name)
		}
	}
	if !strings.Contains(productsCSV, "licensing-service-plan-reference.md") {
		t.Error("the table does not name its source")
	}
}

func TestLoadRejectsBadTables(t *testing.T) {
	for name, data := range map[string]string{
		"no header":      "6fd2c87f-b296-42f0-b197-1e91e994b900,ENTERPRISEPACK,Office 365 E3\n",
		"short row":      "guid,string_id,product_name\n6fd2c87f-b296-42f0-b197-1e91e994b900,ENTERPRISEPACK\n",
		"duplicate GUID": "guid,string_id,product_name\na,X,One\na,Y,Two\n",
	} {
		if _, _, err := load(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
