package licensing

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Product is one row of Microsoft's product reference.
type Product struct {
	SkuID      string // lower-case GUID
	PartNumber string // string id, as listed
	Name       string
}

var products = sync.OnceValue(func() []Product {
	r := csv.NewReader(strings.NewReader(productsCSV))
	r.Comment = '#'
	records, _ := r.ReadAll() // load already checked the embedded file at start
	out := make([]Product, 0, len(records))
	for _, rec := range records[1:] {
		out = append(out, Product{SkuID: strings.ToLower(rec[0]), PartNumber: rec[1], Name: rec[2]})
	}
	return out
})

// LookUp finds the products a person means by a SKU GUID, a part number (ENTERPRISEPACK) or
// a product name (Office 365 E3), case-insensitively. A part number or name can stand for
// several SKU GUIDs (Microsoft lists a few twice): all of them are returned. Nothing found is
// an error saying where to find the right spelling.
func LookUp(s string) ([]Product, error) {
	s = strings.TrimSpace(s)
	var out []Product
	for _, p := range products() {
		if strings.EqualFold(p.SkuID, s) || strings.EqualFold(p.PartNumber, s) || strings.EqualFold(p.Name, s) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("licence %q is in neither column of Microsoft's product reference: give a SKU part number (ENTERPRISEPACK) or product name (Office 365 E3) as `cspsync licences report` shows them", s)
	}
	return out, nil
}

// PartNumber returns the part number the reference gives a SKU GUID ("" when it has none).
func PartNumber(skuID string) string {
	i := slices.IndexFunc(products(), func(p Product) bool { return p.SkuID == strings.ToLower(strings.TrimSpace(skuID)) })
	if i < 0 {
		return ""
	}
	return products()[i].PartNumber
}
